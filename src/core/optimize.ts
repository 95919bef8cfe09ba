// Optimisers on Float64Array: L-BFGS (two-loop recursion, Armijo backtracking, curvature-guarded
// updates) for fitting laws (ALGORITHMS.md P7), a Huber loss, a seeded multi-start driver, and
// projected gradient descent on the box-constrained simplex for recommending mixtures (the
// Euclidean repair of simplex.ts is the exact projection onto box ∩ simplex).

import type { Rng } from "../rng/index.js";
import { FitError } from "../errors.js";
import { type Box, repairEuclidean } from "./simplex.js";

/** An objective that writes its gradient into `grad` and returns its value. */
export type ValueAndGradient = (x: Float64Array, grad: Float64Array) => number;

/** Options of `lbfgs`. */
export interface LbfgsOptions {
  /** Maximum iterations (default 200). */
  readonly maxIterations?: number;
  /** History size m (default 10). */
  readonly history?: number;
  /** Stop when ‖grad‖∞ falls below this (default 1e-9). */
  readonly gradTolerance?: number;
  /** Stop when the relative decrease of f over one iteration falls below this (default 1e-12). */
  readonly valueTolerance?: number;
}

/** What `lbfgs` returns. */
export interface LbfgsResult {
  readonly x: Float64Array;
  readonly value: number;
  readonly iterations: number;
  readonly converged: boolean;
}

/**
 * Minimises a smooth function with L-BFGS (Nocedal & Wright, Algorithm 7.4 and 7.5) and a
 * backtracking Armijo line search. Returns the best point seen. Non-finite values at the start
 * raise FitError; non-finite values during the search shrink the step.
 */
export function lbfgs(f: ValueAndGradient, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const n = x0.length;
  const maxIt = options.maxIterations ?? 200;
  const m = options.history ?? 10;
  const gtol = options.gradTolerance ?? 1e-9;
  const ftol = options.valueTolerance ?? 1e-12;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let fx = f(x, g);
  if (!Number.isFinite(fx)) throw new FitError(
    "L-BFGS: the objective is not finite at the start point",
    { iteration: 0, lastLoss: fx },
  );
  const sHist: Float64Array[] = [];
  const yHist: Float64Array[] = [];
  const rhoHist: number[] = [];
  const alpha = new Float64Array(m);
  const d = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  let it = 0;
  let converged = false;
  for (; it < maxIt; it++) {
    let gmax = 0;
    for (let i = 0; i < n; i++) gmax = Math.max(gmax, Math.abs(g[i]!));
    if (gmax < gtol) {
      converged = true;
      break;
    }
    // Two-loop recursion: d = −H g.
    for (let i = 0; i < n; i++) d[i] = -g[i]!;
    const h = sHist.length;
    for (let k = h - 1; k >= 0; k--) {
      const s = sHist[k]!;
      const y = yHist[k]!;
      let a = 0;
      for (let i = 0; i < n; i++) a += s[i]! * d[i]!;
      a *= rhoHist[k]!;
      alpha[k] = a;
      for (let i = 0; i < n; i++) d[i] = d[i]! - a * y[i]!;
    }
    if (h > 0) {
      const s = sHist[h - 1]!;
      const y = yHist[h - 1]!;
      let sy = 0;
      let yy = 0;
      for (let i = 0; i < n; i++) {
        sy += s[i]! * y[i]!;
        yy += y[i]! * y[i]!;
      }
      const gamma = sy / yy;
      for (let i = 0; i < n; i++) d[i] = d[i]! * gamma;
    } else {
      // First step: scale so the step has length at most 1.
      let norm = 0;
      for (let i = 0; i < n; i++) norm += d[i]! * d[i]!;
      norm = Math.sqrt(norm);
      if (norm > 1) for (let i = 0; i < n; i++) d[i] = d[i]! / norm;
    }
    for (let k = 0; k < h; k++) {
      const s = sHist[k]!;
      const y = yHist[k]!;
      let b = 0;
      for (let i = 0; i < n; i++) b += y[i]! * d[i]!;
      b *= rhoHist[k]!;
      const c = alpha[k]! - b;
      for (let i = 0; i < n; i++) d[i] = d[i]! + c * s[i]!;
    }
    let slope = 0;
    for (let i = 0; i < n; i++) slope += g[i]! * d[i]!;
    if (!(slope < 0)) {
      // Not a descent direction (bad curvature history): restart from steepest descent.
      sHist.length = 0;
      yHist.length = 0;
      rhoHist.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      slope = 0;
      for (let i = 0; i < n; i++) slope += g[i]! * d[i]!;
    }
    // Armijo backtracking.
    let step = 1;
    let fNew = NaN;
    let accepted = false;
    for (let ls = 0; ls < 60; ls++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i]! + step * d[i]!;
      fNew = f(xNew, gNew);
      if (Number.isFinite(fNew) && fNew <= fx + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) {
      converged = true; // no decrease possible along d at machine precision
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    let sy = 0;
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i]! - x[i]!;
      y[i] = gNew[i]! - g[i]!;
      sy += s[i]! * y[i]!;
    }
    if (sy > 1e-12) {
      if (sHist.length === m) {
        sHist.shift();
        yHist.shift();
        rhoHist.shift();
      }
      sHist.push(s);
      yHist.push(y);
      rhoHist.push(1 / sy);
    }
    const decrease = fx - fNew;
    x.set(xNew);
    g.set(gNew);
    fx = fNew;
    if (decrease <= ftol * Math.max(1, Math.abs(fx))) {
      converged = true;
      it++;
      break;
    }
  }
  return { x, value: fx, iterations: it, converged };
}

/** Huber loss ρ_δ(r) and its derivative, written into `out` as [value, derivative]. */
export function huber(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

/** Derivative of `huber` with respect to r. */
export function huberDerivative(r: number, delta: number): number {
  return r > delta ? delta : r < -delta ? -delta : r;
}

/** What `multiStart` returns: the winning fit and which start won. */
export interface MultiStartResult extends LbfgsResult {
  readonly winningStart: number;
  readonly numStarts: number;
}

/**
 * Runs L-BFGS from several seeded starts and keeps the lowest value (P7's multi-start driver).
 * Starts whose objective is not finite are skipped and counted; if every start fails, FitError.
 * @param makeStart writes start number `i` into `x` using `rng`
 */
export function multiStart(
  f: ValueAndGradient,
  numParams: number,
  numStarts: number,
  makeStart: (i: number, x: Float64Array, rng: Rng) => void,
  rng: Rng,
  options: LbfgsOptions = {},
): MultiStartResult {
  let best: LbfgsResult | null = null;
  let winner = -1;
  const x0 = new Float64Array(numParams);
  for (let i = 0; i < numStarts; i++) {
    makeStart(i, x0, rng);
    let res: LbfgsResult;
    try {
      res = lbfgs(f, x0, options);
    } catch (e) {
      if (e instanceof FitError) continue;
      throw e;
    }
    if (best === null || res.value < best.value) {
      best = res;
      winner = i;
    }
  }
  if (best === null) throw new FitError(`every one of ${numStarts} starts gave a non-finite objective`);
  return { ...best, winningStart: winner, numStarts };
}

/** Options of `minimizeOnSimplex`. */
export interface SimplexMinimizeOptions {
  readonly maxIterations?: number;
  readonly tolerance?: number;
}

/**
 * Minimises a smooth function over { p : Σp = 1, lower ≤ p ≤ upper } by projected gradient
 * descent with backtracking (Beck & Teboulle's monotone variant). Converges to a stationary
 * point; for convex objectives (BiMix, the linear law) that is the optimum. Start from the best
 * of a candidate search for non-convex laws.
 */
export function minimizeOnSimplex(
  f: ValueAndGradient,
  start: Float64Array,
  box: Box,
  options: SimplexMinimizeOptions = {},
): { p: Float64Array; value: number; iterations: number } {
  const k = start.length;
  const maxIt = options.maxIterations ?? 2000;
  const tol = options.tolerance ?? 1e-12;
  let p = repairEuclidean(start, box);
  const g = new Float64Array(k);
  const trial = new Float64Array(k);
  const gTrial = new Float64Array(k);
  const moved = new Float64Array(k);
  let fp = f(p, g);
  let step = 1;
  let it = 0;
  for (; it < maxIt; it++) {
    let improved = false;
    for (let ls = 0; ls < 80; ls++) {
      for (let i = 0; i < k; i++) moved[i] = p[i]! - step * g[i]!;
      repairEuclidean(moved, box, trial);
      let decrease = 0;
      let dist2 = 0;
      for (let i = 0; i < k; i++) {
        const dlt = trial[i]! - p[i]!;
        decrease += g[i]! * dlt;
        dist2 += dlt * dlt;
      }
      if (dist2 === 0) break;
      const ft = f(trial, gTrial);
      if (Number.isFinite(ft) && ft <= fp + decrease + dist2 / (2 * step)) {
        const gain = fp - ft;
        p = Float64Array.from(trial);
        g.set(gTrial);
        fp = ft;
        improved = gain > tol * Math.max(1, Math.abs(fp));
        step *= 2;
        break;
      }
      step *= 0.5;
    }
    if (!improved) break;
  }
  return { p, value: fp, iterations: it };
}

/**
 * Indices of the `k` smallest values of `x` (ties broken by lower index), in ascending order of
 * value. O(n log k) with a bounded max-heap; no allocation per element.
 */
export function smallestK(x: ArrayLike<number>, k: number): Int32Array {
  const n = x.length;
  const kk = Math.min(k, n);
  const heap = new Int32Array(kk); // max-heap on (value, index)
  let size = 0;
  const worse = (a: number, b: number): boolean => x[a]! > x[b]! || (x[a]! === x[b]! && a > b);
  for (let i = 0; i < n; i++) {
    if (size < kk) {
      let c = size++;
      heap[c] = i;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        if (worse(heap[c]!, heap[parent]!)) {
          const t = heap[c]!;
          heap[c] = heap[parent]!;
          heap[parent] = t;
          c = parent;
        } else break;
      }
    } else if (worse(heap[0]!, i)) {
      heap[0] = i;
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        const r = l + 1;
        let m = c;
        if (l < size && worse(heap[l]!, heap[m]!)) m = l;
        if (r < size && worse(heap[r]!, heap[m]!)) m = r;
        if (m === c) break;
        const t = heap[c]!;
        heap[c] = heap[m]!;
        heap[m] = t;
        c = m;
      }
    }
  }
  const out = Int32Array.from(heap.subarray(0, size));
  out.sort((a, b) => x[a]! - x[b]! || a - b);
  return out;
}
