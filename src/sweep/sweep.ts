// `mixlab sweep`: many proxy runs, resumable and safe beside other sweeps on the same table.
// Three parts, each reusable on its own: the plan (src/sweep/plan.ts: mixtures + settings → keyed
// run specs minus those done), the store (src/runs/store.ts: append under a lock, claims), and the
// local pool (src/sweep/pool.ts). Before any training the runs table is checked (path, format,
// domains). Each run is claimed before training, so a second sweep skips what the first one holds;
// each finished run is appended at once; a failed run (NaN loss, an exception) is recorded with
// status "failed" and its error, and the sweep goes on. An abort stops the workers, keeps every
// finished row, releases the claims and rejects with SweepInterrupted.

import { cpus } from "node:os";
import type { Cell } from "../runs/frame.js";
import { appendRuns, claimRun, clearDeadClaims, readRunsFile, releaseClaim, runIdsOf } from "../runs/store.js";
import type { Claim, Holder } from "../runs/store.js";
import { checkRunsOutput } from "../runs/check.js";
import { failedRunRow, runRow } from "../proxy/runs-io.js";
import type { ProxyConfig } from "../proxy/model.js";
import type { BackendName } from "../proxy/backend.js";
import { otherSettings, planSweep, resolveSettings, type RunSettings, type RunSpec } from "./plan.js";
import { corpusSha256 } from "./corpus-hash.js";
import { runLocalPool, type ChunkOutcome } from "./pool.js";
import type { SweepQueueOptions } from "./queue/coordinator.js";

/** Options of a sweep. */
export interface SweepOptions {
  readonly mixtures: readonly Record<string, number>[];
  /** The corpus's domains (the table's `w.<domain>` columns must be exactly these). */
  readonly domains: readonly string[];
  readonly config: ProxyConfig;
  /** The preset's name, recorded in each row. */
  readonly model: string;
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Train and held-out corpus directories. */
  readonly train: string;
  readonly heldout: string;
  /** The runs table (.csv, .jsonl, .arrow, .parquet), created when missing. */
  readonly runs: string;
  /** Worker processes (default: one per core). */
  readonly workers?: number;
  /** Peak learning rate (default 3e-3). */
  readonly lr?: number;
  /** Warm-up steps (default 10% of steps), decay (cosine), weight decay (0.1), clip (1), eval windows (16). */
  readonly warmup?: number;
  readonly schedule?: "cosine" | "linear";
  readonly weightDecay?: number;
  readonly clip?: number;
  readonly evalWindows?: number;
  /** Mixtures trained together per step in one ensemble (default 1). */
  readonly ensemble?: number;
  readonly backend: BackendName;
  readonly log: (line: string) => void;
  /** Called after each stored chunk with the number of runs stored so far. */
  readonly afterRun?: (done: number) => void;
  /** Extra columns written with every row (e.g. the demo's `role`). */
  readonly extra?: Readonly<Record<string, Cell>>;
  /** Aborting stops the sweep (what SIGINT/SIGTERM do in the CLI). */
  readonly signal?: AbortSignal;
  /** Train through a BullMQ queue on Redis (`mixlab worker`s train) instead of the local pool. */
  readonly queue?: SweepQueueOptions;
}

/** Summary of a sweep. */
export interface SweepSummary {
  /** Mixtures asked for. */
  readonly total: number;
  /** Runs already in the table (or repeated within the mixtures). */
  readonly skipped: number;
  readonly finished: number;
  readonly failed: number;
  /** Runs another live process held (claimed) and this sweep left to it, with their holders. */
  readonly heldElsewhere: readonly { readonly key: string; readonly holder: Holder }[];
  /** Every mixture's run key, in the order given. */
  readonly keys: readonly string[];
  /** The settings of every run. */
  readonly settings: RunSettings;
  /** Rows of the table made with other settings (kept, not reused), described per setting. */
  readonly otherSettings: readonly string[];
  readonly seconds: number;
}

/**
 * Trains every mixture not yet in the runs table, on a local pool of worker processes.
 * @throws InputError (before any training) for a bad runs path or format, or a table of other domains
 * @throws SweepInterrupted when `signal` aborts; LockError when the table's lock stays held
 */
export async function runSweep(o: SweepOptions): Promise<SweepSummary> {
  const t0 = performance.now();
  const existing = await checkRunsOutput(o.runs, { flag: "--runs", domains: o.domains });
  const settings = resolveSettings({
    model: o.model,
    config: o.config,
    steps: o.steps,
    batchSize: o.batchSize,
    seed: o.seed,
    corpusSha256: await corpusSha256({ train: o.train, heldout: o.heldout }),
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.warmup !== undefined ? { warmup: o.warmup } : {}),
    ...(o.schedule !== undefined ? { schedule: o.schedule } : {}),
    ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}),
    ...(o.clip !== undefined ? { clip: o.clip } : {}),
    ...(o.evalWindows !== undefined ? { evalWindows: o.evalWindows } : {}),
  });
  clearDeadClaims(o.runs);
  const plan = planSweep({ mixtures: o.mixtures, settings, done: runIdsOf(existing) });
  const other = otherSettings(existing, settings, plan.keys);
  if (other.length) {
    o.log(`sweep: ${o.runs} holds rows made with other settings; they are kept and not reused (${other.join("; ")})`);
  }
  const skipped = plan.done + plan.repeated;
  if (skipped) o.log(`sweep: ${skipped} of ${o.mixtures.length} runs already in ${o.runs}; ${plan.todo.length} to go`);
  if (o.queue) {
    // BullMQ is loaded only for a queued sweep.
    const { runQueueSweep } = await import("./queue/coordinator.js");
    return runQueueSweep({ sweep: o, queue: o.queue, plan, settings, skipped, otherSettings: other, t0 });
  }
  const size = Math.max(1, o.ensemble ?? 1);
  const workers = Math.max(1, Math.min(o.workers ?? cpus().length, Math.ceil(plan.todo.length / size)));
  const claims = new Map<string, Claim>();
  const heldElsewhere: { key: string; holder: Holder }[] = [];
  let finished = 0;
  let failed = 0;
  let alsoDone = 0;
  let next = 0;
  const recent: number[] = [];
  let storing: Promise<unknown> = Promise.resolve();
  const progress = (): void => {
    const last = recent.length ? { lastMeanLoss: recent[recent.length - 1]! } : {};
    const seconds = (performance.now() - t0) / 1000;
    o.log(progressLine({ finished, failed, total: plan.todo.length, seconds, ...last }));
  };
  // Claims runs for the next chunk: held elsewhere → left to that process; finished meanwhile → skipped.
  const nextChunk = async (): Promise<RunSpec[] | null> => {
    const chunk: RunSpec[] = [];
    while (chunk.length < size && next < plan.todo.length) {
      const spec = plan.todo[next++]!;
      const c = claimRun(o.runs, spec.key);
      if ("heldBy" in c) {
        heldElsewhere.push({ key: spec.key, holder: c.heldBy });
        continue;
      }
      claims.set(spec.key, c);
      chunk.push(spec);
    }
    if (chunk.length === 0) return null;
    const now = runIdsOf(await readRunsFile(o.runs));
    const fresh = chunk.filter((s) => {
      if (!now.has(s.key)) return true;
      alsoDone++;
      releaseClaim(claims.get(s.key)!);
      claims.delete(s.key);
      return false;
    });
    return fresh.length ? fresh : nextChunk();
  };
  const store = (chunk: readonly RunSpec[], outcome: ChunkOutcome): Promise<void> => {
    const rows = chunk.map((spec, k) => {
      if (outcome.ok) {
        const row = runRow(spec.key, o.domains, outcome.results[k]!, settings, o.extra);
        recent.push(row.get("loss.mean") as number);
        finished++;
        return row;
      }
      failed++;
      return failedRunRow(spec.key, o.domains, spec.proportions, settings, outcome.error, o.extra);
    });
    // One append at a time from this process; the table's lock orders them against others.
    const p = storing.then(async () => {
      const onWait = (h: Holder | null): void =>
        o.log(`sweep: waiting for the lock of ${o.runs}${h ? ` (held by pid ${h.pid} on ${h.host})` : ""}`);
      const r = await appendRuns(o.runs, rows, { onWait });
      if (r.duplicates.length) {
        const dup = r.duplicates.join(", ");
        o.log(`sweep: runs ${dup} were already in ${o.runs} (written by another process); not written twice`);
      }
      for (const spec of chunk) {
        const c = claims.get(spec.key);
        if (c) releaseClaim(c);
        claims.delete(spec.key);
      }
      progress();
      o.afterRun?.(finished + failed);
    });
    storing = p.catch(() => undefined);
    return p;
  };
  try {
    if (plan.todo.length > 0) {
      const { train, heldout, backend } = o;
      const signal = o.signal ? { signal: o.signal } : {};
      await runLocalPool({ workers, next: nextChunk, done: store, train, heldout, backend, ...signal });
    }
  } finally {
    await storing;
    for (const c of claims.values()) releaseClaim(c);
    claims.clear();
  }
  for (const line of othersLines(alsoDone, heldElsewhere)) o.log(line);
  const seconds = (performance.now() - t0) / 1000;
  return {
    total: o.mixtures.length,
    skipped: skipped + alsoDone,
    finished,
    failed,
    heldElsewhere,
    keys: plan.keys,
    settings,
    otherSettings: other,
    seconds,
  };
}

/** The sweep's progress line, for the local pool and the queue alike. */
export function progressLine(s: {
  readonly finished: number;
  readonly failed: number;
  readonly total: number;
  readonly seconds: number;
  readonly lastMeanLoss?: number;
}): string {
  const n = s.finished + s.failed;
  const eta = n ? (s.seconds / n) * (s.total - n) : NaN;
  const bar = "█".repeat(Math.round((20 * n) / Math.max(1, s.total))).padEnd(20, "·");
  const last = s.lastMeanLoss !== undefined ? `, last mean loss ${s.lastMeanLoss.toFixed(4)}` : "";
  const etaText = Number.isFinite(eta) ? eta.toFixed(0) : "?";
  const failedText = s.failed ? ` (${s.failed} failed)` : "";
  return `sweep [${bar}] ${n}/${s.total}${failedText}  ${s.seconds.toFixed(0)} s, ETA ${etaText} s${last}`;
}

/**
 * The closing lines about other processes' runs: how many finished meanwhile (found in the table after they
 * were planned), and which were left to the processes training them (their claims were live).
 */
export function othersLines(
  finishedMeanwhile: number,
  held: readonly { readonly key: string; readonly holder: Holder }[],
): string[] {
  const lines: string[] = [];
  if (finishedMeanwhile) lines.push(`sweep: ${finishedMeanwhile} runs were finished by another process meanwhile`);
  if (held.length) {
    const holders = [...new Set(held.map((h) => `pid ${h.holder.pid} on ${h.holder.host}`))].join(", ");
    const keys = held.map((h) => h.key).join(", ");
    const n = held.length === 1 ? "1 run was" : `${held.length} runs were`;
    lines.push(`sweep: ${n} being trained by another process (${holders}) and left to it: ${keys}`);
  }
  return lines;
}
