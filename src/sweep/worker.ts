// A sweep worker process: receives run specs over IPC, trains each, sends back the results (or
// the error). One tfjs backend per process, loaded once. It exits when its parent goes away
// (the IPC channel closes), so a killed sweep leaves no worker behind.

import { loadTf, type BackendName } from "../proxy/backend.js";
import { trainEnsemble } from "../proxy/train.js";
import type { RunSettings } from "./plan.js";

/** What the pool sends: the mixtures trained together in one ensemble and their shared settings. */
export interface WorkerJob {
  readonly id: string;
  readonly members: { readonly id: string; readonly proportions: Readonly<Record<string, number>> }[];
  readonly settings: RunSettings;
  readonly train: string;
  readonly heldout: string;
  readonly backend: BackendName;
}

let tfp: ReturnType<typeof loadTf> | null = null;

process.on("disconnect", () => process.exit(1));
// Ctrl-C reaches the whole process group: the sweep decides, and stops its workers itself.
process.on("SIGINT", () => {});
process.on("message", (job: WorkerJob) => {
  void (async () => {
    const s = job.settings;
    try {
      tfp ??= loadTf(job.backend, () => {});
      const { tf, backend } = await tfp;
      const rs = await trainEnsemble({
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
      process.send!({ id: job.id, ok: true, results: rs });
    } catch (e) {
      process.send!({ id: job.id, ok: false, error: (e as Error).message });
    }
  })();
});
process.send?.({ ready: true });
