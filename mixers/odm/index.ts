// ODM (Albalak, Pan, Raffel, Wang, "Efficient Online Data Mixing For Language Model
// Pre-Training", arXiv 2312.02406; ALGORITHMS.md §3.6): every domain is an arm of an adversarial
// bandit (EXP3) whose reward is the training loss of the domain's data — a high loss means more
// left to learn. Porting notes, variants and defaults: mixers/odm/README.md.
//
// A pure state machine over train events: the policy for step s is a function of the reward
// estimates after steps < s and of t = s + 1; the only random choice (the arm of a step in
// `pull: "arm"` mode) is a counter-based draw keyed by (seed, step), so a restored mixer draws
// the same arms without replaying anything.

import { z } from "zod";
import type { MixerEvent, OnlineMixer, OnlineMixerFamily, OnlineMixerInit, OnlineMixerState } from "../types.js";
import { parseOptions } from "../common/options.js";
import {
  byName,
  checkDomains,
  checkEvent,
  domainIndex,
  makeState,
  parseState,
  resolveMixtureOption,
  type EventRules,
} from "../common/online-events.js";
import { StepStats, StepStatsSchema, vectorSchema } from "../common/domain-stats.js";
import { createRng, type Rng } from "../../src/rng/index.js";
import { entropy, repairMultiplicative, boxInfeasibility, type Box } from "../../src/core/simplex.js";
import { InputError, showValue, type InputIssue } from "../../src/errors.js";

/** ODM's options (strict: unknown keys are errors); each field states its default. */
export const OdmOptionsSchema = z.strictObject({
  /**
   * Reward estimate (default "smoothed-mean", the paper's): "smoothed-mean" R̂ ← βR̂ + (1−β)·r/π,
   * "exp3" R̂ ← R̂ + r/π (cumulative; reward scale 0.1 = the reference's ℓ/10), "mixed" the
   * reference's mixed-mini-batch updater R̂ ← βR̂ + (1−β)·exp(r) with a policy linear in R̂.
   */
  variant: z.enum(["smoothed-mean", "exp3", "mixed"]).default("smoothed-mean"),
  /**
   * How a step uses the policy (default "batch"): "batch" — proportions() is the policy π, the
   * batch mixes domains and every domain present is observed (importance weight 1); "arm" —
   * one domain per step drawn from π with the seeded rng, proportions() one-hot on it, reward
   * importance-weighted by 1/π (the paper's single-arm bandit).
   */
  pull: z.enum(["batch", "arm"]).default("batch"),
  /** History weight β of the smoothed estimates (default 0.9). */
  beta: z.number().min(0).max(1).lt(1).default(0.9),
  /** Steps of the run; sets the default warm-up (2% of it). */
  totalSteps: z.number().int().min(1).optional(),
  /** Steps trained on `initial` before the bandit moves (default 2% of totalSteps, else 0). */
  warmupSteps: z.number().int().min(0).optional(),
  /** Mixture of the warm-up steps, by domain (default uniform). */
  initial: z.record(z.string(), z.number()).optional(),
  /** Reward = rewardScale × loss (default 1; 0.1 for variant "exp3", the reference's ℓ/10). */
  rewardScale: z.number().positive().optional(),
  /** Cap on one reward after importance weighting (r/π; exp(r) for "mixed") (default none). */
  rewardClip: z.number().positive().optional(),
  /**
   * Floor on every step's share, one number for all domains or by domain (default 0): the bandit
   * favours hard, noisy domains (ALGORITHMS.md §5.2); the policy is repaired into the box by
   * P4's multiplicative repair, the warm-up included, and importance weights use the repaired π.
   */
  minShare: z.union([z.number().min(0).max(1), z.record(z.string(), z.number().min(0).max(1))]).optional(),
  /** Cap on every step's share, one number or by domain (default 1). */
  maxShare: z.union([z.number().min(0).max(1), z.record(z.string(), z.number().min(0).max(1))]).optional(),
});
/** ODM's options after defaults. */
export type OdmOptions = z.infer<typeof OdmOptionsSchema>;

const OdmDataSchema = (k: number) =>
  z.strictObject({
    /** Reward estimates after every committed step. */
    committed: vectorSchema(k),
    /** Reward estimates including the step being merged. */
    current: vectorSchema(k),
    /** Times each domain was observed (committed + current step). */
    observed: z.array(z.number().int().min(0)).length(k),
    pending: StepStatsSchema,
    lastStep: z.number().int().min(-1),
  });

const ACCEPTS = ["train"] as const;

/** Resolves minShare / maxShare to a box in domain order (null without either); InputError if empty. */
function shareBox(o: OdmOptions, domains: readonly string[]): Box | null {
  if (o.minShare === undefined && o.maxShare === undefined) return null;
  const issues: InputIssue[] = [];
  const index = new Set(domains);
  const read = (name: "minShare" | "maxShare", fallback: number): Float64Array => {
    const v = o[name];
    if (v === undefined || typeof v === "number") return new Float64Array(domains.length).fill(v ?? fallback);
    for (const d of Object.keys(v)) {
      if (!index.has(d)) {
        const message = `expected one of the mixer's domains (${domains.join(", ")}), got an unknown domain`;
        issues.push({ path: `${name}.${d}`, message });
      }
    }
    return Float64Array.from(domains, (d) => v[d] ?? fallback);
  };
  const box = { lower: read("minShare", 0), upper: read("maxShare", 1) };
  const why = issues.length ? null : boxInfeasibility(box);
  if (why) {
    const named = why.replace(/^domain (\d+)/, (_, i: string) => `domain ${JSON.stringify(domains[Number(i)])}`);
    issues.push({ path: "minShare", message: `expected floors and caps that leave room for a mixture, got ${named}` });
  }
  if (issues.length) throw new InputError("options of odm", issues);
  return box;
}

/** ε_t = min(1/K, sqrt(ln K / (K t))), with ε_0 = 1/K. */
export function explorationRate(numArms: number, t: number): number {
  if (t <= 0) return 1 / numArms;
  return Math.min(1 / numArms, Math.sqrt(Math.log(numArms) / (numArms * t)));
}

class OdmMixer implements OnlineMixer {
  readonly method = "odm";
  readonly domains: readonly string[];
  readonly accepts = ACCEPTS;
  private readonly k: number;
  private readonly index: Map<string, number>;
  private readonly rules: EventRules;
  private readonly o: OdmOptions;
  private readonly warmup: number;
  private readonly initial: Float64Array;
  private readonly scale: number;
  /** The floors and caps of every step's share, or null when there are none. */
  private readonly box: Box | null;
  private readonly seed: number;
  private readonly root: Rng;
  private readonly committed: Float64Array;
  private readonly current: Float64Array;
  private readonly observed: Float64Array;
  private readonly pending: StepStats;
  private lastStep = -1;
  /** Scratch for the policy and proportions (no allocation per step). */
  private readonly pi: Float64Array;
  private readonly piStep: Float64Array;

  constructor(init: OnlineMixerInit<OdmOptions>) {
    checkDomains("odm", init.domains);
    this.domains = [...init.domains];
    this.k = this.domains.length;
    this.index = domainIndex(this.domains);
    this.o = init.options;
    this.rules = { method: "odm", domains: this.domains, index: this.index, accepts: ACCEPTS, tokens: true };
    const total = init.options.totalSteps;
    this.warmup = init.options.warmupSteps ?? (total !== undefined ? Math.round(0.02 * total) : 0);
    this.initial = resolveMixtureOption("odm", "initial", init.options.initial, this.domains, true);
    this.scale = init.options.rewardScale ?? (init.options.variant === "exp3" ? 0.1 : 1);
    this.box = shareBox(init.options, this.domains);
    this.root = createRng(init.seed);
    this.seed = init.seed;
    this.committed = new Float64Array(this.k);
    this.current = new Float64Array(this.k);
    this.observed = new Float64Array(this.k);
    this.pending = new StepStats(this.k);
    this.pi = new Float64Array(this.k);
    this.piStep = new Float64Array(this.k);
    if (init.state) {
      const id = { seed: init.seed, options: init.options };
      const d = parseState("odm", this.domains, init.state, OdmDataSchema(this.k), id);
      this.committed.set(d.committed);
      this.current.set(d.current);
      this.observed.set(d.observed);
      this.pending.load(d.pending);
      this.lastStep = d.lastStep;
    }
  }

  /** Writes the policy π_s for optimizer step s from the reward estimates `r` into `out`. */
  private policy(s: number, r: Float64Array, out: Float64Array): Float64Array {
    const k = this.k;
    if (s < this.warmup) {
      out.set(this.initial);
      return this.box ? repairMultiplicative(out, this.box, out) : out;
    }
    const t = s + 1;
    const eps = explorationRate(k, t);
    const epsPrev = explorationRate(k, t - 1);
    let total = 0;
    if (this.o.variant === "mixed") {
      let sr = 0;
      for (let i = 0; i < k; i++) sr += r[i]!;
      for (let i = 0; i < k; i++) out[i] = sr > 0 ? r[i]! / sr : 1 / k;
    } else {
      let m = -Infinity;
      for (let i = 0; i < k; i++) if (epsPrev * r[i]! > m) m = epsPrev * r[i]!;
      let se = 0;
      for (let i = 0; i < k; i++) {
        const e = Math.exp(epsPrev * r[i]! - m);
        out[i] = e;
        se += e;
      }
      for (let i = 0; i < k; i++) out[i] = out[i]! / se;
    }
    for (let i = 0; i < k; i++) {
      out[i] = (1 - k * eps) * out[i]! + eps;
      total += out[i]!;
    }
    for (let i = 0; i < k; i++) out[i] = out[i]! / total;
    return this.box ? repairMultiplicative(out, this.box, out) : out;
  }

  /** The arm of step s in "arm" mode: an inverse-CDF draw from π_s keyed by (seed, s). */
  private arm(s: number, pi: Float64Array): number {
    const u = this.root.derive(s).next();
    let c = 0;
    for (let i = 0; i < this.k; i++) {
      c += pi[i]!;
      if (u < c) return i;
    }
    return this.k - 1;
  }

  /** The step whose mixture proportions() gives: the one after the last observed. */
  private get nextStep(): number {
    return this.lastStep + 1;
  }

  proportions(): Record<string, number> {
    const s = this.nextStep;
    this.policy(s, this.current, this.pi);
    if (this.o.pull === "arm") {
      const a = this.arm(s, this.pi);
      this.pi.fill(0);
      this.pi[a] = 1;
    }
    return byName(this.domains, this.pi);
  }

  observe(event: MixerEvent): void {
    checkEvent(this.rules, event, this.lastStep);
    if (this.o.variant === "mixed") {
      // The reward exp(rewardScale · ℓ) must stay finite for the estimates to stay JSON-safe.
      const max = Math.log(Number.MAX_VALUE) / this.scale;
      for (const d in event.loss) {
        if (event.loss[d]! > max) {
          const why = "exp(rewardScale·loss) must be finite";
          const message = `expected at most ${max.toFixed(2)} (${why}), got ${event.loss[d]}`;
          throw new InputError("odm event", [{ path: `loss.${d}`, message }]);
        }
      }
    }
    const s = event.step;
    if (this.o.pull === "arm") {
      this.policy(s, s === this.pending.step ? this.committed : this.current, this.piStep);
      const a = this.domains[this.arm(s, this.piStep)]!;
      const names = Object.keys(event.loss);
      if (names.length !== 1 || names[0] !== a) {
        const message = `expected only the arm pulled at step ${s} (${JSON.stringify(a)}), got ${showValue(names)}`;
        throw new InputError("odm event", [{ path: "loss", message }]);
      }
    }
    if (s !== this.pending.step) {
      // A new optimizer step: the merged statistics of the previous one become final.
      this.committed.set(this.current);
      this.pending.reset(s);
    } else {
      for (let i = 0; i < this.k; i++) if (this.pending.tokens[i]! > 0) this.observed[i] = this.observed[i]! - 1;
    }
    this.pending.add(event, this.index);
    this.update(s);
    this.lastStep = s;
  }

  /** current ← committed updated with the merged statistics of step s. */
  private update(s: number): void {
    const k = this.k;
    const { variant, beta, rewardClip } = this.o;
    const pi = this.policy(s, this.committed, this.piStep);
    this.current.set(this.committed);
    for (let i = 0; i < k; i++) {
      const n = this.pending.tokens[i]!;
      if (n === 0) continue;
      this.observed[i] = this.observed[i]! + 1;
      const loss = this.pending.lossSum[i]! / n;
      if (variant === "mixed") {
        let e = Math.exp(this.scale * loss);
        if (rewardClip !== undefined && e > rewardClip) e = rewardClip;
        this.current[i] = beta * this.committed[i]! + (1 - beta) * e;
        continue;
      }
      let r = (this.scale * loss) / (this.o.pull === "arm" ? pi[i]! : 1);
      if (rewardClip !== undefined && r > rewardClip) r = rewardClip;
      this.current[i] = variant === "exp3" ? this.committed[i]! + r : beta * this.committed[i]! + (1 - beta) * r;
    }
  }

  evalDue(): boolean {
    return false;
  }

  summary(): Record<string, number> {
    return byName(this.domains, this.policy(this.nextStep, this.current, this.pi));
  }

  diagnostics(): Record<string, unknown> {
    const s = this.nextStep;
    const pi = this.policy(s, this.current, this.pi);
    return {
      step: s,
      warmup: s < this.warmup,
      warmupSteps: this.warmup,
      policyEntropy: entropy(pi),
      explorationRate: explorationRate(this.k, s + 1),
      rewardEstimates: byName(this.domains, this.current),
      timesObserved: byName(this.domains, this.observed),
    };
  }

  state(): OnlineMixerState {
    // The arm draws are counter-based (keyed by seed and step): the seed is the whole RNG state.
    return makeState("odm", this.domains, { seed: this.seed, options: this.o }, {
      committed: [...this.committed],
      current: [...this.current],
      observed: [...this.observed],
      pending: this.pending.toJSON(),
      lastStep: this.lastStep,
    });
  }
}

/** ODM: the EXP3 bandit of Albalak et al. (2023) over domains, rewarded by training loss. */
export const odm: OnlineMixerFamily<OdmOptions> = {
  name: "odm",
  summary: "EXP3 bandit over domains rewarded by their training loss (online, negligible cost)",
  paper: "Albalak et al. 2023, Efficient Online Data Mixing For Language Model Pre-Training (arXiv 2312.02406)",
  accepts: ACCEPTS,
  parseOptions: (raw) => parseOptions(OdmOptionsSchema, raw, "odm"),
  create: (init) => new OdmMixer(init),
};
