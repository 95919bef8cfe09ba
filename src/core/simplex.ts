// Simplex utilities (ALGORITHMS.md §0.2, P1–P4): validation, normalisation, smoothing, the two
// box-constrained repairs, entropy, distances and the isometric log-ratio map. Pure functions
// over Float64Array; user-facing validation lives at the I/O boundary.

import { invariant } from "../errors.js";

/** Tolerance for "sums to one" when a vector is produced by our own code. */
export const SIMPLEX_EPS = 1e-12;

/** Σ x, summed left to right (fixed order, so results are reproducible bit for bit). */
export function sum(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s;
}

/**
 * P1. Returns w / Σw.
 * @throws Error when an entry is negative or non-finite, or the sum is not positive
 */
export function normalize(w: ArrayLike<number>, out: Float64Array = new Float64Array(w.length)): Float64Array {
  let s = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(
      `normalize: entry ${i} must be a finite number ≥ 0, got ${v}`,
    );
    s += v;
  }
  if (!(s > 0)) throw new RangeError(`normalize: weights must have a positive sum, got ${s}`);
  for (let i = 0; i < w.length; i++) out[i] = w[i]! / s;
  return out;
}

/** True when p is on the simplex: entries ≥ 0, finite, |Σp − 1| ≤ tol. */
export function isOnSimplex(p: ArrayLike<number>, tol = 1e-9): boolean {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (!(v >= 0) || !Number.isFinite(v)) return false;
    s += v;
  }
  return Math.abs(s - 1) <= tol;
}

/** P3. Uniform smoothing p ← (1 − c) p + c / k, so every entry is at least c / k. */
export function smooth(p: ArrayLike<number>, c: number, out: Float64Array = new Float64Array(p.length)): Float64Array {
  const k = p.length;
  for (let i = 0; i < k; i++) out[i] = (1 - c) * p[i]! + c / k;
  return out;
}

/** Softmax of logits with the max shift (P2's read-out). */
export function softmax(logits: ArrayLike<number>, out: Float64Array = new Float64Array(logits.length)): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - m);
    out[i] = e;
    s += e;
  }
  for (let i = 0; i < logits.length; i++) out[i] = out[i]! / s;
  return out;
}

/** Box constraints on a mixture: lower[i] ≤ p[i] ≤ upper[i]. */
export interface Box {
  readonly lower: Float64Array;
  readonly upper: Float64Array;
}

/** Checks that a box intersects the simplex: lower ≤ upper, Σlower ≤ 1 ≤ Σupper. Returns a reason or null. */
export function boxInfeasibility(box: Box): string | null {
  const k = box.lower.length;
  let sl = 0;
  let su = 0;
  for (let i = 0; i < k; i++) {
    if (box.lower[i]! > box.upper[i]! + 1e-15) return `domain ${i}: minimum ${box.lower[i]} ` +
      `exceeds maximum ${box.upper[i]}`;
    sl += box.lower[i]!;
    su += Math.min(1, box.upper[i]!);
  }
  if (sl > 1 + 1e-12) return `the minimum shares sum to ${sl.toPrecision(6)} > 1`;
  if (su < 1 - 1e-12) return `the maximum shares (after epoch caps) sum to ${su.toPrecision(6)} < 1: ` +
    "no mixture can use the whole token budget";
  return null;
}

/**
 * P4, multiplicative variant: clamp the entries outside their bounds, fix them, rescale the free
 * entries to fill the remaining mass; repeat until nothing changes. Keeps the ratios among the
 * entries that stay free. A free set whose mass is zero is filled from its lower bounds up by
 * the Euclidean repair instead.
 * @param p a mixture (on the simplex); @param box a feasible box (see boxInfeasibility)
 */
export function repairMultiplicative(
  p: ArrayLike<number>,
  box: Box,
  out: Float64Array = new Float64Array(p.length),
): Float64Array {
  const k = p.length;
  const fixed = new Uint8Array(k);
  for (let i = 0; i < k; i++) out[i] = p[i]!;
  for (let iter = 0; iter <= k; iter++) {
    let fixedMass = 0;
    let freeMass = 0;
    for (let i = 0; i < k; i++) {
      if (fixed[i]) fixedMass += out[i]!;
      else freeMass += out[i]!;
    }
    const remaining = 1 - fixedMass;
    if (freeMass <= 0) {
      if (Math.abs(remaining) <= 1e-12) return out;
      return repairEuclidean(p, box, out);
    }
    const scale = remaining / freeMass;
    let changed = false;
    for (let i = 0; i < k; i++) {
      if (fixed[i]) continue;
      const v = out[i]! * scale;
      if (v < box.lower[i]!) {
        out[i] = box.lower[i]!;
        fixed[i] = 1;
        changed = true;
      } else if (v > box.upper[i]!) {
        out[i] = box.upper[i]!;
        fixed[i] = 1;
        changed = true;
      } else out[i] = v;
    }
    if (!changed) return out;
  }
  return out;
}

/**
 * P4, Euclidean variant: the point of the box ∩ simplex closest to p in L2, found as
 * clip(p + τ, lower, upper) with τ by bisection so that the entries sum to 1.
 */
export function repairEuclidean(
  p: ArrayLike<number>,
  box: Box,
  out: Float64Array = new Float64Array(p.length),
): Float64Array {
  const k = p.length;
  let lo = -1;
  let hi = 1;
  for (let i = 0; i < k; i++) {
    lo = Math.min(lo, box.lower[i]! - p[i]!);
    hi = Math.max(hi, box.upper[i]! - p[i]!);
  }
  const f = (tau: number): number => {
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.min(box.upper[i]!, Math.max(box.lower[i]!, p[i]! + tau));
    return s - 1;
  };
  for (let it = 0; it < 200 && hi - lo > 1e-16; it++) {
    const mid = 0.5 * (lo + hi);
    if (f(mid) > 0) hi = mid;
    else lo = mid;
  }
  const tau = 0.5 * (lo + hi);
  for (let i = 0; i < k; i++) out[i] = Math.min(box.upper[i]!, Math.max(box.lower[i]!, p[i]! + tau));
  // Remove the last rounding residue on a free coordinate so Σ = 1 to machine precision.
  const residue = 1 - sum(out);
  if (residue !== 0) {
    for (let i = 0; i < k; i++) {
      const v = out[i]! + residue;
      if (v >= box.lower[i]! && v <= box.upper[i]!) {
        out[i] = v;
        break;
      }
    }
  }
  return out;
}

/** Shannon entropy in nats (0 log 0 = 0). */
export function entropy(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

/** L1 distance Σ|a − b|. */
export function l1Distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  invariant(a.length === b.length, "l1Distance: lengths differ");
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i]! - b[i]!);
  return d;
}

/** KL divergence KL(p ‖ q) in nats; +∞ where q_i = 0 < p_i. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]!;
    if (a <= 0) continue;
    const b = q[i]!;
    if (b <= 0) return Infinity;
    d += a * Math.log(a / b);
  }
  return d;
}

/**
 * Isometric log-ratio transform (Egozcue et al. 2003) with the Helmert-type basis: maps the open
 * simplex in k dimensions to R^(k−1) isometrically for the Aitchison geometry. Zero entries are
 * replaced by `zeroFloor` before the logs (compositional data cannot hold exact zeros).
 */
export function ilr(
  p: ArrayLike<number>,
  zeroFloor = 1e-6,
  out: Float64Array = new Float64Array(p.length - 1),
): Float64Array {
  const k = p.length;
  let cumLog = 0;
  for (let j = 1; j < k; j++) {
    cumLog += Math.log(Math.max(p[j - 1]!, zeroFloor));
    const gmeanLog = cumLog / j;
    out[j - 1] = Math.sqrt(j / (j + 1)) * (gmeanLog - Math.log(Math.max(p[j]!, zeroFloor)));
  }
  return out;
}

/** Inverse of `ilr`: back to the simplex. */
export function ilrInverse(z: ArrayLike<number>, out: Float64Array = new Float64Array(z.length + 1)): Float64Array {
  const k = z.length + 1;
  // clr coordinates from the basis vectors, then softmax.
  const clr = new Float64Array(k);
  for (let j = 1; j < k; j++) {
    const c = z[j - 1]! / Math.sqrt(j * (j + 1));
    for (let i = 0; i < j; i++) clr[i] = clr[i]! + c;
    clr[j] = clr[j]! - j * c;
  }
  return softmax(clr, out);
}

/** Mixture → implied epochs over each domain at a token budget: e_i = p_i N / n_i. */
export function impliedEpochs(
  p: ArrayLike<number>,
  tokensPerDomain: ArrayLike<number>,
  budgetTokens: number,
): Float64Array {
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const n = tokensPerDomain[i]!;
    out[i] = n > 0 ? (p[i]! * budgetTokens) / n : p[i]! > 0 ? Infinity : 0;
  }
  return out;
}

/**
 * Largest-remainder apportionment of `total` items by `shares` (Σ = 1): floor, then one more to
 * the largest remainders (ties to the lower index). Counts sum to `total` exactly.
 */
export function apportion(shares: ArrayLike<number>, total: number): Int32Array {
  const k = shares.length;
  const counts = new Int32Array(k);
  const rem = new Float64Array(k);
  let used = 0;
  for (let i = 0; i < k; i++) {
    const x = shares[i]! * total;
    counts[i] = Math.floor(x + 1e-9);
    rem[i] = x - counts[i]!;
    used += counts[i]!;
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => rem[b]! - rem[a]! || a - b);
  for (let j = 0; used < total; j++, used++) counts[order[j % k]!]!++;
  return counts;
}

