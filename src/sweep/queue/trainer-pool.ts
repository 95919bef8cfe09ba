// Child processes that train runs for a queue worker: each is the local sweep's own worker process
// (src/sweep/worker.ts, the same trainer and the same message protocol), so a queued run and a local run
// compute the same thing. Training in a child keeps the worker's event loop free to renew BullMQ job locks.

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import type { RunResult } from "../../proxy/train.js";
import type { BackendName } from "../../proxy/backend.js";
import type { RunSettings } from "../plan.js";
import type { ChunkJob } from "../train-chunk.js";

const TRAINER = join(dirname(fileURLToPath(import.meta.url)), "..", "worker.js");

/** One run for a trainer process. */
export interface TrainSpec {
  readonly id: string;
  readonly proportions: Readonly<Record<string, number>>;
  readonly settings: RunSettings;
  readonly train: string;
  readonly heldout: string;
  readonly backend: BackendName;
}

/** The outcome of a run: a result, or the trainer's error (deterministic: non-finite loss and the like). */
export type TrainOutcome =
  | { readonly ok: true; readonly result: RunResult }
  | { readonly ok: false; readonly error: string };

interface Slot {
  child: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  onExit: ((why: string) => void) | null;
}

/** A fixed number of trainer processes, started on first use; a process that dies is replaced. */
export class TrainerPool {
  private readonly slots: Slot[] = [];
  private closed = false;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  private spawn(): Slot {
    const child = fork(TRAINER, [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const slot: Slot = { child, busy: false, onExit: null, ready: Promise.resolve() };
    slot.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: boolean }): void => {
        if (m.ready) {
          child.off("message", onMessage);
          resolve();
        }
      };
      child.on("message", onMessage);
      child.once("exit", (code, signal) => {
        reject(new Error(`trainer process exited with ${code ?? signal} before it was ready`));
        slot.onExit?.(`trainer process exited with ${code ?? signal}`);
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
      });
    });
    slot.ready.catch(() => {});
    this.slots.push(slot);
    return slot;
  }

  /**
   * Trains one run on a free process.
   * @throws Error when the process dies during the run (the job is then retried elsewhere)
   */
  async train(spec: TrainSpec): Promise<TrainOutcome> {
    if (this.closed) throw new Error("trainer pool closed");
    // Several queues' workers share this pool: a run waits here for a free process (FIFO).
    while (this.slots.filter((s) => s.busy).length >= this.size) {
      await new Promise<void>((r) => this.waiting.push(r));
      if (this.closed) throw new Error("trainer pool closed");
    }
    const slot = this.slots.find((s) => !s.busy) ?? this.spawn();
    slot.busy = true;
    try {
      await slot.ready;
      const s = slot;
      return await new Promise<TrainOutcome>((resolve, reject) => {
        s.onExit = (why) => reject(new Error(`${why} during run ${spec.id}`));
        const onMessage = (m: { id?: string; ok?: boolean; results?: RunResult[]; error?: string }): void => {
          if (m.id !== spec.id) return;
          s.child.off("message", onMessage);
          s.onExit = null;
          resolve(m.ok ? { ok: true, result: m.results![0]! } : { ok: false, error: m.error ?? "unknown error" });
        };
        s.child.on("message", onMessage);
        const job: ChunkJob = {
          id: spec.id,
          members: [{ id: spec.id, proportions: spec.proportions }],
          settings: spec.settings,
          train: spec.train,
          heldout: spec.heldout,
          backend: spec.backend,
        };
        s.child.send(job);
      });
    } finally {
      slot.busy = false;
      this.waiting.shift()?.();
    }
  }

  /** Stops every process (SIGKILL when `now`, else SIGTERM) and waits for them to exit. */
  async close(now = false): Promise<void> {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
            s.child.once("exit", () => resolve());
            s.child.kill(now ? "SIGKILL" : "SIGTERM");
          }),
      ),
    );
    this.slots.length = 0;
  }
}
