// One data-parallel shard of a training step on the CPU: the per-member losses and the gradients
// of a slice of the batch rows, normalised by the whole batch's token counts, so that the
// gradients of all shards add up to the full batch's gradient. Used by the trainer itself
// (shard 0) and by the gradient worker threads (src/proxy/grad-worker.ts).

import type * as tfTypes from "@tensorflow/tfjs";
import { memberLosses, type ProxyModel } from "./model.js";

/** Rows of a shard: tokens, targets and mask (K × rows × T), and each member's token count over the whole batch. */
export interface ShardBatch {
  readonly xs: Int32Array;
  readonly ys: Int32Array;
  readonly mask: Float32Array;
  readonly rows: number;
  /** Valid tokens of each member in the whole batch (every shard uses the same denominators). */
  readonly denom: Float32Array;
}

/** Partial losses (K) and gradients (one array per variable, in model.names order) of a shard. */
export function shardGradients(model: ProxyModel, b: ShardBatch): { losses: Float64Array; grads: Float32Array[] } {
  const tf = model.tf;
  const K = model.members;
  const T = model.config.seqLen;
  let losses = new Float64Array(K);
  let grads: Float32Array[] = [];
  tf.tidy(() => {
    const inp = tf.tensor3d(b.xs, [K, b.rows, T], "int32");
    const tgt = tf.tensor3d(b.ys, [K, b.rows, T], "int32");
    const msk = tf.tensor3d(b.mask, [K, b.rows, T]);
    const denom = tf.tensor1d(b.denom);
    let kept: tfTypes.Tensor | null = null;
    const { grads: g } = tf.variableGrads(() => {
      const l = memberLosses(model, inp, tgt, msk, denom);
      kept = tf.keep(l);
      return tf.sum(l) as tfTypes.Scalar;
    }, model.variables);
    const keptLosses = kept as unknown as tfTypes.Tensor;
    losses = Float64Array.from(keptLosses.dataSync());
    keptLosses.dispose();
    // Copies: the cpu backend's dataSync returns its own buffer, which dispose may reuse.
    grads = model.variables.map((v) => Float32Array.from(g[v.name]!.dataSync() as Float32Array));
  });
  model.arena.reset(); // the tape and its closures are gone: the kernels' buffers are free again
  return { losses, grads };
}

/** Rows [lo, hi) of every member of a (K × B × T) batch, as a shard. */
export function sliceRows(
  xs: Int32Array,
  ys: Int32Array,
  mask: Float32Array,
  K: number,
  B: number,
  T: number,
  lo: number,
  hi: number,
  denom: Float32Array,
): ShardBatch {
  const rows = hi - lo;
  if (rows === B) return { xs, ys, mask, rows, denom }; // one shard: the batch itself, no copy
  const sx = new Int32Array(K * rows * T);
  const sy = new Int32Array(K * rows * T);
  const sm = new Float32Array(K * rows * T);
  for (let k = 0; k < K; k++) {
    const from = (k * B + lo) * T;
    const to = (k * B + hi) * T;
    sx.set(xs.subarray(from, to), k * rows * T);
    sy.set(ys.subarray(from, to), k * rows * T);
    sm.set(mask.subarray(from, to), k * rows * T);
  }
  return { xs: sx, ys: sy, mask: sm, rows, denom };
}
