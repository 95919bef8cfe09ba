// BiMix (Ge et al., "BiMix: A Bivariate Data Mixing Law for Language Model Pretraining",
// arXiv 2405.14908; ALGORITHMS.md §2.3). The loss of eval domain i depends only on its own share
// r_i and the training amount s:
//     L_i(r_i, s) = (r_i + ε_i)^(−α_i) · (P_i s^(−β_i) + Q_i)
// What we assumed (the paper's form could not be checked against code; none is public):
//  - the five-coefficient form A_i/r^α · (B_i/s^β + C_i) has a scale redundancy (only A·B and A·C
//    are identifiable), so we fit P = A·B, Q = A·C;
//  - r^(−α) is infinite at r = 0 and proxy swarms are full of exact zeros (RegMix zeroes shares
//    below 2e-4), so we shift by a per-domain ε_i > 0, fitted by a grid (1e-5 … 0.3);
//  - when every run has the same training amount (or none is given), P s^−β + Q is one constant
//    K_i and the law is fitted in closed form: log L = log K − α log(r + ε), least squares per ε;
//    with several amounts, (log P, log Q, β) are then fitted by L-BFGS on log losses;
//  - an eval domain is matched to the training domain of the same name (loss.<d> ↔ w.<d>);
//    training domains with no eval domain do not lower any modelled loss, so the optimum puts
//    them at their floor.
// The objective Σ_i w_i K_i (r_i + ε_i)^(−α_i) is separable and convex for α_i > 0; its optimum
// (found by projected gradient) is checked against the Lagrange solution in the tests.

import { z } from "zod";
import type { FitInput, FittedLaw, Law } from "../types.js";
import { parseParams, savedLawShape, finite } from "../common/params.js";
import { parseOptions } from "../common/options.js";
import { priorOf, aggregationWeights } from "../common/prior.js";
import { recommendSmooth } from "../common/smooth-law.js";
import { lbfgs } from "../../src/core/optimize.js";
import { InputError } from "../../src/errors.js";
import { ownDomain } from "../dml/index.js";

export const BiMixOptionsSchema = z.strictObject({
  /** Training amount at which to recommend (default: the largest amount in the runs). */
  targetAmount: z.number().positive().optional(),
  /** Candidates of the recommendation search (default 20,000). */
  numCandidates: z.number().int().min(1).default(20_000),
});
export type BiMixOptions = z.infer<typeof BiMixOptionsSchema>;

/** One eval domain's fitted law. */
export interface BiMixComponent {
  readonly name: string;
  readonly domain: number;
  readonly alpha: number;
  readonly epsilon: number;
  /** P, Q, β; when the amount is constant, P = 0, β = 0 and Q = K. */
  readonly p: number;
  readonly q: number;
  readonly beta: number;
}

const EPSILONS = Array.from({ length: 16 }, (_, i) => 1e-5 * 10 ** (i * (Math.log10(0.3 / 1e-5) / 15)));

function fitComponent(
  name: string,
  domain: number,
  r: Float64Array,
  y: Float64Array,
  amount: Float64Array | null,
): BiMixComponent {
  const n = y.length;
  const ly = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (!(y[i]! > 0)) throw new InputError(
      "bimix",
      `component ${name}, run ${i + 1}: expected a positive loss, got ${y[i]}`,
    );
    ly[i] = Math.log(y[i]!);
  }
  // Closed form per ε: ly = a − α x with x = log(r + ε).
  let best = { sse: Infinity, alpha: 0, logK: 0, eps: EPSILONS[0]! };
  for (const eps of EPSILONS) {
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      const x = Math.log(r[i]! + eps);
      sx += x;
      sy += ly[i]!;
      sxx += x * x;
      sxy += x * ly[i]!;
    }
    const vx = sxx - (sx * sx) / n;
    const slope = vx > 0 ? (sxy - (sx * sy) / n) / vx : 0;
    const a = (sy - slope * sx) / n;
    let sse = 0;
    for (let i = 0; i < n; i++) sse += (ly[i]! - a - slope * Math.log(r[i]! + eps)) ** 2;
    if (sse < best.sse) best = { sse, alpha: -slope, logK: a, eps };
  }
  const distinct = amount ? new Set(Array.from(amount)).size : 1;
  if (!amount || distinct < 3)
    return { name, domain, alpha: best.alpha, epsilon: best.eps, p: 0, q: Math.exp(best.logK), beta: 0 };
  // Several amounts: θ = (log P, log Q, β) with α and ε from the closed form, then all refined.
  const eps = best.eps;
  const f = (th: Float64Array, g: Float64Array): number => {
    const [lp, lq, beta, alpha] = [th[0]!, th[1]!, th[2]!, th[3]!];
    g.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const s = amount[i]!;
      const a = Math.exp(lp - beta * Math.log(s));
      const b = Math.exp(lq);
      const inner = a + b;
      const x = Math.log(r[i]! + eps);
      const pred = -alpha * x + Math.log(inner);
      const d = pred - ly[i]!;
      loss += 0.5 * d * d;
      g[0] = g[0]! + (d * a) / inner;
      g[1] = g[1]! + (d * b) / inner;
      g[2] = g[2]! + (d * a * -Math.log(s)) / inner;
      g[3] = g[3]! - d * x;
    }
    return loss;
  };
  const start = Float64Array.from([best.logK - 1, best.logK - 0.1, 0.3, best.alpha]);
  const res = lbfgs(f, start, { maxIterations: 500 });
  return {
    name,
    domain,
    alpha: res.x[3]!,
    epsilon: eps,
    p: Math.exp(res.x[0]!),
    q: Math.exp(res.x[1]!),
    beta: res.x[2]!,
  };
}

function bimixLaw(
  domains: readonly string[],
  comps: BiMixComponent[],
  agg: Float64Array,
  amount: number,
  prior: Float64Array,
  priorSource: string,
  o: BiMixOptions,
): FittedLaw {
  const k = domains.length;
  const scale = comps.map((c) => c.p * amount ** -c.beta + c.q);
  const predict = (mixtures: Float64Array, out: Float64Array = new Float64Array(mixtures.length / k)): Float64Array => {
    const n = mixtures.length / k;
    for (let i = 0; i < n; i++) {
      let s = 0;
      comps.forEach((c, ci) => {
        s += agg[ci]! * scale[ci]! * (mixtures[i * k + c.domain]! + c.epsilon) ** -c.alpha;
      });
      out[i] = s;
    }
    return out;
  };
  const objective = (r: Float64Array, g: Float64Array): number => {
    g.fill(0);
    let s = 0;
    comps.forEach((c, ci) => {
      const base = r[c.domain]! + c.epsilon;
      const v = agg[ci]! * scale[ci]! * base ** -c.alpha;
      s += v;
      g[c.domain] = g[c.domain]! + (-c.alpha * v) / base;
    });
    return s;
  };
  return {
    method: "bimix",
    domains,
    info: { targetAmount: amount },
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
      targetAmount: amount,
      components: comps.map((c, ci) => ({ ...c, domain: domains[c.domain], weight: agg[ci] })),
    }),
  };
}

const SavedBiMixSchema = z.strictObject({
  ...savedLawShape,
  targetAmount: z.number().positive(),
  components: z
    .array(
      z.strictObject({
        name: z.string(),
        domain: z.string(),
        weight: z.number().positive().optional(),
        alpha: finite,
        epsilon: z.number().positive(),
        p: finite,
        q: finite,
        beta: finite,
      }),
    )
    .min(1),
});

export const bimix: Law<BiMixOptions> = {
  name: "bimix",
  summary: "BiMix: L_i = (r_i + ε_i)^−α_i · (P_i s^−β_i + Q_i) per eval domain, own share only (no transfer)",
  paper: "Ge et al., BiMix: A Bivariate Data Mixing Law for Language Model Pretraining (arXiv 2405.14908)",
  learns: true,
  parseOptions: (raw) => parseOptions(BiMixOptionsSchema, raw, "bimix"),
  minRuns: () => 4,
  fit(input: FitInput, o) {
    const k = input.domains.length;
    const comps = input.components ?? { names: ["target"], values: [input.target] };
    const unmatched = comps.names.filter((c) => ownDomain(c, input.domains) < 0);
    if (unmatched.length) {
      throw new InputError(
        "bimix",
        "expected eval losses named loss.<domain> for training domains, " +
          `got ${unmatched.map((u) => JSON.stringify(u)).join(", ")}; BiMix models each eval domain from its own share`,
      );
    }
    const n = input.target.length;
    // α, ε and K per eval domain: three parameters need four runs.
    if (n < 4) throw new InputError(
      "bimix",
      `expected at least 4 runs (the law fits 3 parameters per eval domain: α, ε, K), got ${n}`,
    );
    const fits = comps.values.map((y, ci) => {
      const d = ownDomain(comps.names[ci]!, input.domains);
      const r = new Float64Array(n);
      for (let i = 0; i < n; i++) r[i] = input.weights[i * k + d]!;
      if (new Set(r).size < 2) throw new InputError(
        "bimix",
        `component ${comps.names[ci]}: expected runs that vary the share of ${input.domains[d]} ` +
          `(BiMix fits a loss from its own share), got ${r[0]} in every run`,
      );
      return fitComponent(comps.names[ci]!, d, r, y, input.amount ?? null);
    });
    let amount = o.targetAmount ?? 1;
    if (o.targetAmount === undefined && input.amount) for (const a of input.amount) amount = Math.max(amount, a);
    const { prior, source } = priorOf(input);
    return bimixLaw(input.domains, fits, aggregationWeights(comps), amount, prior, source, o);
  },
  load(domains, params) {
    const p = parseParams(SavedBiMixSchema, params, domains);
    const o = parseOptions(BiMixOptionsSchema, p.options, "bimix");
    const agg = Float64Array.from(p.components, (c) => c.weight ?? 1 / p.components.length);
    const comps = p.components.map(({ weight: _w, ...c }, ci) => {
      const d = domains.indexOf(c.domain);
      if (d < 0) throw new InputError("model", [
        {
          path: `params.components.${ci}.domain`,
          message: `expected one of the model's domains (${domains.join(", ")}), got ${JSON.stringify(c.domain)}`,
        },
      ]);
      return { ...c, domain: d };
    });
    return bimixLaw(domains, comps, agg, p.targetAmount, Float64Array.from(p.prior), p.priorSource, o);
  },
};
