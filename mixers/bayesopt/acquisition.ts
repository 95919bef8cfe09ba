// Acquisition functions for minimising a loss (ALGORITHMS.md §4.1), as pure functions of a
// posterior mean μ and standard deviation σ: log expected improvement (computed stably far in
// the tail, as in Ament et al., "Unexpected improvements to expected improvement", NeurIPS 2023),
// a lower confidence bound (the UCB of the negated loss), and Huang et al.'s augmented EI
// ("Sequential kriging optimization using multiple-fidelity evaluations", 2006) for choosing a
// fidelity by cost.

const SQRT2 = Math.SQRT2;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** exp(x²)·erfc(x) for x ≥ 0 (Numerical Recipes' erfcc Chebyshev fit; relative error < 1.2e-7). */
export function erfcx(x: number): number {
  if (x < 0) return 2 * Math.exp(x * x) - erfcx(-x);
  const t = 1 / (1 + 0.5 * x);
  return t * Math.exp(
    -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
}

/** Standard normal density and distribution function. */
export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z - LOG_SQRT_2PI);
}
export function normalCdf(z: number): number {
  return z < 0 ? 0.5 * erfcx(-z / SQRT2) * Math.exp(-0.5 * z * z) : 1 - 0.5 * erfcx(z / SQRT2) * Math.exp(-0.5 * z * z);
}

/**
 * log h(z) with h(z) = φ(z) + zΦ(z), the expected improvement of a unit normal over a threshold
 * z below its mean. Stable for very negative z (asymptotic series below −8, relative error < 2e-6).
 */
export function logH(z: number): number {
  if (z > -8) {
    const h =
      z >= 0 ? normalPdf(z) + z * normalCdf(z) : normalPdf(z) * (1 + z * Math.sqrt(Math.PI / 2) * erfcx(-z / SQRT2));
    return Math.log(Math.max(h, 1e-300));
  }
  const z2 = z * z;
  const z4 = z2 * z2;
  return -0.5 * z2 - LOG_SQRT_2PI - Math.log(z2) + Math.log(1 - 3 / z2 + 15 / z4 - 105 / (z4 * z2) + 945 / (z4 * z4));
}

/** Expected improvement below `best` of N(μ, σ²): σ·h((best − μ)/σ). */
export function expectedImprovement(mu: number, sigma: number, best: number): number {
  return sigma > 0 ? sigma * Math.exp(logH((best - mu) / sigma)) : Math.max(best - mu, 0);
}

/** log EI (−∞ when σ = 0 and no improvement). */
export function logExpectedImprovement(mu: number, sigma: number, best: number): number {
  if (!(sigma > 0)) return best > mu ? Math.log(best - mu) : -Infinity;
  return Math.log(sigma) + logH((best - mu) / sigma);
}

/** Lower confidence bound (to be minimised): μ − β σ. */
export function lowerConfidenceBound(mu: number, sigma: number, beta: number): number {
  return mu - beta * sigma;
}

/**
 * Huang et al.'s augmented EI at fidelity z, in log form: log EI at the target fidelity +
 * log corr(f(x, z), f(x, 1)) + log(1 − σ_n / √(var(x, z) + σ_n²)) + log(cost(1) / cost(z)).
 */
export function logAugmentedEi(
  logEiTarget: number,
  correlation: number,
  varianceAtZ: number,
  noiseVariance: number,
  costRatio: number,
): number {
  const corr = Math.max(correlation, 1e-12);
  const noiseTerm = 1 - Math.sqrt(noiseVariance) / Math.sqrt(varianceAtZ + noiseVariance);
  return logEiTarget + Math.log(corr) + Math.log(Math.max(noiseTerm, 1e-12)) + Math.log(costRatio);
}
