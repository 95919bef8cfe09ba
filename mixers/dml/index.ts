// Data Mixing Laws (Ye et al., "Data Mixing Laws: Optimizing Data Mixtures by Predicting Language
// Modeling Performance", ICLR 2025; ALGORITHMS.md §2.2), the exponential form per evaluated
// domain i:   L_i(r) = c_i + exp(Σ_j t_ij r_j),   c_i = exp(γ_i) ≥ 0.
// Porting note: the paper writes c_i + k_i exp(t_i · r); on the simplex k_i is not identifiable
// (exp(b + t·r) = exp((t + b)·r) since Σr = 1), so it is folded into t, as Olmix does. Fitting
// follows the reference: Huber loss (δ = 0.02) on raw losses, L-BFGS, many starts (a γ grid ×
// random t with a negative own-domain start when the eval domain is also a training domain),
// plus starts seeded by the closed-form log-linear fit at several floors c. A `mean:` target is
// modelled with one law per component, aggregated explicitly (F = mean_i L_i); a `wmean:` target
// with its weights (F = Σ_i w_i L_i, the paper's explicit aggregation).

import { z } from "zod";
import type { Rng } from "../../src/rng/index.js";
import type { FitInput, FittedLaw, Law } from "../types.js";
import { parseParams, savedLawShape, finite } from "../common/params.js";
import { parseOptions } from "../common/options.js";
import { priorOf, aggregationWeights } from "../common/prior.js";
import { recommendSmooth } from "../common/smooth-law.js";
import { huber, huberDerivative, multiStart } from "../../src/core/optimize.js";
import { leastSquares } from "../../src/core/linalg.js";
import { InputError } from "../../src/errors.js";

export const DmlOptionsSchema = z.strictObject({
  /** Huber δ on raw losses (default 0.02). */
  huberDelta: z.number().positive().default(0.02),
  /** Random starts per component (default 24) on top of the log-linear-seeded ones. */
  numStarts: z.number().int().min(1).default(24),
  /** L-BFGS iterations per start (default 300). */
  maxIterations: z.number().int().min(1).default(300),
  /** Candidates of the recommendation search (default 20,000). */
  numCandidates: z.number().int().min(1).default(20_000),
});
export type DmlOptions = z.infer<typeof DmlOptionsSchema>;

/** One component's law: γ then t (k). */
type Params = Float64Array;

/** Own-domain index of a component named loss.<d> or <d>, or −1. */
export function ownDomain(component: string, domains: readonly string[]): number {
  const d = component.startsWith("loss.") ? component.slice(5) : component;
  return domains.indexOf(d);
}

function fitComponent(
  x: Float64Array,
  y: Float64Array,
  k: number,
  own: number,
  o: DmlOptions,
  rng: Rng,
): { params: Params; value: number; winningStart: number } {
  const n = y.length;
  const e = new Float64Array(n);
  const f = (p: Float64Array, g: Float64Array): number => {
    const c = Math.exp(p[0]!);
    g.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      let z = 0;
      for (let j = 0; j < k; j++) z += p[1 + j]! * x[i * k + j]!;
      const ez = Math.exp(z);
      e[i] = ez;
      const r = c + ez - y[i]!;
      loss += huber(r, o.huberDelta);
      const d = huberDerivative(r, o.huberDelta);
      g[0] = g[0]! + d * c;
      for (let j = 0; j < k; j++) g[1 + j] = g[1 + j]! + d * ez * x[i * k + j]!;
    }
    return loss;
  };
  // Seeded starts: log-linear fits of log(y − c) at floors c = frac · min(y).
  let minY = Infinity;
  for (let i = 0; i < n; i++) minY = Math.min(minY, y[i]!);
  const fractions = [0, 0.5, 0.8, 0.95];
  const seeded: Float64Array[] = [];
  for (const frac of fractions) {
    const c = frac * minY;
    if (!(minY - c > 0)) continue;
    const ly = new Float64Array(n);
    for (let i = 0; i < n; i++) ly[i] = Math.log(y[i]! - c);
    try {
      const t = leastSquares({ data: x, rows: n, cols: k }, ly);
      const p = new Float64Array(k + 1);
      p[0] = Math.log(Math.max(c, 1e-6));
      p.set(t, 1);
      seeded.push(p);
    } catch {
      // a degenerate design: the random starts remain
    }
  }
  const gammas = [-2, -1.125, -0.25, 0.625, 1.5];
  const res = multiStart(
    f,
    k + 1,
    seeded.length + o.numStarts,
    (i, p, r) => {
      if (i < seeded.length) {
        p.set(seeded[i]!);
        return;
      }
      const j = i - seeded.length;
      p[0] = gammas[j % gammas.length]!;
      for (let d = 0; d < k; d++) p[1 + d] = d === own ? -r.next() : 0.1 * r.next();
    },
    rng,
    { maxIterations: o.maxIterations },
  );
  return { params: res.x, value: res.value, winningStart: res.winningStart };
}

function dmlLaw(
  domains: readonly string[],
  components: readonly string[],
  params: Params[],
  agg: Float64Array,
  prior: Float64Array,
  priorSource: string,
  o: DmlOptions,
  info: Record<string, unknown>,
): FittedLaw {
  const k = domains.length;
  const predict = (mixtures: Float64Array, out: Float64Array = new Float64Array(mixtures.length / k)): Float64Array => {
    const n = mixtures.length / k;
    for (let i = 0; i < n; i++) {
      let s = 0;
      params.forEach((p, ci) => {
        let z = 0;
        for (let j = 0; j < k; j++) z += p[1 + j]! * mixtures[i * k + j]!;
        s += agg[ci]! * (Math.exp(p[0]!) + Math.exp(z));
      });
      out[i] = s;
    }
    return out;
  };
  const objective = (r: Float64Array, g: Float64Array): number => {
    g.fill(0);
    let s = 0;
    params.forEach((p, ci) => {
      let z = 0;
      for (let j = 0; j < k; j++) z += p[1 + j]! * r[j]!;
      const ez = agg[ci]! * Math.exp(z);
      s += agg[ci]! * Math.exp(p[0]!) + ez;
      for (let j = 0; j < k; j++) g[j] = g[j]! + ez * p[1 + j]!;
    });
    return s;
  };
  return {
    method: "dml",
    domains,
    info,
    predict,
    recommend: (constraints, rng) =>
      recommendSmooth(objective, (rows) => predict(rows), prior, constraints, rng, {
        numCandidates: o.numCandidates,
        numStarts: 8,
      }),
    toParams: () => ({
      options: o,
      prior: Array.from(prior),
      priorSource,
      components: components.map((c, i) => ({
        name: c,
        weight: agg[i],
        c: Math.exp(params[i]![0]!),
        t: Object.fromEntries(domains.map((d, j) => [d, params[i]![1 + j]!])),
      })),
    }),
  };
}

const SavedDmlSchema = z.strictObject({
  ...savedLawShape,
  components: z
    .array(
      z.strictObject({
        name: z.string(),
        weight: z.number().positive().optional(),
        c: z.number().positive(),
        t: z.record(z.string(), finite),
      }),
    )
    .min(1),
});

export const dml: Law<DmlOptions> = {
  name: "dml",
  summary: "Data Mixing Laws, exponential form per eval domain: L_i = c_i + exp(t_i · r), Huber + L-BFGS multi-start",
  paper:
    "Ye et al., Data Mixing Laws: Optimizing Data Mixtures by Predicting Language Modeling Performance, " +
    "ICLR 2025 (arXiv 2403.16952)",
  learns: true,
  parseOptions: (raw) => parseOptions(DmlOptionsSchema, raw, "dml"),
  minRuns: (k) => k + 2,
  fit(input: FitInput, o, rng) {
    const k = input.domains.length;
    if (input.target.length < k + 2) throw new InputError(
      "dml",
      `expected at least ${k + 2} runs (the law has ${k + 1} parameters per eval domain), got ${input.target.length}`,
    );
    const comps = input.components ?? { names: ["target"], values: [input.target] };
    const fits = comps.values.map((y, i) =>
      fitComponent(
        input.weights,
        y,
        k,
        ownDomain(comps.names[i]!, input.domains),
        o,
        rng.derive(`dml:${comps.names[i]}`),
      ),
    );
    const { prior, source } = priorOf(input);
    return dmlLaw(input.domains, comps.names, fits.map((f) => f.params), aggregationWeights(comps), prior, source, o, {
      components: comps.names.map((c, i) => ({
        name: c,
        huberLoss: fits[i]!.value,
        winningStart: fits[i]!.winningStart,
      })),
    });
  },
  load(domains, params) {
    const p = parseParams(SavedDmlSchema, params, domains);
    const o = parseOptions(DmlOptionsSchema, p.options, "dml");
    const ps = p.components.map((c, ci) => {
      const v = new Float64Array(domains.length + 1);
      v[0] = Math.log(c.c);
      domains.forEach((d, j) => {
        if (typeof c.t[d] !== "number") throw new InputError("model", [
          {
            path: `params.components.${ci}.t.${d}`,
            message: `expected a coefficient for domain ${JSON.stringify(d)}, got none`,
          },
        ]);
        v[1 + j] = c.t[d]!;
      });
      return v;
    });
    return dmlLaw(
      domains,
      p.components.map((c) => c.name),
      ps,
      Float64Array.from(p.components, (c) => c.weight ?? 1 / p.components.length),
      Float64Array.from(p.prior),
      p.priorSource,
      o,
      {},
    );
  },
};
