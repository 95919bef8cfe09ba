// A sweep worker process: receives chunks over IPC, trains each (train-chunk.ts), sends back the
// results (or the error). One tfjs backend per process, loaded once. It exits when its parent
// goes away (the IPC channel closes), so a killed sweep leaves no worker behind.

import { loadTf } from "../proxy/backend.js";
import { trainChunk, type ChunkJob } from "./train-chunk.js";

let tfp: ReturnType<typeof loadTf> | null = null;

process.on("disconnect", () => process.exit(1));
// Ctrl-C reaches the whole process group: the sweep decides, and stops its workers itself.
process.on("SIGINT", () => {});
process.on("message", (job: ChunkJob) => {
  void (async () => {
    try {
      tfp ??= loadTf(job.backend, () => {});
      process.send!({ id: job.id, ok: true, results: await trainChunk(job, tfp) });
    } catch (e) {
      process.send!({ id: job.id, ok: false, error: (e as Error).message });
    }
  })();
});
process.send?.({ ready: true });
