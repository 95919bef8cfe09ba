// Aioli (Chen, Hu, Lourie, Cho, Ré, "Aioli: A Unified Optimization Framework for Language Model
// Data Mixing", ICLR 2025; ALGORITHMS.md §3.2): every round, estimate the interaction matrix A^t
// on the live model by short probe phases (LearnParams), normalise it, optionally smooth it, and
// take an exponentiated-gradient step on its column sums. The mixer drives the schedule: it
// says when the trainer must evaluate (`evalDue`) and gives the probe mixture during probes.
// Porting notes: mixers/aioli/README.md.

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
import { probeSystem, type ProbeSystem } from "./probes.js";
import { createRng, type Rng } from "../../src/rng/index.js";
import { entropy } from "../../src/core/simplex.js";
import { InputError, type InputIssue } from "../../src/errors.js";

/** Aioli's options (strict: unknown keys are errors); each field states its default. */
export const AioliOptionsSchema = z.strictObject({
  /** Sequences per optimizer step (required): probe batches are apportioned per batch. */
  batchSize: z.number().int().min(1),
  /** Steps of the run: sets the default round length and bounds the number of rounds. */
  totalSteps: z.number().int().min(1).optional(),
  /** Steps trained on `prior` before the first round, S_0 ("restricted" setting) (default 0). */
  warmupSteps: z.number().int().min(0).default(0),
  /** The warm-start mixture p0 by domain (default uniform). */
  prior: z.record(z.string(), z.number()).optional(),
  /** Where EG starts and (with EMA) restarts: "prior" (default) or "uniform" (the reference code). */
  egBase: z.enum(["prior", "uniform"]).default("prior"),
  /** Steps per round S_r, probes included (default (totalSteps − warmupSteps)/20, else 250). */
  roundSteps: z.number().int().min(1).optional(),
  /** Sweeps E over the domains per round (default 4, fewer if the probes would exceed 70% of a round). */
  lpRounds: z.number().int().min(1).optional(),
  /** Steps per probe s_lp (default 4, fewer if needed as for lpRounds). */
  lpSteps: z.number().int().min(1).optional(),
  /** h, the probe's share of its target domain (default 0.625 for 2 domains, 0.5 for more). */
  oneHotFactor: z.number().gt(0).max(1).optional(),
  /** EG step size η (default 0.2). */
  eta: z.number().positive().max(1e3).default(0.2),
  /** EMA history weight γ on A (default none: cumulative EG without EMA). */
  ema: z.number().min(0).lt(1).optional(),
  /** Keep only A_ii = β_ii / W_ii (the reference's diagonal option) (default false). */
  diagonal: z.boolean().default(false),
});
/** Aioli's options after defaults. */
export type AioliOptions = z.infer<typeof AioliOptionsSchema>;

const ACCEPTS = ["eval"] as const;
/** Largest probe share of a round the default schedule allows (the 7-group script's 70%). */
const MAX_DEFAULT_PROBE_SHARE = 0.7;
/** Rounds of the default schedule (the 2- and 3-group scripts: 5,000 steps, 250 per round). */
const DEFAULT_ROUNDS = 20;

/** The resolved schedule. */
export interface AioliSchedule {
  readonly warmupSteps: number;
  readonly roundSteps: number;
  readonly lpRounds: number;
  readonly lpSteps: number;
  readonly oneHotFactor: number;
  /** Rounds in the run (Infinity without totalSteps). */
  readonly rounds: number;
}

/** Resolves the schedule's defaults against k and the run length; InputError when it cannot fit. */
export function aioliSchedule(o: AioliOptions, k: number): AioliSchedule {
  const issues: InputIssue[] = [];
  const h = o.oneHotFactor ?? (k === 2 ? 0.625 : 0.5);
  const issue = (path: string, message: string) => issues.push({ path, message });
  if (!(h > 1 / k)) {
    const why = "h = 1/k makes every probe stratified and W singular";
    issue("oneHotFactor", `expected a number in (1/${k}, 1] (${why}), got ${h}`);
  }
  if (o.batchSize < k) issue("batchSize", `expected an integer ≥ ${k} (the number of domains), got ${o.batchSize}`);
  const span = o.totalSteps !== undefined ? o.totalSteps - o.warmupSteps : Infinity;
  if (!(span > 0)) issue("warmupSteps", `expected fewer than totalSteps (${o.totalSteps}), got ${o.warmupSteps}`);
  if (issues.length) throw new InputError("options of aioli", issues);
  const roundSteps = o.roundSteps ?? (Number.isFinite(span) ? Math.floor(span / DEFAULT_ROUNDS) : 250);
  let lpRounds = o.lpRounds ?? 4;
  let lpSteps = o.lpSteps ?? 4;
  while (k * lpRounds * lpSteps > MAX_DEFAULT_PROBE_SHARE * roundSteps) {
    if (o.lpRounds === undefined && lpRounds > 1) lpRounds--;
    else if (o.lpSteps === undefined && lpSteps > 1) lpSteps--;
    else break;
  }
  if (k * lpRounds * lpSteps >= roundSteps) {
    throw new InputError("options of aioli", [
      {
        path: o.roundSteps !== undefined ? "roundSteps" : "totalSteps",
        message:
          `expected rounds longer than their ${k * lpRounds * lpSteps} probe steps ` +
          `(k·lpRounds·lpSteps = ${k}·${lpRounds}·${lpSteps}), got rounds of ${roundSteps} steps`,
      },
    ]);
  }
  const rounds = Number.isFinite(span) ? Math.floor(span / roundSteps) : Infinity;
  if (rounds < 1) {
    const message = `expected at most ${span} (the steps after the warm-up), got ${roundSteps}`;
    throw new InputError("options of aioli", [{ path: "roundSteps", message }]);
  }
  return { warmupSteps: o.warmupSteps, roundSteps, lpRounds, lpSteps, oneHotFactor: h, rounds };
}

const AioliDataSchema = (k: number, numProbes: number) =>
  z.strictObject({
    round: z.number().int().min(0),
    /** −1: training on p (or the warm-up), awaiting a round's first evaluation; q: in probe q. */
    probe: z.number().int().min(-1).max(numProbes - 1),
    order: z.array(z.number().int().min(0).max(k - 1)).length(numProbes),
    beta: vectorSchema(k * k),
    prevLoss: vectorSchema(k),
    logits: vectorSchema(k),
    emaA: vectorSchema(k * k),
    lastA: vectorSchema(k * k),
    numUpdates: z.number().int().min(0),
    probeSteps: z.number().int().min(0),
    probeSamples: z.array(z.number().int().min(0)).length(k),
    lastStep: z.number().int().min(-1),
  });

/** An Aioli mixer: also reports the integer counts of a probe batch. */
export interface AioliMixer extends OnlineMixer {
  /** Per-domain sequence counts of each batch of the current probe (Σ = batchSize), or null outside probes. */
  batchCounts(): Record<string, number> | null;
}

class Aioli implements AioliMixer {
  readonly method = "aioli";
  readonly domains: readonly string[];
  readonly accepts = ACCEPTS;
  readonly schedule: AioliSchedule;
  private readonly k: number;
  private readonly rules: EventRules;
  private readonly o: AioliOptions;
  private readonly prior: Float64Array;
  private readonly logBase: Float64Array;
  private readonly sys: ProbeSystem;
  private readonly numProbes: number;
  private readonly seed: number;
  private readonly root: Rng;
  private readonly warnings: string[] = [];
  private round = 0;
  private probe = -1;
  private order: number[];
  private readonly beta: Float64Array;
  private readonly prevLoss: Float64Array;
  private readonly logits: Float64Array;
  private readonly emaA: Float64Array;
  private readonly lastA: Float64Array;
  private numUpdates = 0;
  private probeSteps = 0;
  private readonly probeSamples: Float64Array;
  private lastStep = -1;
  private readonly p: Float64Array;

  constructor(init: OnlineMixerInit<AioliOptions>) {
    checkDomains("aioli", init.domains);
    this.domains = [...init.domains];
    const k = (this.k = this.domains.length);
    this.o = init.options;
    const index = domainIndex(this.domains);
    this.rules = { method: "aioli", domains: this.domains, index, accepts: ACCEPTS, evalAllDomains: true };
    this.schedule = aioliSchedule(init.options, k);
    this.prior = resolveMixtureOption("aioli", "prior", init.options.prior, this.domains, true);
    this.logBase = new Float64Array(k);
    const fromPrior = init.options.egBase === "prior";
    for (let i = 0; i < k; i++) this.logBase[i] = fromPrior ? Math.log(this.prior[i]!) : -Math.log(k);
    this.sys = probeSystem(k, this.schedule.oneHotFactor, init.options.batchSize);
    if (!this.sys.wInv) {
      throw new InputError("options of aioli", [
        {
          path: "batchSize",
          message:
            "expected a batch whose rounded probe mixtures are linearly independent " +
            `(oneHotFactor ${this.schedule.oneHotFactor}, ${k} domains), got ${init.options.batchSize}`,
        },
      ]);
    }
    if (this.sys.nominalAmplification > 5) {
      this.warnings.push(
        `oneHotFactor ${this.schedule.oneHotFactor} with ${k} domains: the de-mixing solve amplifies noise in ` +
          `the loss differences by up to 1/a = ${this.sys.nominalAmplification.toFixed(2)} (> 5); raise oneHotFactor`,
      );
    }
    this.numProbes = k * this.schedule.lpRounds;
    this.seed = init.seed;
    this.root = createRng(init.seed);
    this.order = new Array<number>(this.numProbes).fill(0);
    this.beta = new Float64Array(k * k);
    this.prevLoss = new Float64Array(k);
    this.logits = Float64Array.from(this.logBase);
    this.emaA = new Float64Array(k * k);
    this.lastA = new Float64Array(k * k);
    this.probeSamples = new Float64Array(k);
    this.p = new Float64Array(k);
    if (init.state) {
      const id = { seed: init.seed, options: init.options };
      const d = parseState("aioli", this.domains, init.state, AioliDataSchema(k, this.numProbes), id);
      this.round = d.round;
      this.probe = d.probe;
      this.order = [...d.order];
      this.beta.set(d.beta);
      this.prevLoss.set(d.prevLoss);
      this.logits.set(d.logits);
      this.emaA.set(d.emaA);
      this.lastA.set(d.lastA);
      this.numUpdates = d.numUpdates;
      this.probeSteps = d.probeSteps;
      this.probeSamples.set(d.probeSamples);
      this.lastStep = d.lastStep;
    }
  }

  /** First step of the current round. */
  private get roundStart(): number {
    return this.schedule.warmupSteps + this.round * this.schedule.roundSteps;
  }

  /** The step whose evaluation comes next, or −1 when the run has no more rounds. */
  private get nextEval(): number {
    if (this.probe >= 0) return this.roundStart + (this.probe + 1) * this.schedule.lpSteps;
    return this.round < this.schedule.rounds ? this.roundStart : -1;
  }

  evalDue(step: number): boolean {
    const next = this.nextEval;
    return next >= 0 && step >= next;
  }

  /** What the trainer samples now: the probe batch's shares during a probe, else the mixture. */
  private current(): Float64Array {
    const k = this.k;
    if (this.probe >= 0) {
      const j = this.order[this.probe]!;
      for (let i = 0; i < k; i++) this.p[i] = this.sys.counts[j * k + i]! / this.o.batchSize;
      return this.p;
    }
    return this.mixture();
  }

  /** The mixture p^t (the prior before the first update), whatever the phase. */
  private mixture(): Float64Array {
    const k = this.k;
    if (this.numUpdates === 0) {
      this.p.set(this.prior); // the warm-up (restricted setting) trains on the prior
      return this.p;
    }
    let m = -Infinity;
    for (let i = 0; i < k; i++) if (this.logits[i]! > m) m = this.logits[i]!;
    let s = 0;
    for (let i = 0; i < k; i++) s += this.p[i] = Math.exp(this.logits[i]! - m);
    for (let i = 0; i < k; i++) this.p[i] = this.p[i]! / s;
    return this.p;
  }

  proportions(): Record<string, number> {
    return byName(this.domains, this.current());
  }

  batchCounts(): Record<string, number> | null {
    if (this.probe < 0) return null;
    const j = this.order[this.probe]!;
    return byName(this.domains, this.sys.counts.subarray(j * this.k, (j + 1) * this.k));
  }

  observe(event: MixerEvent): void {
    checkEvent(this.rules, event, this.lastStep);
    const next = this.nextEval;
    if (event.step !== next) {
      const what =
        next < 0
          ? `no more evaluations (the last round began at step ${this.roundStart - this.schedule.roundSteps})`
          : `the evaluation due at step ${next} (see evalDue)`;
      throw new InputError("aioli event", [{ path: "step", message: `expected ${what}, got ${event.step}` }]);
    }
    const k = this.k;
    const l = this.domains.map((d) => event.loss[d]!);
    if (this.probe < 0) {
      // A round begins: ℓ^(0), a fresh seeded visiting order for E sweeps, β = 0.
      for (let i = 0; i < k; i++) this.prevLoss[i] = l[i]!;
      const rng = this.root.derive(this.round);
      const perm = Array.from({ length: k }, (_, i) => i);
      for (let e = 0; e < this.schedule.lpRounds; e++) {
        rng.shuffle(perm);
        for (let i = 0; i < k; i++) this.order[e * k + i] = perm[i]!;
      }
      this.beta.fill(0);
      this.probe = 0;
    } else {
      // Probe `probe` on domain j ended: column j of β gains the loss drops.
      const j = this.order[this.probe]!;
      for (let i = 0; i < k; i++) {
        this.beta[i * k + j] = this.beta[i * k + j]! + this.prevLoss[i]! - l[i]!;
        this.prevLoss[i] = l[i]!;
        this.probeSamples[i] = this.probeSamples[i]! + this.sys.counts[j * k + i]! * this.schedule.lpSteps;
      }
      this.probeSteps += this.schedule.lpSteps;
      this.probe++;
      if (this.probe === this.numProbes) {
        this.update();
        this.probe = -1;
        this.round++;
      }
    }
    this.lastStep = event.step;
  }

  /** De-mix β into A^t, normalise, smooth, and take the EG step. */
  private update(): void {
    const k = this.k;
    const E = this.schedule.lpRounds;
    const a = this.lastA;
    const wInv = this.sys.wInv!;
    // β_{i,:} = W A_{i,:}  ⇒  A_{i,l} = Σ_j (W⁻¹)_{l,j} β_{i,j}, with β averaged over the E sweeps.
    for (let i = 0; i < k; i++) {
      for (let l = 0; l < k; l++) {
        if (this.o.diagonal) {
          a[i * k + l] = i === l ? this.beta[i * k + i]! / E / this.sys.w[i * k + i]! : 0;
          continue;
        }
        let s = 0;
        for (let j = 0; j < k; j++) s += wInv[l * k + j]! * (this.beta[i * k + j]! / E);
        a[i * k + l] = s;
      }
    }
    let min = Infinity;
    for (let i = 0; i < k * k; i++) if (a[i]! < min) min = a[i]!;
    let sum = 0;
    for (let i = 0; i < k * k; i++) {
      if (min < 0) a[i] = a[i]! - min;
      sum += a[i]!;
    }
    if (sum > 0) for (let i = 0; i < k * k; i++) a[i] = a[i]! / sum;
    const g = this.p; // scratch: column sums
    if (this.o.ema !== undefined) {
      const gamma = this.o.ema;
      for (let i = 0; i < k * k; i++) {
        this.emaA[i] = this.numUpdates === 0 ? a[i]! : (1 - gamma) * a[i]! + gamma * this.emaA[i]!;
      }
      columnSums(this.emaA, k, g);
      for (let j = 0; j < k; j++) this.logits[j] = this.logBase[j]! + this.o.eta * g[j]!;
    } else {
      columnSums(a, k, g);
      for (let j = 0; j < k; j++) {
        this.logits[j] = (this.numUpdates === 0 ? this.logBase[j]! : this.logits[j]!) + this.o.eta * g[j]!;
      }
    }
    this.numUpdates++;
  }

  /** The current mixture p^t, also during a probe (the static answer of the run so far). */
  summary(): Record<string, number> {
    return byName(this.domains, this.mixture());
  }

  diagnostics(): Record<string, unknown> {
    const k = this.k;
    const rows = (m: Float64Array) => this.domains.map((_, i) => Array.from(m.subarray(i * k, (i + 1) * k)));
    const p = this.mixture();
    return {
      round: this.round,
      phase: this.probe >= 0 ? "probe" : this.numUpdates === 0 ? "warmup" : "train",
      probeTarget: this.probe >= 0 ? this.domains[this.order[this.probe]!] : null,
      nextEvalStep: this.nextEval,
      batchCounts: this.batchCounts(),
      probeSteps: this.probeSteps,
      probeSamplesPerDomain: byName(this.domains, this.probeSamples),
      updates: this.numUpdates,
      /** Entropy of the mixture p^t (not of a probe). */
      entropy: entropy(p),
      /** The latest normalised A^t (row = evaluated domain, column = trained domain). */
      A: this.numUpdates ? rows(this.lastA) : null,
      realisedW: rows(this.sys.w),
      amplification: this.sys.amplification,
      nominalAmplification: this.sys.nominalAmplification,
      schedule: {
        ...this.schedule,
        rounds: Number.isFinite(this.schedule.rounds) ? this.schedule.rounds : null,
        egBase: this.o.egBase,
      },
      warnings: [...this.warnings],
    };
  }

  state(): OnlineMixerState {
    // Probe orders are drawn from rng.derive(round): the seed is the whole RNG state.
    return makeState("aioli", this.domains, { seed: this.seed, options: this.o }, {
      round: this.round,
      probe: this.probe,
      order: [...this.order],
      beta: [...this.beta],
      prevLoss: [...this.prevLoss],
      logits: [...this.logits],
      emaA: [...this.emaA],
      lastA: [...this.lastA],
      numUpdates: this.numUpdates,
      probeSteps: this.probeSteps,
      probeSamples: [...this.probeSamples],
      lastStep: this.lastStep,
    });
  }
}

function columnSums(a: Float64Array, k: number, out: Float64Array): Float64Array {
  out.fill(0);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out[j] = out[j]! + a[i * k + j]!;
  return out;
}

/** Aioli: LearnParams probing on the live model, then EG on the estimated A's column sums. */
export const aioli: OnlineMixerFamily<AioliOptions> = {
  name: "aioli",
  summary: "estimates the domain interaction matrix on the live model by short probes each round, then an EG step",
  paper: "Chen et al. 2025, Aioli: A Unified Optimization Framework for Language Model Data Mixing (ICLR 2025)",
  accepts: ACCEPTS,
  parseOptions: (raw) => parseOptions(AioliOptionsSchema, raw, "aioli"),
  create: (init) => new Aioli(init),
};
