// DoReMi (Xie et al., "DoReMi: Optimizing Data Mixtures Speeds Up Language Model Pretraining",
// NeurIPS 2023; ALGORITHMS.md §3.4): Group DRO over the proxy's excess loss against a reference
// model. The proxy samples from a fixed distribution s (uniform) and weights domain i's loss by
// α_t[i]/s_i; α is updated once per optimizer step by exponentiated gradient on the per-domain
// excess loss, smoothed toward uniform; the answer is the time average ᾱ. Porting notes:
// mixers/doremi/README.md.

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
import { createRng } from "../../src/rng/index.js";
import { entropy } from "../../src/core/simplex.js";

/** DoReMi's options (strict: unknown keys are errors); each field states its default. */
export const DoReMiOptionsSchema = z.strictObject({
  /** Step size η of the exponentiated-gradient update (default 1, the paper's). */
  eta: z.number().positive().max(1e3).default(1),
  /** Uniform smoothing c: α ← (1 − c) α' + c/k (default 1e-3, the paper's scripts). */
  smoothing: z.number().min(0).max(1).default(1e-3),
  /**
   * Where the excess loss is clipped at 0 (default "token", the paper's): "token" — events carry
   * `excess`, the mean over the domain's tokens of max(ℓ_proxy − ℓ_ref, 0), clipped per token by
   * the trainer; "domain" — events carry `reference` (mean reference loss) and the score is
   * max(mean ℓ_proxy − mean ℓ_ref, 0) (Aioli's re-implementation).
   */
  clip: z.enum(["token", "domain"]).default("token"),
  /** The proxy's fixed sampling distribution s, by domain (default uniform). */
  sampling: z.record(z.string(), z.number()).optional(),
  /** Initial domain weights α_0, by domain (default uniform). */
  initial: z.record(z.string(), z.number()).optional(),
});
/** DoReMi's options after defaults. */
export type DoReMiOptions = z.infer<typeof DoReMiOptionsSchema>;

const DoReMiDataSchema = (k: number) => {
  const part = z.strictObject({
    logWeights: vectorSchema(k),
    scores: vectorSchema(k),
    weightSum: vectorSchema(k),
    numUpdates: z.number().int().min(0),
  });
  return z.strictObject({
    committed: part,
    current: part,
    pending: StepStatsSchema,
    lastStep: z.number().int().min(-1),
  });
};

const ACCEPTS = ["train"] as const;

/** The accumulators of DoReMi after some number of steps. */
class Accumulators {
  readonly logWeights: Float64Array;
  readonly scores: Float64Array;
  readonly weightSum: Float64Array;
  numUpdates = 0;
  constructor(k: number) {
    this.logWeights = new Float64Array(k);
    this.scores = new Float64Array(k);
    this.weightSum = new Float64Array(k);
  }
  copyFrom(o: Accumulators): void {
    this.logWeights.set(o.logWeights);
    this.scores.set(o.scores);
    this.weightSum.set(o.weightSum);
    this.numUpdates = o.numUpdates;
  }
  toJSON(): { logWeights: number[]; scores: number[]; weightSum: number[]; numUpdates: number } {
    return {
      logWeights: [...this.logWeights],
      scores: [...this.scores],
      weightSum: [...this.weightSum],
      numUpdates: this.numUpdates,
    };
  }
  load(d: { logWeights: number[]; scores: number[]; weightSum: number[]; numUpdates: number }): void {
    this.logWeights.set(d.logWeights);
    this.scores.set(d.scores);
    this.weightSum.set(d.weightSum);
    this.numUpdates = d.numUpdates;
  }
}

/** A DoReMi mixer: `proportions()` is the fixed sampling distribution; weight losses by `lossWeights()`. */
export interface DoReMiMixer extends OnlineMixer {
  /** α_t[i] / s_i by domain: the factor of domain i's token losses in the proxy's objective. */
  lossWeights(): Record<string, number>;
  /** The current domain weights α_t (on the simplex). */
  weights(): Record<string, number>;
}

class DoReMi implements DoReMiMixer {
  readonly method = "doremi";
  readonly domains: readonly string[];
  readonly accepts = ACCEPTS;
  private readonly k: number;
  private readonly index: Map<string, number>;
  private readonly rules: EventRules;
  private readonly o: DoReMiOptions;
  private readonly seed: number;
  private readonly sampling: Float64Array;
  private readonly committed: Accumulators;
  private readonly current: Accumulators;
  private readonly pending: StepStats;
  private lastStep = -1;
  private readonly scratch: Float64Array;

  constructor(init: OnlineMixerInit<DoReMiOptions>) {
    checkDomains("doremi", init.domains);
    this.seed = init.seed;
    createRng(init.seed); // validates the seed; DoReMi makes no random choice
    this.domains = [...init.domains];
    this.k = this.domains.length;
    this.index = domainIndex(this.domains);
    this.o = init.options;
    const needs = init.options.clip === "token" ? { excess: true } : { reference: true };
    const index = this.index;
    this.rules = { method: "doremi", domains: this.domains, index, accepts: ACCEPTS, tokens: true, ...needs };
    this.sampling = resolveMixtureOption("doremi", "sampling", init.options.sampling, this.domains, true);
    const alpha0 = resolveMixtureOption("doremi", "initial", init.options.initial, this.domains, true);
    this.committed = new Accumulators(this.k);
    this.current = new Accumulators(this.k);
    this.pending = new StepStats(this.k);
    this.scratch = new Float64Array(this.k);
    for (let i = 0; i < this.k; i++) this.current.logWeights[i] = Math.log(alpha0[i]!);
    this.committed.copyFrom(this.current);
    if (init.state) {
      const id = { seed: init.seed, options: init.options };
      const d = parseState("doremi", this.domains, init.state, DoReMiDataSchema(this.k), id);
      this.committed.load(d.committed);
      this.current.load(d.current);
      this.pending.load(d.pending);
      this.lastStep = d.lastStep;
    }
  }

  /** α_t = softmax of the stored log weights (already smoothed). */
  private alpha(out: Float64Array): Float64Array {
    const lw = this.current.logWeights;
    let m = -Infinity;
    for (let i = 0; i < this.k; i++) if (lw[i]! > m) m = lw[i]!;
    let s = 0;
    for (let i = 0; i < this.k; i++) s += out[i] = Math.exp(lw[i]! - m);
    for (let i = 0; i < this.k; i++) out[i] = out[i]! / s;
    return out;
  }

  proportions(): Record<string, number> {
    return byName(this.domains, this.sampling);
  }

  weights(): Record<string, number> {
    return byName(this.domains, this.alpha(this.scratch));
  }

  lossWeights(): Record<string, number> {
    const a = this.alpha(this.scratch);
    for (let i = 0; i < this.k; i++) a[i] = a[i]! / this.sampling[i]!;
    return byName(this.domains, a);
  }

  observe(event: MixerEvent): void {
    checkEvent(this.rules, event, this.lastStep);
    if (event.step !== this.pending.step) {
      // A new optimizer step: the previous one's merged update is final.
      this.committed.copyFrom(this.current);
      this.pending.reset(event.step);
    }
    this.pending.add(event, this.index, this.rules);
    this.update();
    this.lastStep = event.step;
  }

  /** current ← committed after ONE update with the merged statistics of the pending step. */
  private update(): void {
    const k = this.k;
    const { eta, smoothing, clip } = this.o;
    const cur = this.current;
    cur.copyFrom(this.committed);
    const p = this.pending;
    for (let i = 0; i < k; i++) {
      const n = p.tokens[i]!;
      if (n === 0) continue; // absent from the step: keeps its previous score
      cur.scores[i] = clip === "token" ? p.excessSum[i]! / n : Math.max(p.lossSum[i]! / n - p.referenceSum[i]! / n, 0);
    }
    // α' ∝ α ⊙ exp(η λ) in log space, then α = (1 − c) α' + c/k.
    const a = this.scratch;
    let m = -Infinity;
    for (let i = 0; i < k; i++) {
      a[i] = cur.logWeights[i]! + eta * cur.scores[i]!;
      if (a[i]! > m) m = a[i]!;
    }
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.exp(a[i]! - m);
    const logS = Math.log(s);
    for (let i = 0; i < k; i++) {
      const logSoft = a[i]! - m - logS;
      const alpha = (1 - smoothing) * Math.exp(logSoft) + smoothing / k;
      // Without smoothing α can underflow to 0; its log stays finite in log-softmax form.
      cur.logWeights[i] = smoothing > 0 ? Math.log(alpha) : logSoft;
      cur.weightSum[i] = cur.weightSum[i]! + alpha;
    }
    cur.numUpdates++;
  }

  evalDue(): boolean {
    return false;
  }

  /** The time average ᾱ = (1/T) Σ_t α_t over the updates so far (α_0 before any). */
  summary(): Record<string, number> {
    if (this.current.numUpdates === 0) return this.weights();
    const out = this.scratch;
    let s = 0;
    for (let i = 0; i < this.k; i++) s += out[i] = this.current.weightSum[i]! / this.current.numUpdates;
    for (let i = 0; i < this.k; i++) out[i] = out[i]! / s; // removes rounding drift of the sum
    return byName(this.domains, out);
  }

  diagnostics(): Record<string, unknown> {
    const w = this.weights();
    return {
      updates: this.current.numUpdates,
      weights: w,
      weightsEntropy: entropy(Object.values(w)),
      lossWeights: this.lossWeights(),
      /** The implied A^t = diag(λ_t) (ALGORITHMS.md §3.1), as its diagonal. */
      excessScores: byName(this.domains, this.current.scores),
      average: this.summary(),
    };
  }

  state(): OnlineMixerState {
    return makeState("doremi", this.domains, { seed: this.seed, options: this.o }, {
      committed: this.committed.toJSON(),
      current: this.current.toJSON(),
      pending: this.pending.toJSON(),
      lastStep: this.lastStep,
    });
  }
}

/** DoReMi: Group-DRO domain weights over excess loss in a proxy; the answer is their time average. */
export const doremi: OnlineMixerFamily<DoReMiOptions> = {
  name: "doremi",
  summary: "Group DRO over the proxy's excess loss against a reference model; outputs the time-averaged weights",
  paper: "Xie et al. 2023, DoReMi: Optimizing Data Mixtures Speeds Up Language Model Pretraining (NeurIPS 2023)",
  accepts: ACCEPTS,
  parseOptions: (raw) => parseOptions(DoReMiOptionsSchema, raw, "doremi"),
  create: (init) => new DoReMi(init),
};
