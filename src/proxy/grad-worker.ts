// A gradient worker thread of a data-parallel proxy step (src/proxy/parallel.ts): it holds its
// own tfjs backend and an identical copy of the model, computes the gradients of the batch rows
// it is sent, and takes the updated weights after every optimiser step.

import { parentPort, workerData } from "node:worker_threads";
import { loadTf, type BackendName } from "./backend.js";
import { createEnsemble, writeVariable, type ProxyConfig } from "./model.js";
import { createRng } from "../rng/index.js";
import { shardGradients, type ShardBatch } from "./shard.js";

interface Init {
  readonly backend: BackendName;
  readonly config: ProxyConfig;
  readonly seeds: number[];
}

type Message = { type: "step"; batch: ShardBatch } | { type: "params"; params: Float32Array[] };

const init = workerData as Init;
const port = parentPort!;
const { tf } = await loadTf(init.backend, () => {});
const model = createEnsemble(tf, init.config, init.seeds.map((s) => createRng(s).derive("proxy-init")), "fused");
port.on("message", (m: Message) => {
  try {
    if (m.type === "params") {
      m.params.forEach((p, i) => writeVariable(model, i, p));
      return;
    }
    const r = shardGradients(model, m.batch);
    port.postMessage(
      { ok: true, losses: r.losses, grads: r.grads },
      [r.losses.buffer as ArrayBuffer, ...r.grads.map((g) => g.buffer as ArrayBuffer)],
    );
  } catch (e) {
    port.postMessage({ ok: false, error: (e as Error).message });
  }
});
port.postMessage({ ready: true });
