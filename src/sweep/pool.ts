// The local pool: worker processes (src/sweep/worker.ts) that each train one chunk of runs at a
// time. It knows nothing of keys or tables: `next` hands it claimed chunks, `done` stores their
// outcome. Aborting kills every worker, waits for `done` calls in flight, and rejects.

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { MixError } from "../errors.js";
import type { BackendName } from "../proxy/backend.js";
import type { RunResult } from "../proxy/train.js";
import type { RunSpec } from "./plan.js";
import type { ChunkJob } from "./train-chunk.js";

/** The outcome of one chunk: a result per member, or the error that stopped it. */
export type ChunkOutcome =
  | { readonly ok: true; readonly results: RunResult[] }
  | { readonly ok: false; readonly error: string };

/** Options of the local pool. */
export interface LocalPoolOptions {
  /** Worker processes (at least 1). */
  readonly workers: number;
  /** The next chunk to train (runs of equal settings, claimed by the caller), or null when none is left. */
  readonly next: () => Promise<readonly RunSpec[] | null>;
  /** Stores a chunk's outcome; the worker gets its next chunk when this resolves. */
  readonly done: (chunk: readonly RunSpec[], outcome: ChunkOutcome) => Promise<void>;
  readonly train: string;
  readonly heldout: string;
  readonly backend: BackendName;
  /** Aborting stops the pool: workers killed, `done` calls in flight awaited, then it rejects (SweepInterrupted). */
  readonly signal?: AbortSignal;
}

/** The sweep was stopped by a signal (or an abort) before it finished. */
export class SweepInterrupted extends MixError {
  readonly reason: string;
  constructor(reason: string) {
    super(
      "E_INTERRUPTED",
      `sweep interrupted (${reason}); every finished run is in the table; run the same command again to resume`,
    );
    this.name = "SweepInterrupted";
    this.reason = reason;
  }
}

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "worker.js");

/**
 * Trains chunks on `workers` processes until `next` returns null.
 * @throws SweepInterrupted when aborted; an Error when a worker process dies during a chunk
 */
export async function runLocalPool(o: LocalPoolOptions): Promise<void> {
  const children = new Set<ChildProcess>();
  const pending = new Set<Promise<void>>();
  let failure: Error | null = null;
  const track = (p: Promise<void>): Promise<void> => {
    pending.add(p);
    return p.finally(() => pending.delete(p));
  };
  const stopAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
  };
  const onAbort = (): void => stopAll();
  o.signal?.addEventListener("abort", onAbort);
  const one = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (o.signal?.aborted) return resolve();
      const child = fork(WORKER, [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
      children.add(child);
      let current: readonly RunSpec[] | null = null;
      let settled = false;
      // The promise settles when the process has exited, so nothing outlives the pool.
      const finish = (): void => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        else settle();
      };
      const settle = (): void => {
        if (settled) return;
        settled = true;
        resolve();
      };
      const give = async (): Promise<void> => {
        if (o.signal?.aborted || failure) return finish();
        const chunk = await o.next();
        if (chunk === null || chunk.length === 0 || o.signal?.aborted) return finish();
        current = chunk;
        const job: ChunkJob = {
          id: chunk[0]!.key,
          members: chunk.map((s) => ({ id: s.key, proportions: s.proportions })),
          settings: chunk[0]!.settings,
          train: o.train,
          heldout: o.heldout,
          backend: o.backend,
        };
        child.send(job);
      };
      child.on("message", (msg: { ready?: boolean; ok?: boolean; results?: RunResult[]; error?: string }) => {
        if (msg.ready) {
          void track(give().catch((e: Error) => ((failure ??= e), finish())));
          return;
        }
        const chunk = current!;
        current = null;
        const outcome: ChunkOutcome = msg.ok
          ? { ok: true, results: msg.results! }
          : { ok: false, error: msg.error ?? "unknown error" };
        void track(
          o
            .done(chunk, outcome)
            .then(give)
            .catch((e: Error) => ((failure ??= e), finish())),
        );
      });
      child.on("exit", (code, signal) => {
        children.delete(child);
        if (current && !o.signal?.aborted) {
          const runs = current.map((s) => s.key).join(", ");
          failure ??= new Error(`sweep worker exited with ${code ?? signal} during run ${runs}`);
        }
        settle();
      });
      child.on("error", (e) => {
        failure ??= e;
        if (child.pid === undefined) settle();
        else finish();
      });
    });
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.workers) }, one));
    while (pending.size) await Promise.all([...pending]);
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
    stopAll();
  }
  if (o.signal?.aborted) throw new SweepInterrupted(String(o.signal.reason ?? "aborted"));
  if (failure) throw failure;
}
