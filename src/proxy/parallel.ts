// Data parallelism for one proxy (or one ensemble) on a multi-core CPU: worker threads, each with
// its own tfjs backend and an identical copy of the model, compute the gradients of their share
// of the batch rows while the trainer computes the first share; the shares' gradients are added
// in a fixed order (so results are deterministic for a thread count), the trainer takes the
// optimiser step and sends the new weights back. tfjs's wasm backend runs one thread under Node,
// so this is how one proxy uses more than one core. Sweeps run one proxy per core instead.

import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BackendName } from "./backend.js";
import type { ProxyConfig } from "./model.js";
import type { ShardBatch } from "./shard.js";
import { FitError } from "../errors.js";

/** The compiled worker script (tests run the TypeScript sources; the worker runs from dist). */
function workerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, "grad-worker.js");
  if (existsSync(beside)) return beside;
  const built = join(here, "..", "..", "dist", "src", "proxy", "grad-worker.js");
  if (existsSync(built)) return built;
  throw new FitError(`the gradient worker script is missing (looked for ${beside} and ${built}); run npm run build`);
}

interface Reply {
  ok: boolean;
  losses?: Float64Array;
  grads?: Float32Array[];
  error?: string;
  ready?: boolean;
}

/** A pool of gradient worker threads. */
export interface GradientPool {
  readonly size: number;
  /** Sends each worker its shard; resolves with their partial losses and gradients, in worker order. */
  gradients(shards: readonly ShardBatch[]): Promise<{ losses: Float64Array; grads: Float32Array[] }[]>;
  /** Sends the updated weights to every worker. */
  setParams(params: readonly Float32Array[]): void;
  close(): Promise<void>;
}

export async function createGradientPool(
  size: number,
  backend: BackendName,
  config: ProxyConfig,
  seeds: readonly number[],
): Promise<GradientPool> {
  const script = workerScript();
  const workers: Worker[] = [];
  const pending: ((r: Reply) => void)[][] = [];
  const failed: (Error | null)[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < size; i++) {
    const w = new Worker(script, { workerData: { backend, config, seeds: [...seeds] } });
    const queue: ((r: Reply) => void)[] = [];
    pending.push(queue);
    failed.push(null);
    ready.push(
      new Promise((resolve, reject) => {
        w.once("message", (m: Reply) => (m.ready
          ? resolve()
          : reject(new FitError(`gradient worker ${i + 1} did not start: ${m.error ?? "unknown"}`))));
        w.once("error", reject);
        w.once("exit", (code) => reject(
          new FitError(`gradient worker ${i + 1} exited with code ${code} before it started`),
        ));
      }),
    );
    w.on("message", (m: Reply) => {
      if (m.ready) return;
      queue.shift()?.(m);
    });
    const fail = (e: Error): void => {
      failed[i] ??= e;
      for (const f of queue.splice(0)) f({ ok: false, error: failed[i]!.message });
    };
    w.on("error", fail);
    // A worker that exits (killed, out of memory) fails what it was asked instead of leaving it waiting.
    w.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
    workers.push(w);
  }
  try {
    await Promise.all(ready);
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  return {
    size,
    gradients(shards) {
      return Promise.all(
        shards.map(
          (batch, i) =>
            new Promise<{ losses: Float64Array; grads: Float32Array[] }>((resolve, reject) => {
              if (failed[i]) return reject(new FitError(`gradient worker ${i + 1} failed: ${failed[i]!.message}`));
              pending[i]!.push((r) => (r.ok
                ? resolve({ losses: r.losses!, grads: r.grads! })
                : reject(new FitError(`gradient worker ${i + 1}: ${r.error}`))));
              workers[i]!.postMessage({ type: "step", batch });
            }),
        ),
      );
    },
    setParams(params) {
      for (const w of workers) w.postMessage({ type: "params", params });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
