import { describe, expect, it } from "vitest";
import { spearman, kendall, pearson, pairwiseAccuracy, rank, mse, rSquared } from "../../src/core/stats.js";

describe("statistics (reference values from scipy.stats 1.11)", () => {
  const x = [1, 2, 3, 4, 5, 6];
  const y = [2, 1, 4, 3, 6, 5];
  it("ranks ties by their average (rankdata 'average')", () => {
    expect(Array.from(rank([10, 20, 20, 5]))).toEqual([2, 3.5, 3.5, 1]);
  });
  it("Spearman: spearmanr([1..6],[2,1,4,3,6,5]) = 0.8285714285714286", () => {
    expect(spearman(x, y)).toBeCloseTo(0.8285714285714286, 14);
  });
  it("Kendall τ-b: kendalltau(...) = 0.6 (12 concordant, 3 discordant of 15 pairs)", () => {
    expect(kendall(x, y)).toBeCloseTo(0.6, 14);
  });
  it("Kendall τ-b with ties: kendalltau([1,2,2,3],[1,2,3,3]) = 0.8", () => {
    // n_c = 4, n_d = 0, ties only in x: 1, only in y: 1 → 4 / √(5·5) = 0.8
    expect(kendall([1, 2, 2, 3], [1, 2, 3, 3])).toBeCloseTo(0.8, 14);
  });
  it("Pearson: pearsonr([1,2,3],[2,4,7]) = 0.9933992677987828", () => {
    expect(pearson([1, 2, 3], [2, 4, 7])).toBeCloseTo(0.9933992677987828, 14);
  });
  it("pairwise accuracy counts correctly ordered pairs", () => {
    expect(pairwiseAccuracy(x, y)).toBeCloseTo(12 / 15, 14);
    expect(pairwiseAccuracy([1, 1], [1, 2])).toBe(0.5);
  });
  it("MSE and R²", () => {
    expect(mse([1, 2], [1, 4])).toBe(2);
    expect(rSquared([1, 2, 3], [1, 2, 3])).toBe(1);
  });
});

import * as ss from "simple-statistics";
import { createRng } from "../../src/rng/index.js";

describe("cross-check against simple-statistics", () => {
  it("Pearson and Spearman agree on random data with ties", () => {
    const r = createRng(9);
    const x = Array.from({ length: 200 }, () => Math.floor(r.next() * 20));
    const y = x.map((v) => v + Math.floor(r.next() * 10));
    expect(pearson(x, y)).toBeCloseTo(ss.sampleCorrelation(x, y), 12);
    expect(spearman(x, y)).toBeCloseTo(ss.sampleRankCorrelation(x, y), 12);
  });
});
