// A sweep worker process: receives run specs over IPC, trains each, sends back the row (or the
// error). One tfjs backend per process, loaded once.

import { loadTf, type BackendName } from "../proxy/backend.js";
import { trainEnsemble } from "../proxy/train.js";
import type { ProxyConfig } from "../proxy/model.js";

interface Job {
  readonly id: string;
  /** The mixtures trained together in one ensemble (one or more). */
  readonly members: { id: string; proportions: Record<string, number> }[];
  readonly config: ProxyConfig;
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly train: string;
  readonly heldout: string;
  readonly backend: BackendName;
  readonly lr?: number;
}

let tfp: ReturnType<typeof loadTf> | null = null;

process.on("message", (job: Job) => {
  void (async () => {
    try {
      tfp ??= loadTf(job.backend, () => {});
      const { tf, backend } = await tfp;
      const rs = await trainEnsemble({ tf, backend, config: job.config, train: job.train, heldout: job.heldout, members: job.members.map((m) => ({ proportions: m.proportions, seed: job.seed })), steps: job.steps, batchSize: job.batchSize, evalWindows: 16, ...(job.lr !== undefined ? { lr: job.lr } : {}) });
      process.send!({ id: job.id, ok: true, results: rs });
    } catch (e) {
      process.send!({ id: job.id, ok: false, error: (e as Error).message });
    }
  })();
});
process.send?.({ ready: true });
