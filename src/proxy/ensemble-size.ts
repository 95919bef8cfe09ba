// The default ensemble size of a sweep: how many proxies one batched step trains together, from
// the backend and its memory. On the CPU backends an ensemble pays little (a step is compute-
// bound: measured 0.84–1.32× one proxy's aggregate tokens/s on wasm and blas), so one, which also
// keeps a sweep's resumption per mixture; on GPU backends it is what turns a dispatch-bound step
// into a useful one, bounded by the largest buffer one
// kernel may bind (WebGPU's maxStorageBufferBindingSize: past it tfjs fails with invalid
// buffers) and by the memory the activations of every member need.

import type { ProxyConfig } from "./model.js";

/** Upper bound on a default ensemble (a sweep's chunks should still spread over workers). */
export const MAX_DEFAULT_ENSEMBLE = 32;

/** Bytes of the largest single activation buffer of one member's step (float32). */
export function largestBufferBytes(c: ProxyConfig, batch: number): number {
  const T = c.seqLen;
  return 4 * batch * Math.max(T * c.vocab, c.nHeads * T * T, T * c.dFF, 3 * T * c.dModel);
}

/** Bytes of the activations one member keeps for its backward pass (float32, rough upper bound). */
export function activationBytes(c: ProxyConfig, batch: number): number {
  const N = batch * c.seqLen;
  const perLayer = 11 * N * c.dModel + 2 * N * c.dFF + batch * c.nHeads * c.seqLen * c.seqLen;
  return 4 * (c.nLayers * perLayer + 3 * N * c.vocab);
}

export interface EnsembleChoice {
  readonly size: number;
  readonly why: string;
}

/**
 * The ensemble size for a backend: `maxBindingBytes` is the WebGPU adapter's
 * maxStorageBufferBindingSize (when known), `freeBytes` the memory free for activations.
 */
export function chooseEnsemble(
  backend: string,
  c: ProxyConfig,
  batch: number,
  limits: { maxBindingBytes?: number; freeBytes: number },
): EnsembleChoice {
  if (backend !== "webgpu" && backend !== "tensorflow") return {
    size: 1,
    why:
      `${backend} steps are compute-bound; an ensemble measured 0.84–1.32× one proxy's aggregate tokens/s, ` +
      "while one proxy per worker keeps resumption per mixture",
  };
  const perMember = activationBytes(c, batch);
  // Half the free memory for activations (the gradients and optimiser state need the rest).
  const byMemory = Math.floor((0.5 * limits.freeBytes) / perMember);
  const largest = largestBufferBytes(c, batch);
  const byBinding = limits.maxBindingBytes !== undefined ? Math.floor(limits.maxBindingBytes / largest) : Infinity;
  const size = Math.max(1, Math.min(MAX_DEFAULT_ENSEMBLE, byMemory, byBinding));
  const bound = size === MAX_DEFAULT_ENSEMBLE
    ? `the cap of ${MAX_DEFAULT_ENSEMBLE}`
    : byBinding <= byMemory
      ? `the ${(limits.maxBindingBytes! / 2 ** 20).toFixed(0)} MiB binding limit ` +
        `over ${(largest / 2 ** 20).toFixed(1)} MiB per member`
      : `half of ${(limits.freeBytes / 2 ** 30).toFixed(1)} GiB free ` +
        `over ${(perMember / 2 ** 20).toFixed(0)} MiB of activations per member`;
  return { size, why: `${backend}: limited by ${bound}` };
}
