// `mixlab sweep`: many proxy runs on a local pool of worker processes (default one per core).
// Each finished run is appended to the runs table at once (atomically); runs whose key
// (mixture + model + steps + batch + seed) is already in the table are skipped, so a sweep that
// crashed or was interrupted resumes with nothing lost and nothing run twice. A failed run (NaN
// loss, an exception) is recorded with status "failed" and its error, and the sweep goes on.

import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { join, dirname } from "node:path";
import { readFrameAsync, type Cell } from "../runs/frame.js";
import { appendRows, runKey, runRow } from "../proxy/runs-io.js";
import type { ProxyConfig } from "../proxy/model.js";
import type { RunResult } from "../proxy/train.js";
import type { BackendName } from "../proxy/backend.js";
import { runQueueSweep, type SweepQueueOptions } from "./queue/coordinator.js";

/** Options of a sweep. */
export interface SweepOptions {
  readonly mixtures: readonly Record<string, number>[];
  readonly domains: readonly string[];
  readonly config: ProxyConfig;
  readonly model: string;
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly train: string;
  readonly heldout: string;
  readonly runs: string;
  readonly workers?: number;
  /** Peak learning rate (default: the trainer's, 3e-3). */
  readonly lr?: number;
  /** Mixtures trained together per step in one ensemble (default 1). */
  readonly ensemble?: number;
  readonly backend: BackendName;
  readonly log: (line: string) => void;
  /** Called after each finished run. */
  readonly afterRun?: (done: number) => void;
  /** Extra columns written with every row (e.g. the demo's `role`). */
  readonly extra?: Readonly<Record<string, Cell>>;
  /** Run through a BullMQ queue on Redis (`mixlab worker`s train) instead of the local pool. */
  readonly queue?: SweepQueueOptions;
}

/** Summary of a sweep. */
export interface SweepSummary {
  readonly total: number;
  readonly skipped: number;
  readonly finished: number;
  readonly failed: number;
  readonly seconds: number;
}

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "worker.js");

/** The runs of a sweep still to do: one per distinct run key not yet in the runs table. */
export async function planSweep(o: Pick<SweepOptions, "mixtures" | "config" | "steps" | "batchSize" | "seed" | "runs" | "log">): Promise<{ queue: { p: Record<string, number>; id: string }[]; skipped: number; done: ReadonlySet<string> }> {
  const keys = o.mixtures.map((p) => runKey(p, o.config, o.steps, o.batchSize, o.seed));
  const done = new Set<string>();
  if (existsSync(o.runs)) {
    const f = await readFrameAsync(o.runs);
    for (const id of f.cells.get("run_id") ?? []) if (id !== null) done.add(String(id));
  }
  const queue = o.mixtures.map((p, i) => ({ p, id: keys[i]! })).filter((j, i) => !done.has(j.id) && keys.indexOf(j.id) === i);
  const skipped = o.mixtures.length - queue.length;
  if (skipped) o.log(`sweep: ${skipped} of ${o.mixtures.length} runs already in ${o.runs}; ${queue.length} to go`);
  return { queue, skipped, done };
}

/** The sweep's progress line (local pool and queue alike). */
export function progressLine(s: { finished: number; failed: number; total: number; seconds: number; lastMeanLoss?: number }): string {
  const n = s.finished + s.failed;
  const eta = n ? (s.seconds / n) * (s.total - n) : NaN;
  const bar = "█".repeat(Math.round((20 * n) / Math.max(1, s.total))).padEnd(20, "·");
  return `sweep [${bar}] ${n}/${s.total}${s.failed ? ` (${s.failed} failed)` : ""}  ${s.seconds.toFixed(0)} s, ETA ${Number.isFinite(eta) ? eta.toFixed(0) : "?"} s${s.lastMeanLoss !== undefined ? `, last mean loss ${s.lastMeanLoss.toFixed(4)}` : ""}`;
}

/** The row of a failed run: its mixture, seed, model, status "failed" and the error. */
export function failedRow(o: Pick<SweepOptions, "domains" | "seed" | "model" | "extra">, id: string, p: Record<string, number>, error: string): Map<string, Cell> {
  return new Map<string, Cell>([["run_id", id], ...o.domains.map((d) => [`w.${d}`, p[d] ?? 0] as [string, Cell]), ["seed", o.seed], ["model", o.model], ["status", "failed"], ["error", error], ...Object.entries(o.extra ?? {})]);
}

export async function runSweep(o: SweepOptions): Promise<SweepSummary> {
  if (o.queue) return runQueueSweep({ ...o, queue: o.queue });
  const t0 = performance.now();
  const { queue, skipped } = await planSweep(o);
  // Chunks of `ensemble` mixtures, each trained as one ensemble by a worker.
  const size = Math.max(1, o.ensemble ?? 1);
  const chunks: { p: Record<string, number>; id: string }[][] = [];
  for (let i = 0; i < queue.length; i += size) chunks.push(queue.slice(i, i + size));
  const workers = Math.max(1, Math.min(o.workers ?? cpus().length, chunks.length));
  let finished = 0;
  let failed = 0;
  let next = 0;
  const recent: number[] = [];
  let writing = Promise.resolve();
  const progress = (): void => {
    o.log(progressLine({ finished, failed, total: queue.length, seconds: (performance.now() - t0) / 1000, ...(recent.length ? { lastMeanLoss: recent[recent.length - 1]! } : {}) }));
  };
  const startWorker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child: ChildProcess = fork(WORKER, [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
      let current: { p: Record<string, number>; id: string }[] | null = null;
      const give = (): void => {
        if (next >= chunks.length) {
          child.kill();
          resolve();
          return;
        }
        current = chunks[next++]!;
        child.send({ id: current[0]!.id, members: current.map((j) => ({ id: j.id, proportions: j.p })), config: o.config, steps: o.steps, batchSize: o.batchSize, seed: o.seed, train: o.train, heldout: o.heldout, backend: o.backend, ...(o.lr !== undefined ? { lr: o.lr } : {}) });
      };
      child.on("message", (msg: { ready?: boolean; id?: string; ok?: boolean; results?: RunResult[]; error?: string }) => {
        if (msg.ready) return give();
        const rows: Map<string, Cell>[] = current!.map((job, k) => {
          if (msg.ok) {
            const row = runRow(job.id, o.domains, msg.results![k]!, { seed: o.seed, model: o.model, status: "ok", error: null, ...o.extra });
            recent.push(row.get("loss.mean") as number);
            finished++;
            return row;
          }
          failed++;
          return failedRow(o, job.id, job.p, msg.error ?? "unknown error");
        });
        // Appends are serialised so concurrent workers never interleave writes.
        writing = writing.then(() => appendRows(o.runs, rows).then(() => undefined));
        void writing.then(() => {
          progress();
          o.afterRun?.(finished + failed);
          give();
        });
      });
      child.on("exit", (code, signal) => {
        if (current && code !== 0 && signal !== "SIGTERM") reject(new Error(`sweep worker exited with ${code ?? signal} during run ${current.map((j) => j.id).join(", ")}`));
      });
      child.on("error", reject);
    });
  await Promise.all(Array.from({ length: workers }, startWorker));
  await writing;
  return { total: o.mixtures.length, skipped, finished, failed, seconds: (performance.now() - t0) / 1000 };
}
