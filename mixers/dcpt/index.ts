// The D-CPT law (Que et al., "D-CPT Law: Domain-specific Continual Pre-Training Scaling Law for
// Large Language Models", NeurIPS 2024, arXiv 2406.01375; ALGORITHMS.md §2.4). A two-way mixture:
// share r of a domain-specific corpus, 1 − r of general data; for model size N and tokens D
//     L(N, D, r) = E + A / N^α + B · r^η / D^β + C / (r + ε)^γ.
// What we assumed (mixers/dcpt/README.md says more):
//  - the runs share one model size, so A / N^α is a constant folded into E;
//  - D is the runs' training amount (tokens or steps) when it takes ≥ 3 values, else B / D^β is
//    one constant B;
//  - the domain corpus is one training domain (option `domain`, default the first target column's
//    loss.<domain>); every other domain is "general" data, split in the proportions the runs gave
//    them on average; an eval loss of another domain is modelled by the same form in the general
//    share 1 − r (the paper's general-corpus variant could not be checked);
//  - ε is fixed (default 0.01), as the paper fixes its shift.
// Fitting: Huber loss (δ = 0.001) on raw losses, L-BFGS from a grid of initialisations
// (Chinchilla style). Recommendation: a 1-D search over r in the constraint box (4,001 grid
// points, then golden-section refinement), the general domains in their average proportions.

import { z } from "zod";
import type { Rng } from "../../src/rng/index.js";
import type { FitInput, FittedLaw, Law, ResolvedConstraints } from "../types.js";
import { parseOptions } from "../common/options.js";
import { aggregationWeights } from "../common/prior.js";
import { huber, huberDerivative, multiStart } from "../../src/core/optimize.js";
import { repairMultiplicative } from "../../src/core/simplex.js";
import { InputError } from "../../src/errors.js";
import { ownDomain } from "../dml/index.js";

export const DcptOptionsSchema = z.strictObject({
  /** The domain-specific corpus (a training domain; default: the first target column's domain). */
  domain: z.string().optional(),
  /** Shift ε of the C / (r + ε)^γ term (default 0.01). */
  epsilon: z.number().positive().max(1).default(0.01),
  /** Huber δ on raw losses (default 0.001). */
  huberDelta: z.number().positive().default(0.001),
  /** L-BFGS iterations per start (default 400). */
  maxIterations: z.number().int().min(1).default(400),
});
export type DcptOptions = z.infer<typeof DcptOptionsSchema>;

/** One eval loss's fitted law: L = e + b · D^−β · s^η + c · (s + ε)^−γ, s its share. */
export interface DcptComponent {
  readonly name: string;
  /** Whether the loss is modelled in the domain share r (true) or the general share 1 − r. */
  readonly domainShare: boolean;
  readonly e: number;
  readonly b: number;
  readonly eta: number;
  readonly beta: number;
  readonly c: number;
  readonly gamma: number;
}

/** θ = (e, log b, log η, log c, log γ[, log β]). */
function unpack(t: Float64Array, name: string, domainShare: boolean, withD: boolean): DcptComponent {
  return {
    name,
    domainShare,
    e: t[0]!,
    b: Math.exp(t[1]!),
    eta: Math.exp(t[2]!),
    c: Math.exp(t[3]!),
    gamma: Math.exp(t[4]!),
    beta: withD ? Math.exp(t[5]!) : 0,
  };
}

function value(c: DcptComponent, s: number, d: number, eps: number): number {
  return c.e + c.b * d ** -c.beta * s ** c.eta + c.c * (s + eps) ** -c.gamma;
}

function fitComponent(
  name: string,
  domainShare: boolean,
  s: Float64Array,
  y: Float64Array,
  amount: Float64Array | null,
  o: DcptOptions,
  rng: Rng,
): { comp: DcptComponent; loss: number } {
  const n = y.length;
  const withD = amount !== null;
  const p = withD ? 6 : 5;
  const eps = o.epsilon;
  const f = (t: Float64Array, g: Float64Array): number => {
    const [e, lb, le, lc, lg] = [t[0]!, t[1]!, t[2]!, t[3]!, t[4]!];
    const beta = withD ? Math.exp(t[5]!) : 0;
    const b = Math.exp(lb);
    const eta = Math.exp(le);
    const c = Math.exp(lc);
    const gamma = Math.exp(lg);
    g.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const si = s[i]!;
      const dTerm = withD ? amount[i]! ** -beta : 1;
      const pow = si > 0 ? si ** eta : 0;
      const bt = b * dTerm * pow;
      const ct = c * (si + eps) ** -gamma;
      const r = e + bt + ct - y[i]!;
      loss += huber(r, o.huberDelta);
      const h = huberDerivative(r, o.huberDelta);
      g[0] = g[0]! + h;
      g[1] = g[1]! + h * bt;
      g[2] = g[2]! + (si > 0 ? h * bt * eta * Math.log(si) : 0);
      g[3] = g[3]! + h * ct;
      g[4] = g[4]! + h * ct * -gamma * Math.log(si + eps);
      if (withD) g[5] = g[5]! + h * bt * -beta * Math.log(amount[i]!);
    }
    return loss;
  };
  let minY = Infinity;
  let maxY = -Infinity;
  for (const v of y) {
    minY = Math.min(minY, v);
    maxY = Math.max(maxY, v);
  }
  const span = Math.max(maxY - minY, 1e-6);
  // Grid of initialisations: floor E below the smallest loss, γ and η over two decades.
  const grid: number[][] = [];
  for (const ef of [0.5, 0.9, 0.99])
    for (const gamma of [0.05, 0.3, 1]) for (const eta of [0.3, 1]) grid.push([minY * ef, gamma, eta]);
  const res = multiStart(
    f,
    p,
    grid.length,
    (i, x) => {
      const [e0, g0, eta0] = grid[i]!;
      x[0] = e0!;
      x[1] = Math.log(span);
      x[2] = Math.log(eta0!);
      x[3] = Math.log(Math.max(minY - e0!, 1e-6) * eps ** g0!);
      x[4] = Math.log(g0!);
      if (withD) x[5] = Math.log(0.3);
    },
    rng,
    { maxIterations: o.maxIterations },
  );
  return { comp: unpack(res.x, name, domainShare, withD), loss: res.value };
}

function dcptLaw(
  domains: readonly string[],
  d: number,
  general: Float64Array,
  comps: DcptComponent[],
  agg: Float64Array,
  amount: number,
  o: DcptOptions,
): FittedLaw {
  const k = domains.length;
  const at = (r: number): number => {
    let s = 0;
    comps.forEach((c, i) => (s += agg[i]! * value(c, c.domainShare ? r : 1 - r, amount, o.epsilon)));
    return s;
  };
  const mixtureAt = (r: number, constraints: ResolvedConstraints): Float64Array => {
    const p = new Float64Array(k);
    for (let j = 0; j < k; j++) p[j] = j === d ? r : (1 - r) * general[j]!;
    return repairMultiplicative(p, constraints.box);
  };
  return {
    method: "dcpt",
    domains,
    info: { domain: domains[d], targetAmount: amount },
    predict: (mixtures, out = new Float64Array(mixtures.length / k)) => {
      for (let i = 0; i < out.length; i++) out[i] = at(mixtures[i * k + d]!);
      return out;
    },
    recommend(constraints) {
      const lo = constraints.box.lower[d]!;
      const hi = constraints.box.upper[d]!;
      const steps = 4000;
      let best = lo;
      let bestV = Infinity;
      for (let i = 0; i <= steps; i++) {
        const r = lo + ((hi - lo) * i) / steps;
        const v = at(mixtureAt(r, constraints)[d]!);
        if (v < bestV) {
          bestV = v;
          best = r;
        }
      }
      // Golden-section refinement within one grid step either side.
      let a = Math.max(lo, best - (hi - lo) / steps);
      let b = Math.min(hi, best + (hi - lo) / steps);
      const phi = (Math.sqrt(5) - 1) / 2;
      for (let it = 0; it < 60; it++) {
        const x1 = b - phi * (b - a);
        const x2 = a + phi * (b - a);
        if (at(x1) < at(x2)) b = x2;
        else a = x1;
      }
      const r = at((a + b) / 2) < bestV ? (a + b) / 2 : best;
      const p = mixtureAt(r, constraints);
      return {
        proportions: p,
        predicted: at(p[d]!),
        details: { search: "1-D grid over the domain share + golden section", domain: domains[d], domainShare: p[d] },
      };
    },
    toParams: () => ({
      options: o,
      domain: domains[d],
      general: Array.from(general),
      targetAmount: amount,
      components: comps.map((c, i) => ({ ...c, weight: agg[i] })),
    }),
  };
}

export const dcpt: Law<DcptOptions> = {
  name: "dcpt",
  summary:
    "D-CPT law: L = E + B·r^η/D^β + C/(r+ε)^γ in the share r of one domain corpus (the rest general data), " +
    "Huber + L-BFGS grid",
  paper:
    "Que et al., D-CPT Law: Domain-specific Continual Pre-Training Scaling Law for LLMs, NeurIPS 2024 " +
    "(arXiv 2406.01375)",
  learns: true,
  parseOptions: (raw) => parseOptions(DcptOptionsSchema, raw, "dcpt"),
  minRuns: () => 6,
  fit(input: FitInput, o, rng) {
    const k = input.domains.length;
    const n = input.target.length;
    if (n < 6) throw new InputError(
      "dcpt",
      `expected at least 6 runs (the law fits 5 parameters per eval loss), got ${n}`,
    );
    const comps = input.components ?? { names: ["target"], values: [input.target] };
    const dName =
      o.domain ??
      (ownDomain(comps.names[0]!, input.domains) >= 0
        ? input.domains[ownDomain(comps.names[0]!, input.domains)]
        : undefined);
    if (dName === undefined) throw new InputError(
      "options of dcpt",
      `domain: expected the domain-specific corpus (one of ${input.domains.join(", ")}) ` +
        "when the target is not loss.<domain>, got none",
    );
    const d = input.domains.indexOf(dName);
    if (d < 0) throw new InputError(
      "options of dcpt",
      `domain: expected one of ${input.domains.join(", ")}, got ${JSON.stringify(dName)}`,
    );
    const r = Float64Array.from({ length: n }, (_, i) => input.weights[i * k + d]!);
    if (new Set(r).size < 2) throw new InputError(
      "dcpt",
      `expected runs that vary the share of ${dName}, got ${r[0]} in every run`,
    );
    // General data: the other domains in their average proportions among the runs' general part.
    const general = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const rest = 1 - r[i]!;
      if (rest > 1e-12)
        for (let j = 0; j < k; j++) if (j !== d) general[j] = general[j]! + input.weights[i * k + j]! / rest;
    }
    let gs = 0;
    for (const v of general) gs += v;
    for (let j = 0; j < k; j++) general[j] = gs > 0 ? general[j]! / gs : j === d ? 0 : 1 / (k - 1);
    const amount = input.amount && new Set(input.amount).size >= 3 ? input.amount : null;
    let target = 1;
    if (amount) for (const a of amount) target = Math.max(target, a);
    const fits = comps.values.map((y, ci) => {
      const own = ownDomain(comps.names[ci]!, input.domains);
      const domainShare = own === d || own < 0;
      const s = domainShare ? r : Float64Array.from(r, (v) => 1 - v);
      return fitComponent(comps.names[ci]!, domainShare, s, y, amount, o, rng.derive(`dcpt:${comps.names[ci]}`)).comp;
    });
    return dcptLaw(input.domains, d, general, fits, aggregationWeights(comps), target, o);
  },
  load(domains, params) {
    const o = parseOptions(DcptOptionsSchema, params.options, "dcpt");
    const d = domains.indexOf(String(params.domain));
    if (d < 0) throw new InputError(
      "model",
      `expected domain ${JSON.stringify(params.domain)} among the model's domains, got none`,
    );
    const raw = params.components as (DcptComponent & { weight: number })[];
    return dcptLaw(
      domains,
      d,
      Float64Array.from(params.general as number[]),
      raw.map(({ weight: _w, ...c }) => c),
      Float64Array.from(raw, (c) => c.weight),
      params.targetAmount as number,
      o,
    );
  },
};
