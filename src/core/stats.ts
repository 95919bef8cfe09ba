// Rank and correlation statistics used to judge a law: RegMix's premise is that rankings of
// mixtures transfer across scales, so Spearman ρ, Kendall τ-b and pairwise decision accuracy are
// the headline numbers; Pearson r, MSE and R² complete the fit report.

import { invariant } from "../errors.js";

/** Arithmetic mean. */
export function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s / x.length;
}

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function std(x: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return 0;
  const m = mean(x);
  let s = 0;
  for (let i = 0; i < n; i++) s += (x[i]! - m) ** 2;
  return Math.sqrt(s / (n - 1));
}

/** Pearson product-moment correlation; NaN when either input is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  invariant(x.length === y.length, "pearson: lengths differ");
  const n = x.length;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks 1..n with ties given their average rank (as scipy.stats.rankdata "average"). */
export function rank(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => x[a]! - x[b]!);
  const r = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]!] === x[order[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) r[order[t]!] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation (Pearson on average ranks; matches scipy.stats.spearmanr). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(rank(x), rank(y));
}

/** Kendall τ-b, with the tie correction (matches scipy.stats.kendalltau default). O(n²). */
export function kendall(x: ArrayLike<number>, y: ArrayLike<number>): number {
  invariant(x.length === y.length, "kendall: lengths differ");
  const n = x.length;
  let concordant = 0;
  let discordant = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiesX++;
      else if (dy === 0) tiesY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  return (concordant - discordant) / Math.sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
}

/**
 * Pairwise decision accuracy: over all pairs whose true values differ, the share for which the
 * prediction orders the pair the same way (a predicted tie counts one half). This is the
 * question a practitioner asks of a law: "of two candidate mixtures, does it pick the better?"
 */
export function pairwiseAccuracy(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  invariant(predicted.length === actual.length, "pairwiseAccuracy: lengths differ");
  const n = predicted.length;
  let agree = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const da = actual[i]! - actual[j]!;
      if (da === 0) continue;
      const dp = predicted[i]! - predicted[j]!;
      total++;
      if (dp === 0) agree += 0.5;
      else if (dp > 0 === da > 0) agree++;
    }
  }
  return total === 0 ? NaN : agree / total;
}

/** Mean squared error. */
export function mse(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  invariant(predicted.length === actual.length, "mse: lengths differ");
  let s = 0;
  for (let i = 0; i < actual.length; i++) s += (predicted[i]! - actual[i]!) ** 2;
  return s / actual.length;
}

/** Coefficient of determination 1 − SS_res / SS_tot. */
export function rSquared(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  const m = mean(actual);
  let res = 0;
  let tot = 0;
  for (let i = 0; i < actual.length; i++) {
    res += (predicted[i]! - actual[i]!) ** 2;
    tot += (actual[i]! - m) ** 2;
  }
  return 1 - res / tot;
}

/** Every agreement statistic at once, as reported by `mixlab fit`. */
export interface AgreementReport {
  readonly spearman: number;
  readonly kendall: number;
  readonly pearson: number;
  readonly pairwiseAccuracy: number;
  readonly mse: number;
  readonly rSquared: number;
  readonly n: number;
}

/** Computes the agreement report of predictions against actual values. */
export function agreement(predicted: ArrayLike<number>, actual: ArrayLike<number>): AgreementReport {
  return {
    spearman: spearman(predicted, actual),
    kendall: kendall(predicted, actual),
    pearson: pearson(predicted, actual),
    pairwiseAccuracy: pairwiseAccuracy(predicted, actual),
    mse: mse(predicted, actual),
    rSquared: rSquared(predicted, actual),
    n: actual.length,
  };
}
