// Gamma and Dirichlet sampling (ALGORITHMS.md P5) from an explicit Rng. Marsaglia–Tsang (2000)
// for α ≥ 1; for α < 1 Ahrens–Dieter's GS rejection sampler (1974), which needs about two
// uniforms a draw and no normal deviate: RegMix's candidate search draws 10^6 mixtures from
// Dirichlet(q) with every q_i < 1, so this is the hot path. (P5's boost Gamma(α+1)·U^(1/α)
// costs about 4.6 words a draw; both are exact.)

import type { Rng } from "../rng/index.js";

/** One Gamma(α, 1) draw (α > 0). */
export function sampleGamma(alpha: number, rng: Rng): number {
  if (!(alpha > 0)) throw new RangeError(`sampleGamma: alpha must be > 0, got ${alpha}`);
  return alpha < 1 ? sampleGammaBelowOne(alpha, rng) : sampleGammaAtLeastOne(alpha, rng);
}

/** Ahrens & Dieter (1974), algorithm GS, for 0 < α < 1. */
function sampleGammaBelowOne(alpha: number, rng: Rng): number {
  const b = 1 + alpha / Math.E;
  const invAlpha = 1 / alpha;
  for (;;) {
    const p = b * rng.nextUnit32();
    if (p <= 1) {
      const x = Math.exp(Math.log(p) * invAlpha);
      if (rng.nextUnit32() <= Math.exp(-x)) return x;
    } else {
      const x = -Math.log((b - p) * invAlpha);
      if (rng.nextUnit32() <= Math.exp((alpha - 1) * Math.log(x))) return x;
    }
  }
}

function sampleGammaAtLeastOne(alpha: number, rng: Rng): number {
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal32(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.nextUnit32();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Standard normal from 32-bit uniforms (Marsaglia polar method, the spare discarded). */
function normal32(rng: Rng): number {
  for (;;) {
    const u = 2 * rng.nextUnit32() - 1;
    const v = 2 * rng.nextUnit32() - 1;
    const s = u * u + v * v;
    if (s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
  }
}

/**
 * One Dirichlet(α) draw into `out`. Redraws in the (rare) case that every component underflows
 * to zero, as P5 requires.
 * @param alpha concentration per component, each > 0
 */
export function sampleDirichlet(
  alpha: ArrayLike<number>,
  rng: Rng,
  out: Float64Array = new Float64Array(alpha.length),
): Float64Array {
  const k = alpha.length;
  for (let attempt = 0; attempt < 1000; attempt++) {
    let s = 0;
    for (let i = 0; i < k; i++) {
      const g = sampleGamma(alpha[i]!, rng);
      out[i] = g;
      s += g;
    }
    if (s > 0 && Number.isFinite(s)) {
      for (let i = 0; i < k; i++) out[i] = out[i]! / s;
      return out;
    }
  }
  throw new RangeError("sampleDirichlet: every draw underflowed; the concentrations are too small");
}

/**
 * Many Dirichlet draws into one flat row-major matrix (numDraws × k).
 * @returns the filled matrix
 */
export function sampleDirichletMany(
  alpha: ArrayLike<number>,
  numDraws: number,
  rng: Rng,
  out: Float64Array = new Float64Array(numDraws * alpha.length),
): Float64Array {
  const k = alpha.length;
  const row = new Float64Array(k);
  for (let r = 0; r < numDraws; r++) {
    sampleDirichlet(alpha, rng, row);
    out.set(row, r * k);
  }
  return out;
}
