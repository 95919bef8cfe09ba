// Support diagnostics of a recommendation: does the runs table back the answer, or is it an
// extrapolation? Four checks, each a pure function of the runs, the recommendation and the law's
// cross-validated error: distance to the nearest run against the runs' own nearest-neighbour
// spacing, shares outside the range the runs cover, corner solutions, and a predicted gain over
// the best run larger than the cross-validated error supports. The thresholds are constants
// below, chosen from first principles (not fitted to any benchmark) and documented in the README.

import type { Box } from "./simplex.js";

/** One finding about a recommendation: a stable `code`, a sentence, and the numbers behind it. */
export interface Diagnostic {
  readonly code: string;
  readonly message: string;
  readonly [figure: string]: unknown;
}

/** A recommendation is "far" when its nearest run is this many times the median nearest-neighbour distance. */
export const FAR_FACTOR = 2;
/** A share is outside the runs' range when it leaves [min, max] over the runs by more than this. */
export const RANGE_SLACK = 0.01;
/** A corner: one domain holds at least this share (and no run went that far). */
export const CORNER_SHARE = 0.9;
/**
 * Predicted gain over the best run is unsupported above this many cross-validated RMSEs when the
 * recommendation lies where the runs do not (far from them, or a share outside their range):
 * among the runs the CV error measures the law's accuracy; beyond them it does not.
 */
export const GAIN_RMSE_FACTOR = 2;
/** Out-of-fold Spearman ρ below which the law's ranking is called weak (a conventional "moderate" correlation). */
export const WEAK_SPEARMAN = 0.5;

/** Hellinger-type distance between mixtures: Euclidean distance of √p (bounded by √2). */
export function mixtureDistance(a: Float64Array, ai: number, b: Float64Array, bi: number, k: number): number {
  let s = 0;
  for (let j = 0; j < k; j++) {
    const d = Math.sqrt(a[ai + j]!) - Math.sqrt(b[bi + j]!);
    s += d * d;
  }
  return Math.sqrt(s);
}

/** Distance from each row of `weights` to its nearest other row (Infinity for a single row). */
export function nearestNeighbourDistances(weights: Float64Array, k: number): Float64Array {
  const n = weights.length / k;
  const out = new Float64Array(n).fill(Infinity);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = mixtureDistance(weights, i * k, weights, j * k, k);
      if (d < out[i]!) out[i] = d;
      if (d < out[j]!) out[j] = d;
    }
  }
  return out;
}

function median(x: Float64Array): number {
  const s = Float64Array.from(x).sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Inputs of `supportDiagnostics`. */
export interface SupportInput {
  readonly domains: readonly string[];
  /** The runs' mixtures (numRuns × numDomains, row-major). */
  readonly weights: Float64Array;
  /** The runs' target values (lower is better). */
  readonly target: Float64Array;
  readonly recommendation: Float64Array;
  /** The law's prediction at the recommendation (NaN when it does not predict). */
  readonly predicted: number;
  /** Root mean squared out-of-fold error of the law (NaN when not cross-validated). */
  readonly cvRmse: number;
  /** Out-of-fold Spearman ρ of the law (NaN when not cross-validated). */
  readonly cvSpearman: number;
  /** The constraint box the recommendation was searched in. */
  readonly box: Box;
  /** What to run next, appended to each message (e.g. a `mixlab suggest …` line). */
  readonly nextStep: string;
}

/**
 * Runs the support checks and returns the findings (empty when the runs support the answer).
 * Codes: `far-from-runs`, `outside-range`, `corner-solution`, `pinned-at-bounds`, `gain-unsupported`,
 * `weak-ranking`.
 */
export function supportDiagnostics(s: SupportInput): Diagnostic[] {
  const k = s.domains.length;
  const n = s.target.length;
  const out: Diagnostic[] = [];
  const rec = s.recommendation;
  const hint = s.nextStep ? `; ${s.nextStep}` : "";
  // 1. Distance to the nearest run against the runs' typical spacing.
  let beyondRuns = false;
  if (n >= 2) {
    const nn = nearestNeighbourDistances(s.weights, k);
    const typical = median(nn);
    let nearest = Infinity;
    let nearestRun = -1;
    for (let i = 0; i < n; i++) {
      const d = mixtureDistance(rec, 0, s.weights, i * k, k);
      if (d < nearest) {
        nearest = d;
        nearestRun = i;
      }
    }
    beyondRuns = nearest > FAR_FACTOR * typical;
    if (nearest > FAR_FACTOR * typical) {
      out.push({
        code: "far-from-runs",
        message:
          `the recommendation is ${nearest.toFixed(3)} from the nearest run (run ${nearestRun + 1}), ` +
          `${(nearest / Math.max(typical, 1e-12)).toFixed(1)}× the median distance between neighbouring runs ` +
          `(${typical.toFixed(3)}): the law extrapolates there${hint}`,
        nearestRunDistance: nearest,
        nearestRun: nearestRun + 1,
        typicalNeighbourDistance: typical,
        ratio: nearest / Math.max(typical, 1e-12),
      });
    }
  }
  // 2. Shares outside the range the runs cover.
  const outside: { domain: string; share: number; min: number; max: number }[] = [];
  for (let j = 0; j < k; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = s.weights[i * k + j]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (rec[j]! > hi + RANGE_SLACK || rec[j]! < lo - RANGE_SLACK) outside.push({
      domain: s.domains[j]!,
      share: rec[j]!,
      min: lo,
      max: hi,
    });
  }
  if (outside.length) {
    beyondRuns = true;
    out.push({
      code: "outside-range",
      message:
        `${outside.length === 1 ? "domain" : "domains"} ` +
        `${outside
          .map((o) => `${o.domain} at ${o.share.toFixed(3)} (runs: ${o.min.toFixed(3)}–${o.max.toFixed(3)})`)
          .join(", ")}` +
        ` outside the range the runs cover${hint}`,
      domains: outside,
    });
  }
  // 3. Corner solutions: nearly everything on one domain, or many shares pinned at a bound.
  let top = 0;
  for (let j = 1; j < k; j++) if (rec[j]! > rec[top]!) top = j;
  let runMax = 0;
  for (let i = 0; i < n; i++) runMax = Math.max(runMax, s.weights[i * k + top]!);
  if (rec[top]! >= CORNER_SHARE && runMax < rec[top]! - RANGE_SLACK) {
    out.push({
      code: "corner-solution",
      message:
        `${(rec[top]! * 100).toFixed(1)}% of the mixture on ${s.domains[top]} ` +
        `(at most ${(runMax * 100).toFixed(1)}% in any run): a monotone law's vertex, not a measured optimum${hint}`,
      domain: s.domains[top],
      share: rec[top]!,
      runMax,
    });
  }
  const pinned: string[] = [];
  for (let j = 0; j < k; j++) {
    const atUpper = s.box.upper[j]! < 1 && Math.abs(rec[j]! - s.box.upper[j]!) < 1e-6;
    const atLower = s.box.lower[j]! > 0 && Math.abs(rec[j]! - s.box.lower[j]!) < 1e-6;
    if (atUpper || atLower) pinned.push(s.domains[j]!);
  }
  if (pinned.length >= Math.max(2, Math.ceil(k / 2))) {
    out.push({
      code: "pinned-at-bounds",
      message:
        `${pinned.length} of ${k} shares sit exactly on a bound (${pinned.join(", ")}): ` +
        `the constraints, not the law, chose them${hint}`,
      domains: pinned,
    });
  }
  // 4. A predicted gain over the best run that the cross-validated error does not support.
  if (Number.isFinite(s.predicted) && Number.isFinite(s.cvRmse) && n > 0) {
    let best = Infinity;
    for (let i = 0; i < n; i++) best = Math.min(best, s.target[i]!);
    const gain = best - s.predicted;
    if (gain > GAIN_RMSE_FACTOR * s.cvRmse && beyondRuns) {
      out.push({
        code: "gain-unsupported",
        message:
          `predicted ${s.predicted.toPrecision(5)}, ${gain.toPrecision(3)} below the best run ` +
          `(${best.toPrecision(5)}), more than ${GAIN_RMSE_FACTOR}× the cross-validated error ` +
          `(RMSE ${s.cvRmse.toPrecision(3)}), where the runs do not reach${hint}`,
        predicted: s.predicted,
        bestObserved: best,
        gain,
        cvRmse: s.cvRmse,
      });
    }
  }
  // 5. A law that ranks held-out runs poorly cannot be trusted to rank candidate mixtures.
  if (n > 0 && !(s.cvSpearman >= WEAK_SPEARMAN) && !Number.isNaN(s.cvRmse)) {
    out.push({
      code: "weak-ranking",
      message:
        "the law ranks held-out runs poorly (cross-validated Spearman " +
        `${Number.isFinite(s.cvSpearman) ? s.cvSpearman.toFixed(3) : "undefined"} < ${WEAK_SPEARMAN}): ` +
        `its recommendation is close to a guess${hint}`,
      cvSpearman: s.cvSpearman,
    });
  }
  return out;
}
