// A Gaussian-process surrogate over mixtures (ALGORITHMS.md §4.1). Inputs: the square-root map
// x = √p of a mixture (the simplex becomes part of the unit sphere, Euclidean distance is the
// Hellinger distance, and exact zeros — common in RegMix designs — stay finite, unlike log-ratio
// maps), optionally with a fidelity z ∈ (0, 1]. Kernel: Matérn-5/2 with one length scale per
// domain (ARD); with fidelities, Wu et al.'s linear-truncated form as in BoTorch's
// SingleTaskMultiFidelityGP: K = σ0² m(x,x') + σ1² (1−z)(1−z')(1+zz')^π m(x,x'), so at the
// target fidelity (z = 1) only the first term remains. Outcomes are standardised; the noise level
// is learned. Hyperparameters maximise the log marginal likelihood plus weak log-normal priors
// (MAP, as BoTorch's default priors do), by L-BFGS from seeded restarts.

import type { Rng } from "../../src/rng/index.js";
import { FitError } from "../../src/errors.js";
import { lbfgs } from "../../src/core/optimize.js";

const SQRT5 = Math.sqrt(5);

/** Cholesky factor L (lower, row-major n×n) of A + jitter·I, raising the jitter on failure. */
export function cholesky(a: Float64Array, n: number, jitter0 = 1e-9): { l: Float64Array; jitter: number } {
  let jitter = jitter0;
  for (let attempt = 0; attempt < 8; attempt++, jitter *= 10) {
    const l = new Float64Array(n * n);
    let ok = true;
    for (let j = 0; j < n && ok; j++) {
      let s = a[j * n + j]! + jitter;
      for (let k = 0; k < j; k++) s -= l[j * n + k]! * l[j * n + k]!;
      if (!(s > 0) || !Number.isFinite(s)) {
        ok = false;
        break;
      }
      const d = Math.sqrt(s);
      l[j * n + j] = d;
      for (let i = j + 1; i < n; i++) {
        let t = a[i * n + j]!;
        const li = i * n;
        const lj = j * n;
        for (let k = 0; k < j; k++) t -= l[li + k]! * l[lj + k]!;
        l[li + j] = t / d;
      }
    }
    if (ok) return { l, jitter };
  }
  throw new FitError(`Cholesky failed: the kernel matrix is not positive definite even with jitter ${jitter / 10}`);
}

/** K⁻¹ (symmetric, row-major) from K's Cholesky factor L: invert L, then form L⁻ᵀ L⁻¹. */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  // M = L⁻¹ (lower triangular), column by column of the identity, exploiting the zeros.
  const m = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    m[j * n + j] = 1 / l[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      const li = i * n;
      for (let k = j; k < i; k++) s -= l[li + k]! * m[k * n + j]!;
      m[li + j] = s / l[li + i]!;
    }
  }
  // K⁻¹ = Mᵀ M: entry (i, j) = Σ_{k ≥ max(i, j)} M[k][i] M[k][j].
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const mk = k * n;
    for (let i = 0; i <= k; i++) {
      const a = m[mk + i]!;
      if (a === 0) continue;
      const oi = i * n;
      for (let j = 0; j <= i; j++) out[oi + j] = out[oi + j]! + a * m[mk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j]!;
  return out;
}

/** Solves L y = b (forward substitution), in place into `out`. */
export function forwardSolve(
  l: Float64Array,
  n: number,
  b: Float64Array,
  out: Float64Array = new Float64Array(n),
): Float64Array {
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    const li = i * n;
    for (let k = 0; k < i; k++) s -= l[li + k]! * out[k]!;
    out[i] = s / l[li + i]!;
  }
  return out;
}

/** Solves Lᵀ x = y (back substitution). */
export function backSolve(
  l: Float64Array,
  n: number,
  y: Float64Array,
  out: Float64Array = new Float64Array(n),
): Float64Array {
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * out[k]!;
    out[i] = s / l[i * n + i]!;
  }
  return out;
}

/** Matérn-5/2 correlation at scaled distance r. */
export function matern52(r: number): number {
  return (1 + SQRT5 * r + (5 / 3) * r * r) * Math.exp(-SQRT5 * r);
}

/** Hyperparameters in natural units. */
export interface GpHyper {
  readonly lengthscales: Float64Array;
  readonly outputVariance: number;
  readonly noiseVariance: number;
  /** Multi-fidelity only: variance of the bias kernel and the power π. */
  readonly biasVariance: number;
  readonly power: number;
}

/** A fitted GP. */
export interface Gp {
  readonly dims: number;
  readonly multiFidelity: boolean;
  readonly x: Float64Array; // (n × dims) features
  readonly z: Float64Array; // (n) fidelities (1 when single-fidelity)
  readonly n: number;
  /** The outcomes it was conditioned on, in original units. */
  readonly y: Float64Array;
  readonly hyper: GpHyper;
  readonly yMean: number;
  readonly yStd: number;
  readonly l: Float64Array;
  readonly alpha: Float64Array;
  readonly logMarginalLikelihood: number;
}

/** Square-root feature map of mixtures (rows × k) → (rows × k). */
export function features(p: Float64Array): Float64Array {
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = Math.sqrt(Math.max(0, p[i]!));
  return out;
}

function fidelityFactor(z1: number, z2: number, power: number): number {
  return (1 - z1) * (1 - z2) * Math.pow(1 + z1 * z2, power);
}

/** Kernel value between feature rows i of a (fidelity za) and j of b (fidelity zb). */
export function kernel(
  a: Float64Array,
  i: number,
  za: number,
  b: Float64Array,
  j: number,
  zb: number,
  d: number,
  h: GpHyper,
  mf: boolean,
): number {
  let r2 = 0;
  for (let t = 0; t < d; t++) {
    const u = (a[i * d + t]! - b[j * d + t]!) / h.lengthscales[t]!;
    r2 += u * u;
  }
  const m = matern52(Math.sqrt(r2));
  return mf ? h.outputVariance * m + h.biasVariance * fidelityFactor(za, zb, h.power) * m : h.outputVariance * m;
}

/** Unpacks θ = [log ℓ (d), log σ0², log σn², (log σ1², log π)]. */
function unpack(theta: Float64Array, d: number, mf: boolean): GpHyper {
  return {
    lengthscales: Float64Array.from(theta.subarray(0, d), Math.exp),
    outputVariance: Math.exp(theta[d]!),
    noiseVariance: Math.exp(theta[d + 1]!) + 1e-8,
    biasVariance: mf ? Math.exp(theta[d + 2]!) : 0,
    power: mf ? Math.exp(theta[d + 3]!) : 0,
  };
}

/** Weak priors (MAP): log-normal on length scales (median 0.5 in √p units), variances, noise, power. */
const PRIOR = {
  logLengthMean: Math.log(0.5),
  logLengthSd: 1.2,
  logVarMean: 0,
  logVarSd: 2,
  logNoiseMean: Math.log(1e-2),
  logNoiseSd: 2.5,
  logPowerMean: 0,
  logPowerSd: 1,
};

/**
 * Negative log marginal likelihood (plus the negative log prior) and its gradient in θ.
 * ∂/∂θ log p(y) = ½ tr((ααᵀ − K⁻¹) ∂K/∂θ) (Rasmussen & Williams 2006, eq. 5.9).
 */
export function gpObjective(
  theta: Float64Array,
  grad: Float64Array,
  x: Float64Array,
  z: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  mf: boolean,
): number {
  const h = unpack(theta, d, mf);
  const K = new Float64Array(n * n);
  const M = new Float64Array(n * n); // Matérn correlations
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let r2 = 0;
      for (let t = 0; t < d; t++) {
        const u = (x[i * d + t]! - x[j * d + t]!) / h.lengthscales[t]!;
        r2 += u * u;
      }
      const m = matern52(Math.sqrt(r2));
      M[i * n + j] = m;
      M[j * n + i] = m;
      let v = h.outputVariance * m;
      if (mf) v += h.biasVariance * fidelityFactor(z[i]!, z[j]!, h.power) * m;
      K[i * n + j] = v;
      K[j * n + i] = v;
    }
    K[i * n + i] = K[i * n + i]! + h.noiseVariance;
  }
  let chol;
  try {
    chol = cholesky(K, n);
  } catch {
    grad.fill(0);
    return Infinity;
  }
  const { l } = chol;
  const alpha = backSolve(l, n, forwardSolve(l, n, y));
  let nll = 0;
  for (let i = 0; i < n; i++) nll += 0.5 * y[i]! * alpha[i]! + Math.log(l[i * n + i]!);
  nll += 0.5 * n * Math.log(2 * Math.PI);
  // W = ααᵀ − K⁻¹, with K⁻¹ = L⁻ᵀ L⁻¹ from the Cholesky factor (n³/3 flops).
  const kinv = choleskyInverse(l, n);
  const W = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) W[i] = alpha[Math.floor(i / n)]! * alpha[i % n]! - kinv[i]!;
  grad.fill(0);
  const SQ5 = SQRT5;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const w = W[i * n + j]!;
      if (w === 0) continue;
      const m = M[i * n + j]!;
      const fz = mf ? fidelityFactor(z[i]!, z[j]!, h.power) : 0;
      const scale = h.outputVariance + (mf ? h.biasVariance * fz : 0);
      // ∂m/∂log ℓ_t = (5/3)(1 + √5 r) e^{−√5 r} (Δ_t/ℓ_t)²
      let r2 = 0;
      for (let t = 0; t < d; t++) {
        const u = (x[i * d + t]! - x[j * d + t]!) / h.lengthscales[t]!;
        r2 += u * u;
      }
      const r = Math.sqrt(r2);
      const common = (5 / 3) * (1 + SQ5 * r) * Math.exp(-SQ5 * r) * scale;
      for (let t = 0; t < d; t++) {
        const u = (x[i * d + t]! - x[j * d + t]!) / h.lengthscales[t]!;
        grad[t] = grad[t]! - 0.5 * w * common * u * u;
      }
      grad[d] = grad[d]! - 0.5 * w * h.outputVariance * m;
      if (i === j) grad[d + 1] = grad[d + 1]! - 0.5 * w * (h.noiseVariance - 1e-8);
      if (mf) {
        grad[d + 2] = grad[d + 2]! - 0.5 * w * h.biasVariance * fz * m;
        grad[d + 3] = grad[d + 3]! - 0.5 * w * h.biasVariance * fz * Math.log(1 + z[i]! * z[j]!) * h.power * m;
      }
    }
  }
  // Priors.
  const addPrior = (idx: number, mean: number, sd: number): void => {
    const u = (theta[idx]! - mean) / sd;
    nll += 0.5 * u * u;
    grad[idx] = grad[idx]! + u / sd;
  };
  for (let t = 0; t < d; t++) addPrior(t, PRIOR.logLengthMean, PRIOR.logLengthSd);
  addPrior(d, PRIOR.logVarMean, PRIOR.logVarSd);
  addPrior(d + 1, PRIOR.logNoiseMean, PRIOR.logNoiseSd);
  if (mf) {
    addPrior(d + 2, PRIOR.logVarMean, PRIOR.logVarSd);
    addPrior(d + 3, PRIOR.logPowerMean, PRIOR.logPowerSd);
  }
  return nll;
}

/** Options of `fitGp`. */
export interface GpFitOptions {
  /** L-BFGS restarts besides the default start (default 2). */
  readonly restarts?: number;
  readonly maxIterations?: number;
  /** Fixed hyperparameters (skip fitting; used by fantasies). */
  readonly hyper?: GpHyper;
  /** Fit hyperparameters on a seeded subset of at most this many runs (default 300), then condition on all. */
  readonly maxFitPoints?: number;
}

/** Builds the posterior for given hyperparameters. */
export function conditionGp(
  x: Float64Array,
  z: Float64Array,
  y: Float64Array,
  dims: number,
  mf: boolean,
  hyper: GpHyper,
  yMean: number,
  yStd: number,
  lml = NaN,
): Gp {
  const n = y.length;
  const K = new Float64Array(n * n);
  const ys = Float64Array.from(y, (v) => (v - yMean) / yStd);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = kernel(x, i, z[i]!, x, j, z[j]!, dims, hyper, mf);
      K[i * n + j] = v;
      K[j * n + i] = v;
    }
    K[i * n + i] = K[i * n + i]! + hyper.noiseVariance;
  }
  const { l } = cholesky(K, n);
  const alpha = backSolve(l, n, forwardSolve(l, n, ys));
  return {
    dims,
    multiFidelity: mf,
    x,
    z,
    n,
    y: Float64Array.from(y),
    hyper,
    yMean,
    yStd,
    l,
    alpha,
    logMarginalLikelihood: lml,
  };
}

/**
 * Fits a GP to features x (n × dims), fidelities z (or null) and outcomes y.
 * @throws FitError when there are fewer than 2 observations or every restart fails
 */
export function fitGp(
  x: Float64Array,
  z: Float64Array | null,
  y: Float64Array,
  dims: number,
  rng: Rng,
  options: GpFitOptions = {},
): Gp {
  const n = y.length;
  if (n < 2) throw new FitError(`a GP needs at least 2 observations, got ${n}`);
  const mf = z !== null;
  const zz = z ?? new Float64Array(n).fill(1);
  let mean = 0;
  for (const v of y) mean += v;
  mean /= n;
  let sd = 0;
  for (const v of y) sd += (v - mean) ** 2;
  sd = Math.sqrt(sd / n) || 1;
  if (options.hyper) return conditionGp(x, zz, y, dims, mf, options.hyper, mean, sd);
  // Subset of data for the hyperparameters when n is large (the posterior still uses every run).
  const cap = options.maxFitPoints ?? 300;
  let fx = x;
  let fz = zz;
  let fy = Float64Array.from(y, (v) => (v - mean) / sd);
  let fn = n;
  if (n > cap) {
    const order = Int32Array.from({ length: n }, (_, i) => i);
    rng.derive("subset").shuffle(order);
    const keep = Int32Array.from(order.subarray(0, cap)).sort();
    fx = new Float64Array(cap * dims);
    fz = new Float64Array(cap);
    const sub = new Float64Array(cap);
    keep.forEach((r, i) => {
      fx.set(x.subarray(r * dims, (r + 1) * dims), i * dims);
      fz[i] = zz[r]!;
      sub[i] = fy[r]!;
    });
    fy = sub;
    fn = cap;
  }
  const p = dims + 2 + (mf ? 2 : 0);
  const f = (theta: Float64Array, g: Float64Array) => gpObjective(theta, g, fx, fz, fy, fn, dims, mf);
  let best: { x: Float64Array; value: number } | null = null;
  const restarts = options.restarts ?? 1;
  for (let s = 0; s <= restarts; s++) {
    const theta0 = new Float64Array(p);
    for (let t = 0; t < dims; t++)
      theta0[t] = s === 0 ? PRIOR.logLengthMean : PRIOR.logLengthMean + PRIOR.logLengthSd * rng.nextNormal();
    theta0[dims] = s === 0 ? 0 : 0.5 * rng.nextNormal();
    theta0[dims + 1] = s === 0 ? Math.log(1e-2) : Math.log(1e-2) + rng.nextNormal();
    if (mf) {
      theta0[dims + 2] = s === 0 ? 0 : 0.5 * rng.nextNormal();
      theta0[dims + 3] = 0;
    }
    let g0 = new Float64Array(p);
    if (!Number.isFinite(f(theta0, g0))) continue;
    const r = lbfgs(f, theta0, { maxIterations: options.maxIterations ?? 60, valueTolerance: 1e-9 });
    if (best === null || r.value < best.value) best = { x: r.x, value: r.value };
    g0 = new Float64Array(0);
  }
  if (!best) throw new FitError("every GP hyperparameter restart failed (non-positive-definite kernel)");
  return conditionGp(x, zz, y, dims, mf, unpack(best.x, dims, mf), mean, sd, -best.value);
}

/**
 * Posterior mean and variance (original units) at feature rows xs (m × dims), fidelities zs; an empty
 * `outVar` skips the variance (O(n) instead of O(n²) a row).
 */
export function predictGp(
  gp: Gp,
  xs: Float64Array,
  zs: Float64Array | null,
  outMean: Float64Array,
  outVar: Float64Array,
): void {
  const { n, dims, hyper, multiFidelity: mf } = gp;
  const m = xs.length / dims;
  const ks = new Float64Array(n);
  const v = new Float64Array(n);
  for (let c = 0; c < m; c++) {
    const zc = zs ? zs[c]! : 1;
    let mu = 0;
    for (let i = 0; i < n; i++) {
      const k = kernel(gp.x, i, gp.z[i]!, xs, c, zc, dims, hyper, mf);
      ks[i] = k;
      mu += k * gp.alpha[i]!;
    }
    outMean[c] = gp.yMean + gp.yStd * mu;
    if (outVar.length === 0) continue;
    forwardSolve(gp.l, n, ks, v);
    let q = 0;
    for (let i = 0; i < n; i++) q += v[i]! * v[i]!;
    const prior = kernel(xs, c, zc, xs, c, zc, dims, hyper, mf);
    const variance = Math.max(prior - q, 1e-12);
    outVar[c] = variance * gp.yStd * gp.yStd;
  }
}
