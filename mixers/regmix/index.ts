// RegMix (Liu et al., "RegMix: Data Mixture as Regression for Language Model Pre-training",
// ICLR 2025; ALGORITHMS.md §2.1): regress the target on the mixture over many small proxy runs,
// then average the k best of many Dirichlet candidates around the prior. Two regressors:
// `regmix` (gradient-boosted trees, the paper's main model) and `regmix-linear` (the paper's
// linear variant: target = c + Σ β_j p_j).
//
// Checked against sail-sg/regmix's released runs (tests/mixers/regmix.test.ts): Spearman ρ of
// the trees on the 256 held-out 1M runs, the same mixtures at 60M and the 64 runs at 1B.
// Deviation: early stopping holds out a seeded 20% of the training runs (the reference notebook
// stops on the test set) and then refits on all runs with the best round count.

import { z } from "zod";
import type { Rng } from "../../src/rng/index.js";
import type { FitInput, FittedLaw, Law, ResolvedConstraints } from "../types.js";
import { parseOptions, candidateOptionsShape } from "../common/options.js";
import { priorOf } from "../common/prior.js";
import { parseParams, savedLawShape, finite, numbers, loadField } from "../common/params.js";
import { candidateSearch } from "../common/candidates.js";
import {
  fitGbdt,
  predictGbdt,
  gbdtToJSON,
  gbdtFromJSON,
  offerGbdtTopK,
  GbdtScratch,
  GBDT_DEFAULTS,
  type GbdtModel,
} from "./gbdt.js";
import { leastSquares } from "../../src/core/linalg.js";
import { InputError } from "../../src/errors.js";

export const RegMixOptionsSchema = z.strictObject({
  numRounds: z.number().int().min(1).default(GBDT_DEFAULTS.numRounds),
  learningRate: z.number().positive().max(1).default(GBDT_DEFAULTS.learningRate),
  numLeaves: z.number().int().min(2).max(4096).default(GBDT_DEFAULTS.numLeaves),
  minDataInLeaf: z.number().int().min(1).default(GBDT_DEFAULTS.minDataInLeaf),
  maxBin: z.number().int().min(2).max(256).default(GBDT_DEFAULTS.maxBin),
  minDataInBin: z.number().int().min(1).default(GBDT_DEFAULTS.minDataInBin),
  lambdaL2: z.number().min(0).default(GBDT_DEFAULTS.lambdaL2),
  minGainToSplit: z.number().min(0).default(GBDT_DEFAULTS.minGainToSplit),
  earlyStoppingRounds: z.number().int().min(0).default(GBDT_DEFAULTS.earlyStoppingRounds),
  validationFraction: z.number().min(0).max(0.9).default(GBDT_DEFAULTS.validationFraction),
  refit: z.boolean().default(GBDT_DEFAULTS.refit),
  ...candidateOptionsShape,
});
export type RegMixOptions = z.infer<typeof RegMixOptionsSchema>;

export const RegMixLinearOptionsSchema = z.strictObject({
  /** Ridge penalty on the coefficients (default 0: minimum-norm least squares). */
  ridge: z.number().min(0).default(0),
  ...candidateOptionsShape,
});
export type RegMixLinearOptions = z.infer<typeof RegMixLinearOptionsSchema>;

function requireRuns(input: FitInput, method: string, min: number): void {
  const n = input.target.length;
  if (n < min) throw new InputError(method, `expected at least ${min} runs with a target, got ${n}`);
}

/** Shared recommendation wrapper: candidate search with a scorer, then the law's prediction at the mean. */
function recommendWith(
  law: FittedLaw,
  prior: Float64Array,
  priorSource: string,
  opts: { numCandidates: number; topK: number; concentration: number },
  constraints: ResolvedConstraints,
  rng: Rng,
  score: Parameters<typeof candidateSearch>[4],
) {
  const res = candidateSearch(prior, constraints.box, opts, rng, score);
  const predicted = law.predict(res.proportions)[0]!;
  return {
    proportions: res.proportions,
    predicted,
    details: {
      search: "dirichlet-top-k",
      numCandidates: res.numCandidates,
      topK: res.topValues.length,
      concentration: opts.concentration,
      prior: priorSource,
      bestCandidatePredicted: res.topValues[0],
      topKPredictedRange: [res.topValues[0], res.topValues[res.topValues.length - 1]],
      topKSpread: Array.from(res.topSpread),
    },
  };
}

function gbdtLaw(
  domains: readonly string[],
  model: GbdtModel,
  opts: RegMixOptions,
  prior: Float64Array,
  priorSource: string,
  info: Record<string, unknown>,
): FittedLaw {
  const scratch = new GbdtScratch();
  const law: FittedLaw = {
    method: "regmix",
    domains,
    info,
    predict: (mixtures, out) => predictGbdt(model, mixtures, out),
    recommend: (constraints, rng) =>
      recommendWith(law, prior, priorSource, opts, constraints, rng, (chunk, collector) =>
        offerGbdtTopK(model, chunk, collector, scratch),
      ),
    toParams: () => ({ options: opts, prior: Array.from(prior), priorSource, model: gbdtToJSON(model) }),
  };
  return law;
}

const SavedRegMixSchema = z.strictObject({
  ...savedLawShape,
  model: z.strictObject({
    numFeatures: z.number().int().min(1),
    initScore: finite,
    bestRound: z.number().int().min(0),
    treeRoots: numbers,
    feature: numbers,
    threshold: numbers,
    left: numbers,
    right: numbers,
    value: numbers,
  }),
});
const SavedRegMixLinearSchema = z.strictObject({
  ...savedLawShape,
  intercept: finite,
  coefficients: z.record(z.string(), finite),
});

export const regmix: Law<RegMixOptions> = {
  name: "regmix",
  summary:
    "RegMix: gradient-boosted trees from mixture to target, then the mean of the top-k of many Dirichlet candidates",
  paper: "Liu et al., RegMix: Data Mixture as Regression for Language Model Pre-training, ICLR 2025 (arXiv 2407.01492)",
  learns: true,
  parseOptions: (raw) => parseOptions(RegMixOptionsSchema, raw, "regmix"),
  minRuns: () => 8,
  fit(input, opts, rng) {
    requireRuns(input, "regmix", 2);
    const k = input.domains.length;
    const model = fitGbdt(input.weights, input.target, k, opts, rng.derive("gbdt-early-stopping"));
    const { prior, source } = priorOf(input);
    return gbdtLaw(input.domains, model, opts, prior, source, {
      trees: model.treeRoots.length,
      nodes: model.feature.length,
      bestRound: model.bestRound,
      earlyStoppedAt: model.validationCurve.length || null,
    });
  },
  // Folds and bootstrap replicates keep the full fit's round count instead of early-stopping again.
  refit(previous, input, opts, rng) {
    const rounds = previous.info.bestRound;
    return regmix.fit(
      input,
      typeof rounds === "number" && rounds > 0 ? { ...opts, numRounds: rounds, earlyStoppingRounds: 0 } : opts,
      rng,
    );
  },
  load(domains, params) {
    const p = parseParams(SavedRegMixSchema, params, domains);
    const opts = parseOptions(RegMixOptionsSchema, p.options, "regmix");
    const model = loadField("params.model", () => gbdtFromJSON(p.model));
    if (model.numFeatures !== domains.length) throw new InputError("model", [
      {
        path: "params.model.numFeatures",
        message: `expected a model over ${domains.length} domains, got ${model.numFeatures} features`,
      },
    ]);
    return gbdtLaw(domains, model, opts, Float64Array.from(p.prior), p.priorSource, { trees: model.treeRoots.length });
  },
};

function linearLaw(
  domains: readonly string[],
  coef: Float64Array,
  opts: RegMixLinearOptions,
  prior: Float64Array,
  priorSource: string,
  info: Record<string, unknown>,
): FittedLaw {
  const k = domains.length;
  const predict = (mixtures: Float64Array, out: Float64Array = new Float64Array(mixtures.length / k)): Float64Array => {
    const n = mixtures.length / k;
    for (let i = 0; i < n; i++) {
      let s = coef[0]!;
      for (let j = 0; j < k; j++) s += coef[j + 1]! * mixtures[i * k + j]!;
      out[i] = s;
    }
    return out;
  };
  const buf = new Float64Array(8192);
  const law: FittedLaw = {
    method: "regmix-linear",
    domains,
    info,
    predict,
    recommend: (constraints, rng) =>
      recommendWith(law, prior, priorSource, opts, constraints, rng, (chunk, collector) => {
        const p = predict(chunk, buf);
        const n = chunk.length / k;
        for (let i = 0; i < n; i++) collector.offer(p[i]!, chunk, i * k);
      }),
    toParams: () => ({
      options: opts,
      prior: Array.from(prior),
      priorSource,
      intercept: coef[0],
      coefficients: Object.fromEntries(domains.map((d, j) => [d, coef[j + 1]!])),
    }),
  };
  return law;
}

export const regmixLinear: Law<RegMixLinearOptions> = {
  name: "regmix-linear",
  summary: "RegMix's linear variant: target = c + Σ β_j p_j (least squares), recommended by the same top-k search",
  paper: "Liu et al., RegMix, ICLR 2025 (linear regression baseline)",
  learns: true,
  parseOptions: (raw) => parseOptions(RegMixLinearOptionsSchema, raw, "regmix-linear"),
  minRuns: (k) => k + 1,
  fit(input, opts) {
    requireRuns(input, "regmix-linear", 2);
    const k = input.domains.length;
    const n = input.target.length;
    const x = new Float64Array(n * (k + 1));
    for (let i = 0; i < n; i++) {
      x[i * (k + 1)] = 1;
      for (let j = 0; j < k; j++) x[i * (k + 1) + 1 + j] = input.weights[i * k + j]!;
    }
    const coef = leastSquares({ data: x, rows: n, cols: k + 1 }, input.target, opts.ridge);
    const { prior, source } = priorOf(input);
    return linearLaw(input.domains, coef, opts, prior, source, { intercept: coef[0] });
  },
  load(domains, params) {
    const p = parseParams(SavedRegMixLinearSchema, params, domains);
    const opts = parseOptions(RegMixLinearOptionsSchema, p.options, "regmix-linear");
    const c = p.coefficients;
    const coef = new Float64Array(domains.length + 1);
    coef[0] = p.intercept;
    domains.forEach((d, j) => {
      if (typeof c[d] !== "number") throw new InputError("model", [
        { path: `params.coefficients.${d}`, message: "expected a coefficient for this domain, got none" },
      ]);
      coef[j + 1] = c[d]!;
    });
    return linearLaw(domains, coef, opts, Float64Array.from(p.prior), p.priorSource, {});
  },
};
