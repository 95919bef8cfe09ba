// Known answers for the selection metrics and criterion of `--method auto`, and for the support
// diagnostics (src/core/selection.ts, src/core/diagnostics.ts).
import { describe, expect, it } from "vitest";
import {
  selectionReport,
  chooseByCriterion,
  fisherZ,
  meanPredictions,
  type SelectionReport,
} from "../../src/core/selection.js";
import { supportDiagnostics, mixtureDistance, nearestNeighbourDistances } from "../../src/core/diagnostics.js";

describe("selectionReport", () => {
  it("scores a perfect ranking with zero regret and full precision", () => {
    const y = Float64Array.from({ length: 30 }, (_, i) => i);
    const r = selectionReport(Float64Array.from(y, (v) => 2 * v + 1), y);
    expect(r.spearman).toBeCloseTo(1, 12);
    expect(r.topCount).toBe(3);
    expect(r.topDecileRegret).toBe(0);
    expect(r.firstRegret).toBe(0);
    expect(r.topPrecision).toBe(1);
  });

  it("computes the top-decile regret by hand on a reversed ranking", () => {
    // y = 0..29, sd = sqrt(77.5) = 8.8034; the law's top 3 are the truly worst (27, 28, 29):
    // mean 28 against the best three's mean 1 → regret 27 / 8.8034 = 3.0670.
    const y = Float64Array.from({ length: 30 }, (_, i) => i);
    const r = selectionReport(Float64Array.from(y, (v) => -v), y);
    expect(r.topDecileRegret).toBeCloseTo(27 / Math.sqrt(77.5), 10);
    expect(r.firstRegret).toBe(29);
    expect(r.topPrecision).toBe(0);
    expect(r.rmse).toBeCloseTo(Math.sqrt(y.reduce((s, v) => s + 4 * v * v, 0) / 30), 10);
  });

  it("averages predictions for an ensemble", () => {
    expect(Array.from(meanPredictions([Float64Array.of(1, 2), Float64Array.of(3, 6)]))).toEqual([2, 4]);
  });
});

describe("chooseByCriterion", () => {
  const rep = (spearman: number, topDecileRegret: number, n = 103): SelectionReport => ({
    spearman, topDecileRegret, n, kendall: 0, pearson: 0, pairwiseAccuracy: 0, mse: 0, rSquared: 0, rmse: 0,
    topCount: 11, firstRegret: 0, topPrecision: 0,
  });

  it("keeps laws within one standard error of the best ρ and picks the lowest regret among them", () => {
    // n = 103: slack 1/√100 = 0.1 in z. z(0.95) = 1.8318, z(0.93) = 1.6584 (out), z(0.94) = 1.7380 (in).
    const c = chooseByCriterion(new Map([["a", rep(0.95, 0.3)], ["b", rep(0.94, 0.1)], ["c", rep(0.93, 0.0)]]));
    expect(c.rankFiltered).toEqual(["a", "b"]);
    expect(c.chosen).toBe("b");
    expect(c.reason).toMatch(/^b: Spearman 0\.9400 \(within one standard error of a's 0\.9500\)/);
  });

  it("never picks a law whose ρ is clearly worse, however low its regret", () => {
    const c = chooseByCriterion(new Map([["good", rep(0.9, 0.5)], ["bad", rep(0.2, 0)]]));
    expect(c.chosen).toBe("good");
  });

  it("treats a NaN ρ (constant predictions) as no correlation", () => {
    expect(fisherZ(NaN)).toBe(0);
    expect(chooseByCriterion(new Map([["flat", rep(NaN, 0)], ["ok", rep(0.6, 0.4)]])).chosen).toBe("ok");
  });
});

describe("supportDiagnostics", () => {
  const base = {
    domains: ["a", "b", "c"],
    // Runs near the centre of the simplex.
    weights: Float64Array.of(0.3, 0.3, 0.4, 0.35, 0.35, 0.3, 0.4, 0.3, 0.3, 0.3, 0.4, 0.3, 0.34, 0.33, 0.33),
    target: Float64Array.of(3, 2.9, 2.95, 3.1, 2.92),
    predicted: 2.91,
    cvRmse: 0.05,
    cvSpearman: 0.9,
    box: { lower: new Float64Array(3), upper: new Float64Array(3).fill(1) },
    nextStep: "mixlab suggest runs.csv --method bayesopt",
  };

  it("is silent for a recommendation among the runs", () => {
    expect(supportDiagnostics({ ...base, recommendation: Float64Array.of(0.33, 0.33, 0.34) })).toEqual([]);
  });

  it("flags a corner far outside the runs, naming what to do next", () => {
    const d = supportDiagnostics({ ...base, recommendation: Float64Array.of(0.96, 0.02, 0.02), predicted: 2.5 });
    expect(d.map((x) => x.code)).toEqual(["far-from-runs", "outside-range", "corner-solution", "gain-unsupported"]);
    expect(d[1]!.message).toBe(
      "domains a at 0.960 (runs: 0.300–0.400), b at 0.020 (runs: 0.300–0.400), c at 0.020 (runs: 0.300–0.400) " +
        "outside the range the runs cover; mixlab suggest runs.csv --method bayesopt",
    );
    expect(d[3]).toMatchObject({ gain: 2.9 - 2.5, bestObserved: 2.9, cvRmse: 0.05 });
  });

  it("flags shares pinned at bounds and a weak ranking", () => {
    const box = { lower: Float64Array.of(0.3, 0.3, 0), upper: Float64Array.of(1, 1, 0.4) };
    const d = supportDiagnostics({ ...base, box, recommendation: Float64Array.of(0.3, 0.3, 0.4), cvSpearman: 0.2 });
    expect(d.map((x) => x.code)).toEqual(["pinned-at-bounds", "weak-ranking"]);
  });

  it("measures distance on √p and nearest neighbours exactly", () => {
    const w = Float64Array.of(1, 0, 0, 1, 0.25, 0.75);
    expect(mixtureDistance(w, 0, w, 2, 2)).toBeCloseTo(Math.SQRT2, 12);
    // √ rows: (1, 0), (0, 1), (0.5, 0.8660); row 0 to row 2: √(0.25 + 0.75) = 1; row 1 to row 2:
    // √(0.25 + (1 − 0.8660)²) = 0.517638.
    expect(Array.from(nearestNeighbourDistances(w, 2)).map((v) => +v.toFixed(6))).toEqual([1, 0.517638, 0.517638]);
  });
});
