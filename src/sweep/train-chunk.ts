// Training one chunk of runs (an ensemble of mixtures with shared settings) in this process:
// what a local pool worker does for each job, and what a queue worker can call. No side effects
// on import.

import { loadTf, type BackendName } from "../proxy/backend.js";
import { trainEnsemble, type RunResult } from "../proxy/train.js";
import type { RunSettings } from "./plan.js";

/** A chunk to train: the mixtures trained together and their shared settings. */
export interface ChunkJob {
  /** The first member's key (names the job in messages). */
  readonly id: string;
  readonly members: { readonly id: string; readonly proportions: Readonly<Record<string, number>> }[];
  readonly settings: RunSettings;
  /** Train and held-out corpus directories. */
  readonly train: string;
  readonly heldout: string;
  readonly backend: BackendName;
}

/**
 * Trains a chunk with every setting passed to the trainer explicitly (so the run matches its key).
 * @param tfLoader the loaded backend to reuse across chunks (load once per process)
 * @returns one result per member, in order
 */
export async function trainChunk(job: ChunkJob, tfLoader: ReturnType<typeof loadTf>): Promise<RunResult[]> {
  const s = job.settings;
  const { tf, backend } = await tfLoader;
  return trainEnsemble({
    tf,
    backend,
    config: s.config,
    train: job.train,
    heldout: job.heldout,
    members: job.members.map((m) => ({ proportions: m.proportions, seed: s.seed })),
    steps: s.steps,
    batchSize: s.batchSize,
    lr: s.lr,
    warmup: s.warmup,
    schedule: s.schedule,
    weightDecay: s.weightDecay,
    clip: s.clip,
    evalWindows: s.evalWindows,
  });
}
