// Reference equivalence on RegMix's released runs (sail-sg/regmix, MIT; datasets/regmix).
// Protocol of the paper: fit on the 512 training runs at 1M, target Pile-CC validation loss;
// Spearman ρ on the 256 held-out 1M runs, the same mixtures at 60M, and the 64 runs at 1B.
// LightGBM's figures on this split (README of the dataset): 0.989 / 0.985 / 0.965, with early
// stopping on the test set itself; ours stops on a seeded 20% of the training runs, then refits.
import { describe, expect, it } from "vitest";
import { regmix, regmixLinear } from "../../mixers/regmix/index.js";
import {
  fitGbdt,
  predictGbdt,
  offerGbdtTopK,
  GbdtScratch,
  gbdtToJSON,
  gbdtFromJSON,
} from "../../mixers/regmix/gbdt.js";
import { resolveTarget } from "../../src/runs/table.js";
import { spearman } from "../../src/core/stats.js";
import { createRng } from "../../src/rng/index.js";
import { resolveConstraints } from "../../src/core/constraints.js";
import { TopKCollector } from "../../src/core/topk.js";
import { smallestK } from "../../src/core/optimize.js";
import { sampleDirichletMany } from "../../src/core/dirichlet.js";
import { l1Distance } from "../../src/core/simplex.js";
import { regmixTable, regmixPrior, regmix1bMixture } from "../helpers.js";

const train = regmixTable("train_mixture_1m.csv", "train_pile_loss_1m.csv");
const tests = {
  "1M": regmixTable("test_mixture_1m.csv", "test_pile_loss_1m.csv"),
  "60M": regmixTable("test_mixture_60m.csv", "test_pile_loss_60m.csv"),
  "1B": regmixTable("test_mixture_1B.csv", "test_pile_loss_1B.csv"),
};
const y = resolveTarget(train, "loss.pile_cc").values;
const input = { domains: train.domains, weights: train.weights, target: y, prior: regmixPrior(train.domains) };
const rho = (predict: (w: Float64Array) => Float64Array) =>
  Object.fromEntries(
    Object.entries(tests).map(([name, t]) => [
      name,
      spearman(predict(t.weights), resolveTarget(t, "loss.pile_cc").values),
    ]),
  );

describe("RegMix on its released runs", () => {
  const law = regmix.fit(input, regmix.parseOptions({}), createRng(0));

  it("ranks held-out mixtures like LightGBM (mean over 5 seeds of the early-stopping split)", () => {
    const sums = { "1M": 0, "60M": 0, "1B": 0 };
    for (let seed = 0; seed < 5; seed++) {
      const r = rho((w) => regmix.fit(input, regmix.parseOptions({}), createRng(seed)).predict(w));
      for (const key of Object.keys(sums) as (keyof typeof sums)[]) sums[key] += r[key]! / 5;
    }
    // LightGBM (early stopping on the test set): 0.989 / 0.985 / 0.965. Measured here over seeds
    // 0–9: mean 0.9895 / 0.9849 / 0.9607, range 0.9889–0.9903 / 0.9843–0.9857 / 0.9589–0.9627.
    expect(sums["1M"]).toBeGreaterThanOrEqual(0.989);
    expect(sums["60M"]).toBeGreaterThanOrEqual(0.984);
    expect(sums["1B"]).toBeGreaterThanOrEqual(0.958);
  }, 300_000); // five fits of 1,000 rounds: ~20 s alone, minutes on a loaded machine

  it("the linear variant lands near the paper's 0.90", () => {
    const lin = regmixLinear.fit(input, regmixLinear.parseOptions({}), createRng(0));
    const r = rho((w) => lin.predict(w));
    // Reference (ordinary least squares): 0.902 / 0.893 / 0.877.
    expect(r["1M"]).toBeCloseTo(0.902, 2);
    expect(r["60M"]).toBeCloseTo(0.893, 2);
    expect(r["1B"]).toBeCloseTo(0.877, 2);
  });

  it("recommends a mixture close to RegMix's own 1B choice (Pile-CC ≈ 0.87, Ubuntu IRC ≈ 0.06)", () => {
    const rec = law.recommend(resolveConstraints(train.domains), createRng(0).derive("recommend"));
    const ref = regmix1bMixture();
    const refVec = Float64Array.from(train.domains.map((d) => ref[d]!));
    const pile = train.domains.indexOf("pile_cc");
    const irc = train.domains.indexOf("ubuntu_irc");
    expect(rec.proportions[pile]!).toBeGreaterThan(0.8);
    expect(rec.proportions[irc]!).toBeGreaterThan(0.03);
    // Measured L1 distance: 0.095 (1,000,000 candidates, top 128, seed 0).
    expect(l1Distance(rec.proportions, refVec)).toBeLessThan(0.15);
  });

  it("early-exit top-k keeps exactly the set a full prediction keeps", () => {
    const model = fitGbdt(train.weights, y, 17, { earlyStoppingRounds: 0, numRounds: 300 }, createRng(1));
    const cands = sampleDirichletMany(regmixPrior(train.domains), 30_000, createRng(2));
    const full = predictGbdt(model, cands);
    const want = smallestK(full, 64);
    const c = new TopKCollector(64, 17);
    const scratch = new GbdtScratch();
    for (let s = 0; s < 30_000; s += 8192) {
      offerGbdtTopK(model, cands.subarray(s * 17, Math.min(30_000, s + 8192) * 17), c, scratch);
    }
    const got = c.results();
    want.forEach((idx, r) => {
      expect(got.values[r]).toBeCloseTo(full[idx]!, 12);
      expect(Array.from(got.vectors.subarray(r * 17, r * 17 + 17))).toEqual(
        Array.from(cands.subarray(idx * 17, idx * 17 + 17)),
      );
    });
  });

  it("a saved model predicts identically after a JSON round trip", () => {
    const model = fitGbdt(train.weights, y, 17, { numRounds: 50, earlyStoppingRounds: 0 }, createRng(0));
    const back = gbdtFromJSON(JSON.parse(JSON.stringify(gbdtToJSON(model))));
    expect(Array.from(predictGbdt(back, tests["1B"].weights))).toEqual(
      Array.from(predictGbdt(model, tests["1B"].weights)),
    );
  });
});
