// The log-linear law: log L_i(r) = b_i + Σ_j β_ij r_j, fitted in closed form by least squares on
// log losses (minimum-norm, since Σr = 1 makes the intercept redundant). It is the c → 0 limit of
// the Data Mixing Law (ALGORITHMS.md §2.2, §3.1 "static log-linear law" without a floor): cheaper
// and deterministic, a robust baseline for small swarms, and the seed of DML's starts.
// exp(affine) is convex, so its minimum over box ∩ simplex is found exactly by projected
// gradient descent; without caps it is a vertex (like every monotone law, see §2.1 pitfalls).

import { z } from "zod";
import type { FitInput, FittedLaw, Law } from "../types.js";
import { parseParams, savedLawShape, finite } from "../common/params.js";
import { parseOptions } from "../common/options.js";
import { priorOf, aggregationWeights } from "../common/prior.js";
import { recommendSmooth } from "../common/smooth-law.js";
import { leastSquares } from "../../src/core/linalg.js";
import { InputError } from "../../src/errors.js";

export const LogLinearOptionsSchema = z.strictObject({
  /** Ridge penalty on the coefficients (default 0). */
  ridge: z.number().min(0).default(0),
  /** Candidates of the recommendation search (default 20,000). */
  numCandidates: z.number().int().min(1).default(20_000),
});
export type LogLinearOptions = z.infer<typeof LogLinearOptionsSchema>;

function logLinearLaw(
  domains: readonly string[],
  components: readonly string[],
  coef: Float64Array[],
  agg: Float64Array,
  prior: Float64Array,
  priorSource: string,
  o: LogLinearOptions,
): FittedLaw {
  const k = domains.length;
  const predict = (mixtures: Float64Array, out: Float64Array = new Float64Array(mixtures.length / k)): Float64Array => {
    const n = mixtures.length / k;
    for (let i = 0; i < n; i++) {
      let s = 0;
      coef.forEach((c, ci) => {
        let z = c[0]!;
        for (let j = 0; j < k; j++) z += c[1 + j]! * mixtures[i * k + j]!;
        s += agg[ci]! * Math.exp(z);
      });
      out[i] = s;
    }
    return out;
  };
  const objective = (r: Float64Array, g: Float64Array): number => {
    g.fill(0);
    let s = 0;
    coef.forEach((c, ci) => {
      let z = c[0]!;
      for (let j = 0; j < k; j++) z += c[1 + j]! * r[j]!;
      const ez = agg[ci]! * Math.exp(z);
      s += ez;
      for (let j = 0; j < k; j++) g[j] = g[j]! + ez * c[1 + j]!;
    });
    return s;
  };
  return {
    method: "loglinear",
    domains,
    info: {},
    predict,
    recommend: (constraints, rng) =>
      recommendSmooth(objective, (rows) => predict(rows), prior, constraints, rng, {
        numCandidates: o.numCandidates,
        numStarts: 4,
      }),
    toParams: () => ({
      options: o,
      prior: Array.from(prior),
      priorSource,
      components: components.map((name, i) => ({
        name,
        weight: agg[i],
        intercept: coef[i]![0],
        beta: Object.fromEntries(domains.map((d, j) => [d, coef[i]![1 + j]!])),
      })),
    }),
  };
}

const SavedLogLinearSchema = z.strictObject({
  ...savedLawShape,
  components: z
    .array(
      z.strictObject({
        name: z.string(),
        weight: z.number().positive().optional(),
        intercept: finite,
        beta: z.record(z.string(), finite),
      }),
    )
    .min(1),
});

export const loglinear: Law<LogLinearOptions> = {
  name: "loglinear",
  summary: "Log-linear law: log L_i = b_i + β_i · r per eval domain (closed-form least squares; DML without a floor)",
  paper:
    "Ye et al., Data Mixing Laws, ICLR 2025 (the c = 0 case); " +
    "Chen et al., Aioli, ICLR 2025 (§3, static log-linear law)",
  learns: true,
  parseOptions: (raw) => parseOptions(LogLinearOptionsSchema, raw, "loglinear"),
  minRuns: (k) => k + 1,
  fit(input: FitInput, o) {
    const k = input.domains.length;
    const comps = input.components ?? { names: ["target"], values: [input.target] };
    const n = input.target.length;
    if (n < 2) throw new InputError("loglinear", `expected at least 2 runs, got ${n}`);
    const x = new Float64Array(n * (k + 1));
    for (let i = 0; i < n; i++) {
      x[i * (k + 1)] = 1;
      for (let j = 0; j < k; j++) x[i * (k + 1) + 1 + j] = input.weights[i * k + j]!;
    }
    const coef = comps.values.map((y, ci) => {
      const ly = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        if (!(y[i]! > 0)) throw new InputError(
          "loglinear",
          `component ${comps.names[ci]}, run ${i + 1}: ` +
            `expected a positive loss (the law fits its logarithm), got ${y[i]}`,
        );
        ly[i] = Math.log(y[i]!);
      }
      return leastSquares({ data: x, rows: n, cols: k + 1 }, ly, o.ridge);
    });
    const { prior, source } = priorOf(input);
    return logLinearLaw(input.domains, comps.names, coef, aggregationWeights(comps), prior, source, o);
  },
  load(domains, params) {
    const p = parseParams(SavedLogLinearSchema, params, domains);
    const o = parseOptions(LogLinearOptionsSchema, p.options, "loglinear");
    const coef = p.components.map((c, ci) => {
      const v = new Float64Array(domains.length + 1);
      v[0] = c.intercept;
      domains.forEach((d, j) => {
        if (typeof c.beta[d] !== "number") throw new InputError("model", [
          {
            path: `params.components.${ci}.beta.${d}`,
            message: `expected a coefficient for domain ${JSON.stringify(d)}, got none`,
          },
        ]);
        v[1 + j] = c.beta[d]!;
      });
      return v;
    });
    return logLinearLaw(
      domains,
      p.components.map((c) => c.name),
      coef,
      Float64Array.from(p.components, (c) => c.weight ?? 1 / p.components.length),
      Float64Array.from(p.prior),
      p.priorSource,
      o,
    );
  },
};
