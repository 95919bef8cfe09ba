// Choosing a law by evidence (`mixlab fit --method auto`). Out-of-fold predictions of each law are
// scored on what a recommendation needs: rank agreement (Spearman ρ, pairwise accuracy) and how
// well the law picks the best runs (the regret of the runs it ranks best). The criterion:
//   1. Rank filter: keep the laws whose out-of-fold Spearman ρ is not clearly worse than the best
//      law's: Fisher z(ρ) ≥ z(ρ_best) − 1/√(n − 3) (one standard error of z; a paired difference
//      has a smaller error, so this errs toward keeping laws).
//   2. Among those, the lowest top-decile regret: the mean true target of the ⌈n/10⌉ runs the law
//      ranks best (at least 3), minus the mean of the truly best ⌈n/10⌉, in standard deviations
//      of the target. Ties (within 1e-9; common when a table has few runs) go to the lower
//      out-of-fold RMSE.

import { agreement, mean, std, type AgreementReport } from "./stats.js";

/** Cross-validated recommendation quality of one law. */
export interface SelectionReport extends AgreementReport {
  /** Root mean squared out-of-fold error. */
  readonly rmse: number;
  /** Runs in the "best decile" (⌈n/10⌉, at least 3, at most n). */
  readonly topCount: number;
  /** (mean true target of the law's top runs − mean of the true top runs) / sd(target); 0 is perfect. */
  readonly topDecileRegret: number;
  /** True target of the run the law ranks first, minus the best run's, in target units. */
  readonly firstRegret: number;
  /** Share of the law's top runs that are among the true top runs. */
  readonly topPrecision: number;
}

function order(x: Float64Array): Int32Array {
  return Int32Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a]! - x[b]! || a - b);
}

/** Scores out-of-fold predictions against the truth (lower target is better). */
export function selectionReport(predicted: Float64Array, actual: Float64Array): SelectionReport {
  const n = actual.length;
  const base = agreement(predicted, actual);
  const m = Math.min(n, Math.max(3, Math.ceil(n / 10)));
  const byPred = order(predicted);
  const byTrue = order(actual);
  const trueTop = new Set<number>();
  let lawMean = 0;
  let bestMean = 0;
  for (let i = 0; i < m; i++) {
    trueTop.add(byTrue[i]!);
    lawMean += actual[byPred[i]!]! / m;
    bestMean += actual[byTrue[i]!]! / m;
  }
  let hits = 0;
  for (let i = 0; i < m; i++) if (trueTop.has(byPred[i]!)) hits++;
  const sd = std(actual);
  return {
    ...base,
    rmse: Math.sqrt(base.mse),
    topCount: m,
    topDecileRegret: sd > 0 ? (lawMean - bestMean) / sd : 0,
    firstRegret: actual[byPred[0]!]! - actual[byTrue[0]!]!,
    topPrecision: hits / m,
  };
}

/** Fisher's z of a correlation (clamped away from ±1; NaN counts as no correlation). */
export function fisherZ(r: number): number {
  const c = Number.isFinite(r) ? Math.max(-0.999999, Math.min(0.999999, r)) : 0;
  return Math.atanh(c);
}

/** The outcome of `chooseByCriterion`. */
export interface Choice {
  /** The chosen candidate's name. */
  readonly chosen: string;
  /** Names that passed the rank filter. */
  readonly rankFiltered: readonly string[];
  /** One sentence: why this one. */
  readonly reason: string;
}

/** The criterion in words (for the JSON's `fitQuality.criterion`). */
export const CRITERION =
  "keep the laws whose out-of-fold Spearman ρ is within one standard error of the best " +
  "(Fisher z ≥ z_best − 1/√(n−3)); among them, the lowest top-decile regret (true target of the runs " +
  "the law ranks best, minus the best runs', in target sd); ties to the lower out-of-fold RMSE";

/**
 * Applies the documented criterion to cross-validated reports.
 * @param reports by candidate name, each with the same n
 */
export function chooseByCriterion(reports: ReadonlyMap<string, SelectionReport>): Choice {
  const names = [...reports.keys()];
  const n = reports.get(names[0]!)!.n;
  let bestZ = -Infinity;
  let bestName = names[0]!;
  for (const name of names) {
    const z = fisherZ(reports.get(name)!.spearman);
    if (z > bestZ) {
      bestZ = z;
      bestName = name;
    }
  }
  const slack = n > 3 ? 1 / Math.sqrt(n - 3) : Infinity;
  const kept = names.filter((name) => fisherZ(reports.get(name)!.spearman) >= bestZ - slack);
  let chosen = kept[0]!;
  for (const name of kept) {
    const a = reports.get(name)!;
    const b = reports.get(chosen)!;
    if (
      a.topDecileRegret < b.topDecileRegret - 1e-9 ||
      (Math.abs(a.topDecileRegret - b.topDecileRegret) <= 1e-9 && a.rmse < b.rmse)
    ) chosen = name;
  }
  const c = reports.get(chosen)!;
  const reason =
    `${chosen}: Spearman ${c.spearman.toFixed(4)} ` +
    `${chosen === bestName
      ? "(the best)"
      : `(within one standard error of ${bestName}'s ${reports.get(bestName)!.spearman.toFixed(4)})`}` +
    ` and the lowest top-decile regret among ${kept.length === 1 ? "the laws kept" : kept.join(", ")} ` +
    `(${c.topDecileRegret.toFixed(3)} sd)`;
  return { chosen, rankFiltered: kept, reason };
}

/** Mean of several prediction vectors (an equal-weight ensemble's out-of-fold predictions). */
export function meanPredictions(vectors: readonly Float64Array[]): Float64Array {
  const n = vectors[0]!.length;
  const out = new Float64Array(n);
  for (const v of vectors) for (let i = 0; i < n; i++) out[i] = out[i]! + v[i]! / vectors.length;
  return out;
}

/** Standard deviation of a column of values (re-exported helper for bootstrap spreads). */
export function spread(values: ArrayLike<number>): { mean: number; sd: number } {
  return { mean: mean(values), sd: std(values) };
}
