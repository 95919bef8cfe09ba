// Fused CPU kernels for the proxy transformer: every non-matmul part of a training step
// (embedding lookup, layer norm, the attention's masked softmax, GELU, cross-entropy and the
// AdamW update) as one loop over typed arrays, forward and backward. On the wasm backend a tfjs
// graph of these parts costs hundreds of tiny kernel dispatches per step; here each part is one
// pass over memory. Matrix products stay with tfjs (XNNPACK): a scalar JS product runs at
// 0.3–0.7 GMAC/s on these machines, an order of magnitude under XNNPACK's wasm SIMD.
// Pure functions of their arguments: no tfjs import, no allocation inside the loops.
// src/proxy/model.ts wraps them as tfjs custom-gradient ops for the wasm and cpu backends; the
// GPU backends keep the tf-op graph (reading tensors back to the CPU would stall them).

/**
 * Layer norm over the last axis of (K × rows × d), gains and biases per member (K × d); writes y
 * and the per-row mean and 1/σ for the backward pass.
 */
export function layerNormForward(
  x: Float32Array,
  g: Float32Array,
  b: Float32Array,
  K: number,
  rows: number,
  d: number,
  y: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
): void {
  for (let k = 0; k < K; k++) {
    const go = k * d;
    for (let r = 0; r < rows; r++) {
      const n = k * rows + r;
      const o = n * d;
      let s = 0;
      for (let c = 0; c < d; c++) s += x[o + c]!;
      const mu = s / d;
      let v = 0;
      for (let c = 0; c < d; c++) {
        const z = x[o + c]! - mu;
        v += z * z;
      }
      const rs = 1 / Math.sqrt(v / d + 1e-5);
      mean[n] = mu;
      rstd[n] = rs;
      for (let c = 0; c < d; c++) y[o + c] = (x[o + c]! - mu) * rs * g[go + c]! + b[go + c]!;
    }
  }
}

/** Layer norm backward: dx, and dg, db (K × d) accumulated over rows. */
export function layerNormBackward(
  x: Float32Array,
  g: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  dy: Float32Array,
  K: number,
  rows: number,
  d: number,
  dx: Float32Array,
  dg: Float32Array,
  db: Float32Array,
): void {
  dg.fill(0);
  db.fill(0);
  for (let k = 0; k < K; k++) {
    const go = k * d;
    for (let r = 0; r < rows; r++) {
      const n = k * rows + r;
      const o = n * d;
      const mu = mean[n]!;
      const rs = rstd[n]!;
      let sum1 = 0;
      let sum2 = 0;
      for (let c = 0; c < d; c++) {
        const xh = (x[o + c]! - mu) * rs;
        const gy = dy[o + c]!;
        dg[go + c] = dg[go + c]! + gy * xh;
        db[go + c] = db[go + c]! + gy;
        const dxh = gy * g[go + c]!;
        sum1 += dxh;
        sum2 += dxh * xh;
      }
      sum1 /= d;
      sum2 /= d;
      for (let c = 0; c < d; c++) {
        const xh = (x[o + c]! - mu) * rs;
        dx[o + c] = rs * (dy[o + c]! * g[go + c]! - sum1 - xh * sum2);
      }
    }
  }
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * tanh-approximate GELU (GPT-2) of x + bias (bias per member, K × f, broadcast over rows); keeps
 * x + bias in `pre` and the tanh in `th` for the backward pass.
 */
export function biasGeluForward(
  x: Float32Array,
  bias: Float32Array,
  K: number,
  rows: number,
  f: number,
  pre: Float32Array,
  th: Float32Array,
  y: Float32Array,
): void {
  for (let k = 0; k < K; k++) {
    const bo = k * f;
    for (let r = 0; r < rows; r++) {
      const o = (k * rows + r) * f;
      for (let c = 0; c < f; c++) {
        const v = x[o + c]! + bias[bo + c]!;
        pre[o + c] = v;
        const t = Math.tanh(GELU_C * (v + 0.044715 * v * v * v));
        th[o + c] = t;
        y[o + c] = 0.5 * v * (1 + t);
      }
    }
  }
}

/** Backward of biasGeluForward: dx (= d pre) and dbias (K × f). */
export function biasGeluBackward(
  pre: Float32Array,
  th: Float32Array,
  dy: Float32Array,
  K: number,
  rows: number,
  f: number,
  dx: Float32Array,
  dbias: Float32Array,
): void {
  dbias.fill(0);
  for (let k = 0; k < K; k++) {
    const bo = k * f;
    for (let r = 0; r < rows; r++) {
      const o = (k * rows + r) * f;
      for (let c = 0; c < f; c++) {
        const v = pre[o + c]!;
        const t = th[o + c]!;
        const grad = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * v * v);
        const gx = dy[o + c]! * grad;
        dx[o + c] = gx;
        dbias[bo + c] = dbias[bo + c]! + gx;
      }
    }
  }
}

/**
 * One head's causal softmax in place: scores (T × T, row i = q_i·k_j) are scaled, masked above
 * the diagonal and normalised per row.
 */
export function causalSoftmax(scores: Float32Array, T: number, scale: number): void {
  for (let i = 0; i < T; i++) {
    const o = i * T;
    let max = -Infinity;
    for (let j = 0; j <= i; j++) {
      const x = scores[o + j]! * scale;
      scores[o + j] = x;
      if (x > max) max = x;
    }
    let sum = 0;
    for (let j = 0; j <= i; j++) {
      const e = Math.exp(scores[o + j]! - max);
      scores[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j <= i; j++) scores[o + j] = scores[o + j]! * inv;
    for (let j = i + 1; j < T; j++) scores[o + j] = 0;
  }
}

/** The softmax backward of one head: from P and dP (T × T) writes dS = scale·P ⊙ (dP − rowsum(P ⊙ dP)). */
export function causalSoftmaxBackward(
  p: Float32Array,
  dp: Float32Array,
  T: number,
  scale: number,
  ds: Float32Array,
): void {
  for (let i = 0; i < T; i++) {
    const o = i * T;
    let dot = 0;
    for (let j = 0; j <= i; j++) dot += p[o + j]! * dp[o + j]!;
    for (let j = 0; j < T; j++) ds[o + j] = j <= i ? p[o + j]! * (dp[o + j]! - dot) * scale : 0;
  }
}

/** Sum over rows of (K × rows × n) into (K × n): the gradient of a broadcast bias. */
export function sumRows(dy: Float32Array, K: number, rows: number, n: number, out: Float32Array): void {
  out.fill(0);
  for (let k = 0; k < K; k++) {
    const oo = k * n;
    for (let r = 0; r < rows; r++) {
      const o = (k * rows + r) * n;
      for (let c = 0; c < n; c++) out[oo + c] = out[oo + c]! + dy[o + c]!;
    }
  }
}

/**
 * Token + position embedding: y[k, b·T + t] = wte[k, tokens[k, b, t]] + wpe[k, t]; tokens
 * (K × B × T), wte (K × V × d), wpe (K × Tmax × d).
 */
export function embedForward(
  tokens: Int32Array,
  wte: Float32Array,
  wpe: Float32Array,
  K: number,
  B: number,
  T: number,
  V: number,
  Tmax: number,
  d: number,
  y: Float32Array,
): void {
  for (let k = 0; k < K; k++) {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const n = (k * B + b) * T + t;
        const tok = tokens[n]!;
        const eo = (k * V + tok) * d;
        const po = (k * Tmax + t) * d;
        const o = n * d;
        for (let c = 0; c < d; c++) y[o + c] = wte[eo + c]! + wpe[po + c]!;
      }
    }
  }
}

/** Embedding backward: scatter-add into dwte (K × V × d), sum over the batch into dwpe (K × Tmax × d). */
export function embedBackward(
  tokens: Int32Array,
  dy: Float32Array,
  K: number,
  B: number,
  T: number,
  V: number,
  Tmax: number,
  d: number,
  dwte: Float32Array,
  dwpe: Float32Array,
): void {
  dwte.fill(0);
  dwpe.fill(0);
  for (let k = 0; k < K; k++) {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const n = (k * B + b) * T + t;
        const eo = (k * V + tokens[n]!) * d;
        const po = (k * Tmax + t) * d;
        const o = n * d;
        for (let c = 0; c < d; c++) {
          const gy = dy[o + c]!;
          dwte[eo + c] = dwte[eo + c]! + gy;
          dwpe[po + c] = dwpe[po + c]! + gy;
        }
      }
    }
  }
}

/** Cross-entropy of rows of logits (rows × V) against targets: losses (nats) and log-sum-exp per row. */
export function crossEntropyForward(
  logits: Float32Array,
  targets: Int32Array,
  rows: number,
  V: number,
  losses: Float32Array,
  lse: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let max = -Infinity;
    for (let c = 0; c < V; c++) if (logits[o + c]! > max) max = logits[o + c]!;
    let sum = 0;
    for (let c = 0; c < V; c++) sum += Math.exp(logits[o + c]! - max);
    const l = max + Math.log(sum);
    lse[r] = l;
    losses[r] = l - logits[o + targets[r]!]!;
  }
}

/** Cross-entropy backward: dlogits = dloss · (softmax − onehot(target)). */
export function crossEntropyBackward(
  logits: Float32Array,
  targets: Int32Array,
  lse: Float32Array,
  dloss: Float32Array,
  rows: number,
  V: number,
  dlogits: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    const g = dloss[r]!;
    const l = lse[r]!;
    for (let c = 0; c < V; c++) dlogits[o + c] = g * Math.exp(logits[o + c]! - l);
    dlogits[o + targets[r]!] = dlogits[o + targets[r]!]! - g;
  }
}

/**
 * One AdamW step on a member's slice [from, to) of a parameter, in place: p ← p − lr·(m̂/(√v̂ + ε)
 * + wd·p), with the gradient scaled by `gscale` (global-norm clipping). Moments in float32, the
 * arithmetic in float64.
 */
export function adamw(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  from: number,
  to: number,
  gscale: number,
  lr: number,
  b1: number,
  b2: number,
  c1: number,
  c2: number,
  wd: number,
): void {
  for (let i = from; i < to; i++) {
    const gi = g[i]! * gscale;
    const mi = b1 * m[i]! + (1 - b1) * gi;
    const vi = b2 * v[i]! + (1 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const pi = p[i]!;
    p[i] = pi - lr * (mi / c1 / (Math.sqrt(vi / c2) + 1e-8) + wd * pi);
  }
}

/** Σ g² over [from, to). */
export function sumSquares(g: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += g[i]! * g[i]!;
  return s;
}
