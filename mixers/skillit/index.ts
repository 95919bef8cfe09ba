// Skill-It (Chen et al., "Skill-it! A Data-Driven Skills Framework for Understanding and
// Training Language Models", NeurIPS 2023; ALGORITHMS.md §3.3): online multiplicative weights
// over a fixed skills graph G and a window of the last w validation evaluations, restarted
// from a base mixture b every round. Porting notes: mixers/skillit/README.md.

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
import { vectorSchema } from "../common/domain-stats.js";
import { createRng } from "../../src/rng/index.js";
import { InputError, type InputIssue } from "../../src/errors.js";

/** Skill-It's options (strict: unknown keys are errors); each field states its default. */
export const SkillItOptionsSchema = z.strictObject({
  /**
   * The skills graph G, (k × k) in the mixer's domain order, row = trained domain j, column =
   * evaluated domain i: G[j][i] = benefit to i of training on j (Skill-It's orientation; the
   * transpose of ALGORITHMS.md's A). Required.
   */
  graph: z.array(z.array(z.number())),
  /** Step size η (default 0.2). */
  eta: z.number().positive().max(1e3).default(0.2),
  /** Evaluations summed per update (default 3). */
  window: z.number().int().min(1).default(3),
  /** Steps per round (default totalSteps/100 when given — Aioli's SlimPajama ratio, 400 of 40k — else 400). */
  roundSteps: z.number().int().min(1).optional(),
  totalSteps: z.number().int().min(1).optional(),
  /** Base mixture b every round restarts from, by domain (default uniform). */
  prior: z.record(z.string(), z.number()).optional(),
  /** Divide every evaluation by the first one (the step-0 evaluation) (default false). */
  normalizeLoss: z.boolean().default(false),
  /** Scale η by (first total loss / latest total loss) (default false). */
  etaSchedule: z.boolean().default(false),
  /** Halve the off-diagonal graph entries after each round: round r uses 0.5^r (default false). */
  dynamicLambda: z.boolean().default(false),
  /**
   * Give each isolated skill (no off-diagonal edge in its graph row or column) a fixed 1/k share
   * and run the update on the others (default false).
   */
  isolatedFixed: z.boolean().default(false),
});
/** Skill-It's options after defaults. */
export type SkillItOptions = z.infer<typeof SkillItOptionsSchema>;

const SkillItDataSchema = (k: number, w: number) =>
  z.strictObject({
    /** The last ≤ w evaluations, oldest first. */
    evals: z.array(vectorSchema(k)).max(w),
    first: vectorSchema(k).nullable(),
    numEvals: z.number().int().min(0),
    lastStep: z.number().int().min(-1),
  });

const ACCEPTS = ["eval"] as const;

class SkillIt implements OnlineMixer {
  readonly method = "skillit";
  readonly domains: readonly string[];
  readonly accepts = ACCEPTS;
  private readonly k: number;
  private readonly rules: EventRules;
  private readonly o: SkillItOptions;
  private readonly seed: number;
  private readonly graph: Float64Array;
  /** 1 for skills held at 1/k (isolatedFixed). */
  private readonly isolated: Uint8Array;
  private readonly base: Float64Array;
  private readonly roundSteps: number;
  private evals: Float64Array[] = [];
  private first: Float64Array | null = null;
  private numEvals = 0;
  private lastStep = -1;
  private readonly p: Float64Array;

  constructor(init: OnlineMixerInit<SkillItOptions>) {
    checkDomains("skillit", init.domains);
    this.seed = init.seed;
    createRng(init.seed); // validates the seed; Skill-It makes no random choice
    this.domains = [...init.domains];
    const k = (this.k = this.domains.length);
    this.o = init.options;
    const index = domainIndex(this.domains);
    this.rules = { method: "skillit", domains: this.domains, index, accepts: ACCEPTS, evalAllDomains: true };
    this.graph = readGraph(init.options.graph, k);
    this.isolated = new Uint8Array(k);
    if (init.options.isolatedFixed) {
      for (let j = 0; j < k; j++) {
        let edges = 0;
        for (let i = 0; i < k; i++) {
          if (i !== j && (this.graph[j * k + i] !== 0 || this.graph[i * k + j] !== 0)) edges++;
        }
        this.isolated[j] = edges === 0 ? 1 : 0;
      }
      // With every skill isolated there is nothing to update: all get 1/k.
    }
    this.base = resolveMixtureOption("skillit", "prior", init.options.prior, this.domains, true);
    const total = init.options.totalSteps;
    this.roundSteps = init.options.roundSteps ?? (total !== undefined ? Math.max(1, Math.floor(total / 100)) : 400);
    this.p = new Float64Array(k);
    if (init.state) {
      const id = { seed: init.seed, options: init.options };
      const d = parseState("skillit", this.domains, init.state, SkillItDataSchema(k, init.options.window), id);
      this.evals = d.evals.map((e) => Float64Array.from(e));
      this.first = d.first ? Float64Array.from(d.first) : null;
      this.numEvals = d.numEvals;
      this.lastStep = d.lastStep;
      const kept = Math.min(this.numEvals, init.options.window);
      if (this.evals.length !== kept || (this.numEvals > 0) !== (this.first !== null)) {
        const first = this.first === null ? "no first evaluation" : "a first evaluation";
        const message = `expected ${kept} evaluations kept of ${this.numEvals}, got ${this.evals.length} and ${first}`;
        throw new InputError("skillit state", [{ path: "data.evals", message }]);
      }
    }
    this.recompute();
  }

  /** Round r = the number of evaluations after the step-0 one. */
  private get round(): number {
    return Math.max(0, this.numEvals - 1);
  }

  /** The step of the next evaluation: every round boundary r·S_r, from step 0. */
  private get nextEval(): number {
    return this.numEvals * this.roundSteps;
  }

  /** p_j ∝ b_j exp(η Σ_i G_ji Σ_τ L_i^τ) over the window; all losses 1 in round 0. */
  private recompute(): void {
    const k = this.k;
    const r = this.round;
    const sumL = new Float64Array(k);
    if (r === 0) sumL.fill(1);
    else {
      for (const e of this.evals) {
        for (let i = 0; i < k; i++) sumL[i] = sumL[i]! + (this.o.normalizeLoss ? e[i]! / this.first![i]! : e[i]!);
      }
    }
    let eta = this.o.eta;
    if (this.o.etaSchedule && r > 0) eta *= total(this.first!) / total(this.evals[this.evals.length - 1]!);
    const offDiag = this.o.dynamicLambda ? 0.5 ** r : 1;
    let m = -Infinity;
    for (let j = 0; j < k; j++) {
      if (this.isolated[j]) continue;
      let g = 0;
      for (let i = 0; i < k; i++) g += this.graph[j * k + i]! * (i === j ? 1 : offDiag) * sumL[i]!;
      this.p[j] = Math.log(this.base[j]!) + eta * g;
      if (this.p[j]! > m) m = this.p[j]!;
    }
    // Isolated skills (with isolatedFixed) hold 1/k each; the others share the rest.
    let numIsolated = 0;
    let s = 0;
    for (let j = 0; j < k; j++) {
      if (this.isolated[j]) numIsolated++;
      else s += this.p[j] = Math.exp(this.p[j]! - m);
    }
    const rest = 1 - numIsolated / k;
    for (let j = 0; j < k; j++) this.p[j] = this.isolated[j] ? 1 / k : (rest * this.p[j]!) / s;
  }

  proportions(): Record<string, number> {
    return byName(this.domains, this.p);
  }

  observe(event: MixerEvent): void {
    checkEvent(this.rules, event, this.lastStep);
    if (event.step !== this.nextEval) {
      throw new InputError("skillit event", [
        {
          path: "step",
          message:
            `expected the evaluation of step ${this.nextEval} (round ${this.numEvals} starts there; ` +
            `Skill-It updates only on a fresh evaluation per round), got ${event.step}`,
        },
      ]);
    }
    const l = Float64Array.from(this.domains, (d) => event.loss[d]!);
    if (this.first === null) {
      for (let i = 0; i < this.k; i++) {
        if (this.o.normalizeLoss && !(l[i]! > 0)) {
          const message = `expected a positive first loss (normalizeLoss divides by it), got ${l[i]}`;
          throw new InputError("skillit event", [{ path: `loss.${this.domains[i]}`, message }]);
        }
      }
      if (this.o.etaSchedule && !(total(l) > 0)) {
        const message = "expected a positive total first loss (etaSchedule divides by it), got 0";
        throw new InputError("skillit event", [{ path: "loss", message }]);
      }
      this.first = l;
    } else if (this.o.etaSchedule && !(total(l) > 0)) {
      const message = "expected a positive total loss (etaSchedule divides by it), got 0";
      throw new InputError("skillit event", [{ path: "loss", message }]);
    }
    this.evals.push(l);
    if (this.evals.length > this.o.window) this.evals.shift();
    this.numEvals++;
    this.lastStep = event.step;
    this.recompute();
  }

  evalDue(step: number): boolean {
    return step >= this.nextEval;
  }

  summary(): Record<string, number> {
    return this.proportions();
  }

  diagnostics(): Record<string, unknown> {
    const k = this.k;
    // The implied A^t_ij = G_ji · L_i^t of the latest evaluation (ALGORITHMS.md §3.1).
    const latest = this.evals[this.evals.length - 1];
    const implied = latest
      ? this.domains.map((_, i) => this.domains.map((_, j) => this.graph[j * k + i]! * latest[i]!))
      : null;
    return {
      round: this.round,
      roundSteps: this.roundSteps,
      nextEvalStep: this.nextEval,
      evaluations: this.numEvals,
      impliedA: implied,
    };
  }

  state(): OnlineMixerState {
    return makeState("skillit", this.domains, { seed: this.seed, options: this.o }, {
      evals: this.evals.map((e) => [...e]),
      first: this.first ? [...this.first] : null,
      numEvals: this.numEvals,
      lastStep: this.lastStep,
    });
  }
}

function total(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  return s;
}

/** Checks the graph's shape and values; returns it flat, row-major. */
function readGraph(graph: readonly (readonly number[])[], k: number): Float64Array {
  const issues: InputIssue[] = [];
  if (graph.length !== k) {
    issues.push({ path: "graph", message: `expected ${k} rows (one per domain), got ${graph.length}` });
  }
  const out = new Float64Array(k * k);
  graph.forEach((row, j) => {
    if (row.length !== k) {
      issues.push({ path: `graph[${j}]`, message: `expected ${k} entries (one per domain), got ${row.length}` });
    } else if (j < k) row.forEach((v, i) => (out[j * k + i] = v));
  });
  if (issues.length) throw new InputError("options of skillit", issues);
  return out;
}

/** Skill-It: online multiplicative weights over a skills graph and recent validation losses. */
export const skillit: OnlineMixerFamily<SkillItOptions> = {
  name: "skillit",
  summary: "online multiplicative weights over a skills graph × recent validation losses (needs k graph runs)",
  paper:
    "Chen et al. 2023, Skill-it! A Data-Driven Skills Framework for Understanding and Training Language Models " +
    "(NeurIPS 2023)",
  accepts: ACCEPTS,
  parseOptions: (raw) => parseOptions(SkillItOptionsSchema, raw, "skillit"),
  create: (init) => new SkillIt(init),
};
