// The RegMix swarm design (Liu et al., ICLR 2025; ALGORITHMS.md §2.1 step 1) as a Suggester:
// tempered prior q' ∝ q^α (α = 0.5), per-domain caps u_i = min(usage · q_i, 1) (usage 15) or, when
// token counts and a budget are given, the epoch caps min(1, E n_i / N); for each draw a
// concentration λ uniformly from 15 log-spaced values in [0.1, 5], p ~ Dirichlet(λ q'), reject if
// any p_i > u_i; shares below 2e-4 become 0; shares are rounded to multiples of 2e-4 by largest
// remainder (so rows sum to exactly 1, unlike the reference's independent rounding); duplicates
// (identical rows: the reference's L1 < 1e-5 for any unit ≥ 5e-6) dropped; `oversample`·n
// accepted draws are made and n kept at random. Minimum shares shift every draw into the box.

import { z } from "zod";
import type { Rng } from "../../src/rng/index.js";
import { sampleDirichlet } from "../../src/core/dirichlet.js";
import { apportion } from "../../src/core/simplex.js";
import { parseOptions } from "../common/options.js";
import { InputError } from "../../src/errors.js";
import type { Suggester } from "../types.js";

/** The largest swarm one call designs (`n` draws × oversample, and an O(n²) duplicate check). */
export const MAX_SWARM_SIZE = 10_000;

export const DirichletSwarmOptionsSchema = z.strictObject({
  /** Exponent α of the tempered prior q^α (default 0.5). */
  priorTemperature: z.number().positive().max(1).default(0.5),
  /** Smallest and largest concentration λ (default 0.1 and 5). */
  minConcentration: z.number().positive().default(0.1),
  maxConcentration: z.number().positive().default(5),
  /** Number of log-spaced concentrations (default 15). */
  numConcentrations: z.number().int().min(1).default(15),
  /** A domain may get at most usage × its natural share (default 15); ignored when epoch caps are given. */
  maxUsage: z.number().positive().default(15),
  /** Shares below this become 0, and shares are multiples of it (default 2e-4). */
  minShare: z.number().min(5e-6).max(0.1).default(2e-4),
  /** Accepted draws per kept mixture before the random selection (default 100). */
  oversample: z.number().int().min(1).default(100),
  /** Rejected draws allowed per accepted one before giving up (default 1000). */
  maxRejectionsPerDraw: z.number().int().min(1).default(1000),
});
export type DirichletSwarmOptions = z.infer<typeof DirichletSwarmOptionsSchema>;

/** Inputs of a swarm design. */
export interface SwarmRequest {
  readonly domains: readonly string[];
  /** Natural shares (default uniform). */
  readonly prior?: Float64Array;
  /** Explicit upper bound per domain (epoch caps); default min(usage · prior, 1). */
  readonly caps?: Float64Array;
  /** Lower bound per domain (minimum shares); default 0. */
  readonly lower?: Float64Array;
  /** Mixtures to design. */
  readonly n: number;
}

/** Largest-remainder rounding of p to multiples of `unit` (1/unit must be an integer) summing to 1. */
export function roundToUnits(p: Float64Array, unit: number): Float64Array {
  const total = Math.round(1 / unit);
  const units = apportion(p, total);
  return Float64Array.from(units, (u) => u / total);
}

/**
 * Designs a swarm of mixtures to train.
 * @returns (n × k) proportions, row-major
 * @throws InputError when the caps make the design impossible (no draw accepted)
 */
export function designSwarm(req: SwarmRequest, options: DirichletSwarmOptions, rng: Rng): Float64Array {
  const k = req.domains.length;
  const o = options;
  if (!(req.n >= 1 && req.n <= MAX_SWARM_SIZE && Number.isInteger(req.n))) {
    throw new InputError("--n", `expected an integer in [1, ${MAX_SWARM_SIZE}], got ${req.n}`);
  }
  if (o.minConcentration > o.maxConcentration) {
    throw new InputError(
      "options of dirichlet",
      `minConcentration: expected at most maxConcentration (${o.maxConcentration}), got ${o.minConcentration}`,
    );
  }
  const prior = req.prior ?? new Float64Array(k).fill(1 / k);
  const tempered = new Float64Array(k);
  let s = 0;
  for (let i = 0; i < k; i++) {
    tempered[i] = prior[i]! > 0 ? prior[i]! ** o.priorTemperature : 0;
    s += tempered[i]!;
  }
  if (!(s > 0)) {
    throw new InputError("prior", `expected a prior with some positive share, got ${Array.from(prior).join(", ")}`);
  }
  for (let i = 0; i < k; i++) tempered[i] = tempered[i]! / s;
  const caps = req.caps ?? Float64Array.from(prior, (q) => Math.min(1, o.maxUsage * q));
  // Minimum shares: every draw is a Dirichlet point of the reduced simplex (1 − Σ lower) moved up
  // by `lower`; shares are whole units of o.minShare, the lower bounds rounded up to units first.
  const total = Math.round(1 / o.minShare);
  const lowerUnits = new Float64Array(k);
  let lowerSum = 0;
  for (let i = 0; i < k; i++) {
    const l = req.lower?.[i] ?? 0;
    lowerUnits[i] = l > 0 ? Math.ceil(l * total - 1e-9) : 0;
    lowerSum += lowerUnits[i]!;
  }
  let capSum = 0;
  for (let i = 0; i < k; i++) {
    capSum += caps[i]!;
    if (lowerUnits[i]! / total > caps[i]! + 1e-12) {
      throw new InputError(
        "caps",
        `${req.domains[i]}: expected a maximum share (${caps[i]!.toPrecision(4)}) at least the minimum share, ` +
          `got a minimum of ${(lowerUnits[i]! / total).toPrecision(4)}`,
      );
    }
  }
  if (capSum < 1 - 1e-12) {
    throw new InputError(
      "caps",
      `expected maximum shares that allow a full mixture, got maximum shares summing to ${capSum.toPrecision(4)}`,
    );
  }
  if (lowerSum > total) {
    throw new InputError(
      "caps",
      `expected minimum shares summing to at most 1, got ${(lowerSum / total).toPrecision(4)}`,
    );
  }
  const free = total - lowerSum;
  const lambdas = Array.from({ length: o.numConcentrations }, (_, i) =>
    o.numConcentrations === 1
      ? o.minConcentration
      : Math.exp(
          Math.log(o.minConcentration) +
            (i * (Math.log(o.maxConcentration) - Math.log(o.minConcentration))) / (o.numConcentrations - 1),
        ),
  );
  const want = req.n * o.oversample;
  const accepted: Float64Array[] = [];
  const alpha = new Float64Array(k);
  const p = new Float64Array(k);
  const scale = free / total;
  let rejections = 0;
  while (accepted.length < want) {
    const lambda = lambdas[rng.nextInt(lambdas.length)]!;
    for (let i = 0; i < k; i++) alpha[i] = Math.max(lambda * tempered[i]!, 1e-12);
    sampleDirichlet(alpha, rng, p);
    let ok = true;
    for (let i = 0; i < k; i++) if (lowerUnits[i]! / total + scale * p[i]! > caps[i]!) ok = false;
    if (!ok) {
      if (++rejections > o.maxRejectionsPerDraw * (accepted.length + 1)) {
        throw new InputError(
          "caps",
          `expected caps that Dirichlet draws around the prior can satisfy, got ${rejections} rejections for ` +
            `${accepted.length} accepted draws; loosen --max-share, --max-epochs or maxUsage`,
        );
      }
      continue;
    }
    let t = 0;
    for (let i = 0; i < k; i++) {
      if (p[i]! < o.minShare) p[i] = 0;
      t += p[i]!;
    }
    if (t <= 0) continue;
    for (let i = 0; i < k; i++) p[i] = p[i]! / t;
    const units = apportion(p, free);
    const r = new Float64Array(k);
    let capOk = true;
    for (let i = 0; i < k; i++) {
      r[i] = (lowerUnits[i]! + units[i]!) / total;
      if (r[i]! > caps[i]! + 1e-12) capOk = false;
    }
    if (capOk) accepted.push(r);
  }
  // Shuffle the accepted draws, then keep the first n that are not duplicates of a kept one: a
  // uniformly random selection of distinct mixtures. Rows are whole units of minShare, so two rows
  // within L1 < 1e-5 of each other are identical whenever minShare ≥ 5e-6 (the default is 2e-4):
  // a set of exact keys finds them in O(n·k) instead of comparing every pair.
  rng.shuffle(accepted);
  const kept: Float64Array[] = [];
  const seen = new Set<string>();
  for (const a of accepted) {
    const key = a.join(",");
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(a);
    if (kept.length === req.n) break;
  }
  if (kept.length < req.n) {
    throw new InputError(
      "--n",
      `expected at most ${kept.length} distinct mixtures from this design, got a request for ${req.n}`,
    );
  }
  const out = new Float64Array(req.n * k);
  for (let i = 0; i < req.n; i++) out.set(kept[i]!, i * k);
  return out;
}

/** The RegMix swarm as a Suggester: caps from the constraint box (epoch caps replace the usage cap). */
export const dirichletSwarm: Suggester<DirichletSwarmOptions> = {
  name: "dirichlet",
  summary: "RegMix swarm design: Dirichlet draws around a tempered prior with usage or epoch caps",
  paper: "Liu et al., RegMix: Data Mixture as Regression for Language Model Pre-training, ICLR 2025",
  needsRuns: false,
  multiFidelity: false,
  maxN: MAX_SWARM_SIZE,
  runIdPrefix: "s",
  parseOptions: (raw) => parseOptions(DirichletSwarmOptionsSchema, raw, "dirichlet"),
  suggest(input, n, options, rng) {
    const k = input.domains.length;
    const prior = input.prior ?? new Float64Array(k).fill(1 / k);
    const c = input.constraints;
    const epochCaps = c.epochCapped.some((x) => x);
    const caps = Float64Array.from(c.box.upper, (u, i) =>
      (epochCaps ? u : Math.min(u, options.maxUsage * prior[i]!, 1)),
    );
    const w = designSwarm({ domains: input.domains, n, prior, caps, lower: c.box.lower }, options, rng);
    return Array.from({ length: n }, (_, i) => ({ proportions: w.slice(i * k, (i + 1) * k) }));
  },
};
