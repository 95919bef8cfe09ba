// Bayesian optimisation over mixtures (ALGORITHMS.md §4.1, ADMIRE-BayesOpt's setting), natively on
// the simplex: candidates are generated on it (Dirichlet draws around the prior and uniform,
// perturbations of the best observed mixtures, all moved into the constraint box), scored by the
// acquisition, and the best few refined by a shrinking Dirichlet hill-climb — so no equality
// constraint or rejection sampling is ever needed. Batches use the kriging believer (each chosen
// point, and each pending run, is added at its posterior mean with the hyperparameters kept);
// multi-fidelity proposals are (mixture, fidelity) pairs scored by Huang et al.'s augmented EI.
// Stateless: the runs table is the state; the same table and seed give the same proposals.
//
// Deviations from ADMIRE's reference (read, not reused: CC BY-NC-SA): the cost-aware acquisition
// is augmented EI rather than max-value entropy search; inputs use the square-root map of the
// simplex rather than raw coordinates; the bias kernel shares the length scales of the main one.

import { z } from "zod";
import type { Rng } from "../../src/rng/index.js";
import type { FitInput, FittedLaw, Law, ResolvedConstraints } from "../types.js";
import type { Box } from "../../src/core/simplex.js";
import { repairMultiplicative, l1Distance, apportion } from "../../src/core/simplex.js";
import { sampleDirichlet } from "../../src/core/dirichlet.js";
import { parseParams, savedLawShape, finite, numbers, loadField } from "../common/params.js";
import { parseOptions } from "../common/options.js";
import { priorOf } from "../common/prior.js";
import { InputError, FitError } from "../../src/errors.js";
import { conditionGp, features, fitGp, forwardSolve, kernel, predictGp, type Gp, type GpHyper } from "./gp.js";
import { logExpectedImprovement, lowerConfidenceBound, logAugmentedEi } from "./acquisition.js";

export const BayesOptOptionsSchema = z.strictObject({
  /** Acquisition: log expected improvement (default) or lower confidence bound. */
  acquisition: z.enum(["logei", "lcb"]).default("logei"),
  /** LCB's exploration weight β (default 2). */
  beta: z.number().min(0).default(2),
  /** Candidates scored per proposal (default 2048). */
  numCandidates: z.number().int().min(16).default(2048),
  /** Best candidates refined by local search (default 4) and steps each (default 48). */
  numRefine: z.number().int().min(0).default(4),
  refineSteps: z.number().int().min(0).default(48),
  /** Hyperparameter restarts besides the default start (default 1). */
  restarts: z.number().int().min(0).default(1),
  /** Recommendation criterion of `fit`: the posterior mean + one sd (default) or the mean alone. */
  risk: z.enum(["mean", "pessimistic"]).default("pessimistic"),
  /** Runs (a seeded subset) the hyperparameters are fitted on; the posterior uses every run (default 300). */
  maxFitPoints: z.number().int().min(8).default(300),
  /** Fidelities (z in (0, 1], 1 = target) a proposal may choose, and their costs (default: the fidelities seen). */
  fidelities: z.array(z.number().positive().max(1)).optional(),
});
export type BayesOptOptions = z.infer<typeof BayesOptOptionsSchema>;

/** Observations for the suggester: mixtures, outcomes (NaN = pending), fidelities (or null). */
export interface BoData {
  readonly domains: readonly string[];
  readonly weights: Float64Array; // (n × k)
  readonly y: Float64Array; // (n), NaN for pending runs
  readonly fidelity: Float64Array | null; // (n) in (0, 1], 1 = target
  readonly prior?: Float64Array;
}

/** One proposal. */
export interface Proposal {
  readonly proportions: Float64Array;
  /** Fidelity to run it at (1 = target). */
  readonly fidelity: number;
  /** Acquisition value and the posterior at the target fidelity. */
  readonly acquisition: number;
  readonly predictedMean: number;
  readonly predictedSd: number;
}

const TARGET = 1;

/** Fits the GP on the finished runs (pending ones are added later as fantasies). */
function fitOn(data: BoData, o: BayesOptOptions, rng: Rng): { gp: Gp; done: number[]; pending: number[] } {
  const k = data.domains.length;
  const n = data.y.length;
  const done: number[] = [];
  const pending: number[] = [];
  for (let i = 0; i < n; i++) (Number.isFinite(data.y[i]!) ? done : pending).push(i);
  if (done.length < 2) throw new FitError(
    `Bayesian optimisation needs at least 2 finished runs, got ${done.length}; ` +
      "start with a swarm (mixlab suggest --method dirichlet)",
  );
  const x = new Float64Array(done.length * k);
  const y = new Float64Array(done.length);
  const zz = data.fidelity ? new Float64Array(done.length) : null;
  done.forEach((r, i) => {
    x.set(features(data.weights.subarray(r * k, (r + 1) * k)), i * k);
    y[i] = data.y[r]!;
    if (zz) zz[i] = data.fidelity![r]!;
  });
  return { gp: fitGp(x, zz, y, k, rng, { restarts: o.restarts }), done, pending };
}

/** Adds fantasy observations (at the posterior mean) and re-conditions with the same hyperparameters. */
function withFantasies(gp: Gp, xs: Float64Array[], zs: number[]): Gp {
  if (xs.length === 0) return gp;
  const d = gp.dims;
  const n = gp.n;
  const x = new Float64Array((n + xs.length) * d);
  x.set(gp.x);
  const z = new Float64Array(n + xs.length);
  z.set(gp.z);
  const y = new Float64Array(n + xs.length);
  y.set(gp.y);
  const m1 = new Float64Array(1);
  const v1 = new Float64Array(1);
  xs.forEach((f, j) => {
    x.set(f, (n + j) * d);
    z[n + j] = zs[j]!;
    predictGp(gp, f, gp.multiFidelity ? Float64Array.of(zs[j]!) : null, m1, v1);
    y[n + j] = m1[0]!;
  });
  return conditionGp(x, z, y, d, gp.multiFidelity, gp.hyper as GpHyper, gp.yMean, gp.yStd);
}

/** Candidate mixtures (rows × k) on the simplex, inside the box. */
function candidates(
  data: BoData,
  prior: Float64Array,
  box: Box,
  num: number,
  rng: Rng,
  incumbents: Float64Array[],
): Float64Array {
  const k = data.domains.length;
  const out = new Float64Array(num * k);
  const alpha = new Float64Array(k);
  const row = new Float64Array(k);
  const fixed = new Float64Array(k);
  for (let c = 0; c < num; c++) {
    const kind = c % 4;
    if (kind === 0 || incumbents.length === 0) {
      const conc = [1, 5, 20][c % 3]!;
      for (let i = 0; i < k; i++) alpha[i] = Math.max(prior[i]! * conc, 1e-3);
    } else if (kind === 1) alpha.fill(1);
    else {
      const inc = incumbents[c % incumbents.length]!;
      const conc = kind === 2 ? 30 : 150;
      for (let i = 0; i < k; i++) alpha[i] = inc[i]! * conc + 0.02;
    }
    sampleDirichlet(alpha, rng, row);
    out.set(repairMultiplicative(row, box, fixed), c * k);
  }
  return out;
}

/**
 * A Dirichlet hill-climb on the box ∩ simplex: perturb around the current point with a
 * concentration that grows as 50·2^(step/halving) (shrinking steps), keep improvements.
 * `better(p)` returns a score to maximise, or null to reject the point (e.g. a duplicate).
 */
function hillClimb<S extends { value: number }>(
  start: { p: Float64Array; s: S },
  score: (p: Float64Array) => S | null,
  box: Box,
  steps: number,
  halving: number,
  rng: Rng,
): { p: Float64Array; s: S } {
  const k = start.p.length;
  const alpha = new Float64Array(k);
  const row = new Float64Array(k);
  const fixed = new Float64Array(k);
  let cur = start;
  for (let step = 0; step < steps; step++) {
    const conc = 50 * 2 ** (step / halving);
    for (let i = 0; i < k; i++) alpha[i] = cur.p[i]! * conc + 0.01;
    sampleDirichlet(alpha, rng, row);
    const p = Float64Array.from(repairMultiplicative(row, box, fixed));
    const s = score(p);
    if (s !== null && s.value > cur.s.value) cur = { p, s };
  }
  return cur;
}

/** The suggester (library API): `suggest(data, n, constraints, rng)` → proposals. */
export function suggestBayesOpt(
  data: BoData,
  n: number,
  constraints: ResolvedConstraints,
  options: Partial<BayesOptOptions>,
  rng: Rng,
): Proposal[] {
  const o = parseOptions(BayesOptOptionsSchema, options, "bayesopt");
  const k = data.domains.length;
  const prior = data.prior ?? new Float64Array(k).fill(1 / k);
  const { gp: fitted, done, pending } = fitOn(data, o, rng.derive("gp"));
  const mf = data.fidelity !== null;
  const fids = mf ? (o.fidelities ?? [...new Set(Array.from(data.fidelity!))]).sort((a, b) => a - b) : [TARGET];
  if (mf && !fids.includes(TARGET)) fids.push(TARGET);
  // Pending runs are fantasies from the start.
  let gp = withFantasies(
    fitted,
    pending.map((r) => features(data.weights.subarray(r * k, (r + 1) * k))),
    pending.map((r) => (mf ? data.fidelity![r]! : TARGET)),
  );
  const taken: Float64Array[] = [];
  for (let r = 0; r < data.y.length; r++) taken.push(data.weights.slice(r * k, (r + 1) * k));
  // Incumbents: the best finished runs (at the target fidelity when there are some).
  const atTarget = done.filter((r) => !mf || data.fidelity![r] === TARGET);
  const ranked = (atTarget.length ? atTarget : done).slice().sort((a, b) => data.y[a]! - data.y[b]!);
  const incumbents = ranked.slice(0, 5).map((r) => data.weights.slice(r * k, (r + 1) * k));
  const proposals: Proposal[] = [];
  const crng = rng.derive("candidates");
  for (let b = 0; b < n; b++) {
    // Best value so far at the target fidelity: the lowest posterior mean over observed mixtures.
    const obsX = new Float64Array(taken.length * k);
    taken.forEach((t, i) => obsX.set(features(t), i * k));
    const mu = new Float64Array(taken.length);
    const va = new Float64Array(taken.length);
    predictGp(gp, obsX, mf ? new Float64Array(taken.length).fill(TARGET) : null, mu, va);
    let best = Infinity;
    for (const v of mu) best = Math.min(best, v);
    const score = (p: Float64Array): { value: number; fidelity: number; mean: number; sd: number } => {
      const f = features(p);
      const m = new Float64Array(1);
      const v = new Float64Array(1);
      predictGp(gp, f, mf ? Float64Array.of(TARGET) : null, m, v);
      const sd = Math.sqrt(v[0]!);
      const base =
        o.acquisition === "lcb" ? -lowerConfidenceBound(m[0]!, sd, o.beta) : logExpectedImprovement(m[0]!, sd, best);
      if (!mf) return { value: base, fidelity: TARGET, mean: m[0]!, sd };
      // Augmented EI over fidelities (uses log EI at the target regardless of `acquisition`).
      const logEi = logExpectedImprovement(m[0]!, sd, best);
      let bestValue = -Infinity;
      let bestZ = TARGET;
      const mz = new Float64Array(1);
      const vz = new Float64Array(1);
      for (const zf of fids) {
        predictGp(gp, f, Float64Array.of(zf), mz, vz);
        const corr = zf === TARGET ? 1 : posteriorCorrelation(gp, f, zf);
        const value = logAugmentedEi(logEi, corr, vz[0]! / (gp.yStd * gp.yStd), gp.hyper.noiseVariance, TARGET / zf);
        if (value > bestValue) {
          bestValue = value;
          bestZ = zf;
        }
      }
      return { value: bestValue, fidelity: bestZ, mean: m[0]!, sd };
    };
    const cand = candidates(data, prior, constraints.box, o.numCandidates, crng, [
      ...incumbents,
      ...proposals.map((p) => p.proportions),
    ]);
    const scored: { p: Float64Array; s: ReturnType<typeof score> }[] = [];
    for (let c = 0; c < o.numCandidates; c++) {
      const p = cand.slice(c * k, (c + 1) * k);
      if (taken.some((t) => l1Distance(t, p) < 1e-6)) continue;
      scored.push({ p, s: score(p) });
    }
    scored.sort((a, b) => b.s.value - a.s.value);
    // Local refinement: Dirichlet perturbations around the best few, with shrinking steps.
    let winner = scored[0];
    if (!winner) throw new FitError("no candidate mixture differs from the runs already in the table");
    for (const start of scored.slice(0, o.numRefine)) {
      const cur = hillClimb(
        start,
        (p) => (taken.some((t) => l1Distance(t, p) < 1e-6) ? null : score(p)),
        constraints.box,
        o.refineSteps,
        12,
        crng,
      );
      if (cur.s.value > winner.s.value) winner = cur;
    }
    proposals.push({
      proportions: tidy(winner.p, constraints.box),
      fidelity: winner.s.fidelity,
      acquisition: winner.s.value,
      predictedMean: winner.s.mean,
      predictedSd: winner.s.sd,
    });
    const chosen = proposals[proposals.length - 1]!.proportions;
    taken.push(chosen);
    gp = withFantasies(gp, [features(chosen)], [winner.s.fidelity]);
  }
  return proposals;
}

/**
 * A proposal a trainer can use: shares below 1e-4 become 0 (as RegMix's designs do), the rest are
 * rounded to multiples of 1e-6 by largest remainder, then moved into the constraint box.
 */
export function tidy(p: Float64Array, box: Box): Float64Array {
  const q = Float64Array.from(p, (v) => (v < 1e-4 ? 0 : v));
  let s = 0;
  for (const v of q) s += v;
  const units = apportion(Float64Array.from(q, (v) => v / s), 1_000_000);
  const r = Float64Array.from(units, (u) => u / 1_000_000);
  let inside = true;
  for (let i = 0; i < r.length; i++) if (r[i]! < box.lower[i]! || r[i]! > box.upper[i]!) inside = false;
  return inside ? r : Float64Array.from(repairMultiplicative(r, box));
}

/** Posterior correlation between f(x, z) and f(x, 1) at one feature row f. */
function posteriorCorrelation(gp: Gp, f: Float64Array, zf: number): number {
  const { n, dims: d, hyper: h, multiFidelity: mf } = gp;
  const kz = new Float64Array(n);
  const k1 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    kz[i] = kernel(gp.x, i, gp.z[i]!, f, 0, zf, d, h, mf);
    k1[i] = kernel(gp.x, i, gp.z[i]!, f, 0, TARGET, d, h, mf);
  }
  const vz = forwardSolve(gp.l, n, kz);
  const v1 = forwardSolve(gp.l, n, k1);
  let czz = kernel(f, 0, zf, f, 0, zf, d, h, mf);
  let c11 = kernel(f, 0, TARGET, f, 0, TARGET, d, h, mf);
  let cz1 = kernel(f, 0, zf, f, 0, TARGET, d, h, mf);
  for (let i = 0; i < n; i++) {
    cz1 -= vz[i]! * v1[i]!;
    czz -= vz[i]! * vz[i]!;
    c11 -= v1[i]! * v1[i]!;
  }
  return cz1 / Math.sqrt(Math.max(czz, 1e-12) * Math.max(c11, 1e-12));
}

// ---------------------------------------------------------------------------------------------
// As a Law (`mixlab fit --method bayesopt`): the GP posterior mean at the target fidelity, and
// its minimum over the box by candidate search + refinement.

function bayesLaw(
  domains: readonly string[],
  gp: Gp,
  prior: Float64Array,
  priorSource: string,
  o: BayesOptOptions,
): FittedLaw & { readonly hyper: GpHyper } {
  const k = domains.length;
  const predict = (mixtures: Float64Array, out: Float64Array = new Float64Array(mixtures.length / k)): Float64Array => {
    const m = mixtures.length / k;
    predictGp(
      gp,
      features(mixtures),
      gp.multiFidelity ? new Float64Array(m).fill(TARGET) : null,
      out,
      new Float64Array(0),
    );
    return out;
  };
  const predictSd = (mixtures: Float64Array): Float64Array => {
    const m = mixtures.length / k;
    const mean = new Float64Array(m);
    const v = new Float64Array(m);
    predictGp(gp, features(mixtures), gp.multiFidelity ? new Float64Array(m).fill(TARGET) : null, mean, v);
    return v.map(Math.sqrt);
  };
  const sdWeight = o.risk === "pessimistic" ? 1 : 0;
  return {
    method: "bayesopt",
    domains,
    hyper: gp.hyper,
    predictSd,
    info: {
      observations: gp.n,
      lengthscales: Array.from(gp.hyper.lengthscales),
      noiseVariance: gp.hyper.noiseVariance,
      multiFidelity: gp.multiFidelity,
    },
    predict,
    recommend(constraints: ResolvedConstraints, rng: Rng) {
      // Minimise a pessimistic bound μ + σ at the target fidelity (a common final-recommendation
      // rule: it trusts the model where it has data, instead of its most optimistic extrapolation);
      // with risk "mean", the posterior mean alone.
      const pessimistic = (rows: Float64Array): { bound: Float64Array; mean: Float64Array } => {
        const m = rows.length / k;
        const mean = new Float64Array(m);
        const v = new Float64Array(m);
        predictGp(gp, features(rows), gp.multiFidelity ? new Float64Array(m).fill(TARGET) : null, mean, v);
        return { bound: Float64Array.from(mean, (mu, i) => mu + sdWeight * Math.sqrt(v[i]!)), mean };
      };
      const data: BoData = { domains, weights: new Float64Array(0), y: new Float64Array(0), fidelity: null, prior };
      const cand = candidates(data, prior, constraints.box, o.numCandidates * 4, rng, []);
      const scored = pessimistic(cand);
      let bi = 0;
      for (let i = 1; i < scored.bound.length; i++) if (scored.bound[i]! < scored.bound[bi]!) bi = i;
      const start = cand.slice(bi * k, (bi + 1) * k);
      const climbed = hillClimb(
        { p: start, s: { value: -scored.bound[bi]! } },
        (p) => ({ value: -pessimistic(p).bound[0]! }),
        constraints.box,
        200,
        25,
        rng,
      );
      let cur = climbed.p;
      let curB = -climbed.s.value;
      // The observed mixtures inside the box, at the target fidelity, compete on the same bound.
      let source = "search";
      const d = gp.dims;
      for (let i = 0; i < gp.n; i++) {
        if (gp.multiFidelity && gp.z[i] !== TARGET) continue;
        const p = new Float64Array(k);
        let s = 0;
        for (let t = 0; t < d; t++) {
          p[t] = gp.x[i * d + t]! ** 2;
          s += p[t]!;
        }
        for (let t = 0; t < k; t++) p[t] = p[t]! / s;
        let inside = true;
        for (let t = 0; t < k; t++)
          if (p[t]! < constraints.box.lower[t]! - 1e-12 || p[t]! > constraints.box.upper[t]! + 1e-12) inside = false;
        if (!inside) continue;
        const b = pessimistic(p).bound[0]!;
        if (b < curB) {
          cur = p;
          curB = b;
          source = `observed run ${i + 1}`;
        }
      }
      return {
        proportions: cur,
        predicted: predict(cur)[0]!,
        details: {
          search:
            `minimum of ${sdWeight ? "μ + σ" : "μ"} at the target fidelity over candidates, ` +
            "a Dirichlet hill-climb and the observed runs",
          chosen: source,
          prior: priorSource,
          predictedSd: predictSd(cur)[0],
        },
      };
    },
    toParams: () => ({
      options: o,
      prior: Array.from(prior),
      priorSource,
      x: Array.from(gp.x),
      z: Array.from(gp.z),
      yMean: gp.yMean,
      yStd: gp.yStd,
      multiFidelity: gp.multiFidelity,
      hyper: {
        lengthscales: Array.from(gp.hyper.lengthscales),
        outputVariance: gp.hyper.outputVariance,
        noiseVariance: gp.hyper.noiseVariance,
        biasVariance: gp.hyper.biasVariance,
        power: gp.hyper.power,
      },
      // Outcomes in original units; loading re-conditions on exactly these.
      y: Array.from(gp.y),
    }),
  };
}

const SavedBayesOptSchema = z.strictObject({
  ...savedLawShape,
  x: numbers,
  z: numbers,
  y: numbers.min(1),
  yMean: finite,
  yStd: z.number().positive(),
  multiFidelity: z.boolean(),
  hyper: z.strictObject({
    lengthscales: z.array(z.number().positive()),
    outputVariance: z.number().positive(),
    noiseVariance: z.number().positive(),
    biasVariance: z.number().min(0),
    power: finite,
  }),
});

export const bayesopt: Law<BayesOptOptions> = {
  name: "bayesopt",
  summary:
    "Bayesian optimisation: GP (Matérn-5/2 ARD on √p, multi-fidelity kernel) — fit recommends the minimum of " +
    "μ + σ at the target fidelity; suggest proposes the next runs",
  paper:
    "Chen et al., ADMIRE-BayesOpt (arXiv 2508.11551); Wu et al. 2019 (multi-fidelity kernel); " +
    "Huang et al. 2006 (augmented EI)",
  learns: true,
  parseOptions: (raw) => parseOptions(BayesOptOptionsSchema, raw, "bayesopt"),
  minRuns: () => 3,
  fit(input: FitInput, o, rng) {
    const k = input.domains.length;
    const n = input.target.length;
    if (n < 3) throw new InputError("bayesopt", `expected at least 3 runs with a target, got ${n}`);
    const x = features(input.weights);
    const gp = fitGp(x, input.fidelity ?? null, input.target, k, rng, {
      restarts: o.restarts,
      maxFitPoints: o.maxFitPoints,
    });
    const { prior, source } = priorOf(input);
    return bayesLaw(input.domains, gp, prior, source, o);
  },
  refit(previous, input, o, rng) {
    const hyper = (previous as FittedLaw & { hyper?: GpHyper }).hyper;
    if (!hyper) return bayesopt.fit(input, o, rng);
    const gp = fitGp(features(input.weights), input.fidelity ?? null, input.target, input.domains.length, rng, {
      hyper,
    });
    const { prior, source } = priorOf(input);
    return bayesLaw(input.domains, gp, prior, source, o);
  },
  load(domains, params) {
    const p = parseParams(SavedBayesOptSchema, params, domains);
    const o = parseOptions(BayesOptOptionsSchema, p.options, "bayesopt");
    const k = domains.length;
    const n = p.y.length;
    const sizes: [string, number, number][] = [
      ["params.hyper.lengthscales", p.hyper.lengthscales.length, k],
      ["params.x", p.x.length, n * k],
      ["params.z", p.z.length, n],
    ];
    const wrong = sizes.filter(([, got, want]) => got !== want);
    if (wrong.length) throw new InputError(
      "model",
      wrong.map(([path, got, want]) => ({
        path,
        message: `expected ${want} numbers (${n} runs over ${k} domains), got ${got}`,
      })),
    );
    const hyper: GpHyper = { ...p.hyper, lengthscales: Float64Array.from(p.hyper.lengthscales) };
    const gp = loadField("params", () =>
      conditionGp(
        Float64Array.from(p.x),
        Float64Array.from(p.z),
        Float64Array.from(p.y),
        k,
        p.multiFidelity,
        hyper,
        p.yMean,
        p.yStd,
      ),
    );
    return bayesLaw(domains, gp, Float64Array.from(p.prior), p.priorSource, o);
  },
};

/** Options of `createBayesOpt`. */
export interface BayesOptSession {
  readonly domains: readonly string[];
  /** Constraints resolved with `resolveConstraints` (default: none). */
  readonly constraints?: ResolvedConstraints;
  readonly options?: Partial<BayesOptOptions>;
  /** uint32 seed; each call derives its own stream, so results do not depend on call history. */
  readonly seed?: number;
  readonly prior?: Float64Array;
  /** Use fidelities (observations then carry one; proposals choose one). */
  readonly multiFidelity?: boolean;
}

/**
 * The suggester as an object for training code (ask/tell): `observe` runs as they finish (or as
 * pending, with `NaN`), `suggest(n)` the next ones, `recommend()` the best mixture so far.
 * Deterministic: the same observations and seed give the same proposals.
 */
export function createBayesOpt(session: BayesOptSession) {
  const k = session.domains.length;
  const weights: number[] = [];
  const ys: number[] = [];
  const zs: number[] = [];
  const constraints = session.constraints ?? {
    box: { lower: new Float64Array(k), upper: new Float64Array(k).fill(1) },
    boxWithoutEpochCaps: { lower: new Float64Array(k), upper: new Float64Array(k).fill(1) },
    epochCapped: new Array(k).fill(false),
    description: {},
  };
  const data = (): BoData => ({
    domains: session.domains,
    weights: Float64Array.from(weights),
    y: Float64Array.from(ys),
    fidelity: session.multiFidelity ? Float64Array.from(zs) : null,
    ...(session.prior ? { prior: session.prior } : {}),
  });
  const rngFor = async (what: string) =>
    (await import("../../src/rng/index.js")).createRng(session.seed ?? 0).derive(`${what}:${ys.length}`);
  return {
    /** Records a run: its mixture, its loss (NaN while pending) and, multi-fidelity, its fidelity in (0, 1]. */
    observe(proportions: ArrayLike<number>, loss: number, fidelity = TARGET): void {
      if (proportions.length !== k) throw new InputError(
        "observe",
        `expected ${k} proportions, got ${proportions.length}`,
      );
      let s = 0;
      for (let i = 0; i < k; i++) {
        if (!(proportions[i]! >= 0)) throw new InputError(
          "observe",
          `proportion ${i}: expected a number ≥ 0, got ${proportions[i]}`,
        );
        s += proportions[i]!;
      }
      if (Math.abs(s - 1) > 1e-6) throw new InputError("observe", `expected proportions summing to 1, got ${s}`);
      if (!(fidelity > 0 && fidelity <= 1)) throw new InputError(
        "observe",
        `fidelity: expected a number in (0, 1], got ${fidelity}`,
      );
      for (let i = 0; i < k; i++) weights.push(proportions[i]!);
      ys.push(loss);
      zs.push(fidelity);
    },
    /** The next `n` runs to make. */
    async suggest(n: number): Promise<Proposal[]> {
      return suggestBayesOpt(data(), n, constraints, session.options ?? {}, await rngFor("suggest"));
    },
    /** The best mixture by the model so far (target fidelity). */
    async recommend() {
      const d = data();
      const done = Array.from(d.y.keys()).filter((i) => Number.isFinite(d.y[i]!));
      const w = new Float64Array(done.length * k);
      done.forEach((r, i) => w.set(d.weights.subarray(r * k, (r + 1) * k), i * k));
      const input: FitInput = {
        domains: session.domains,
        weights: w,
        target: Float64Array.from(done, (r) => d.y[r]!),
        ...(d.fidelity ? { fidelity: Float64Array.from(done, (r) => d.fidelity![r]!) } : {}),
        ...(session.prior ? { prior: session.prior } : {}),
      };
      const fitted = bayesopt.fit(
        input,
        parseOptions(BayesOptOptionsSchema, session.options ?? {}, "bayesopt"),
        await rngFor("fit"),
      );
      return fitted.recommend(constraints, await rngFor("recommend"));
    },
  };
}
