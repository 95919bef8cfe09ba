// The Law plug-in contract (ARCHITECTURE.md "The plug-in interfaces"): fit(input) → FittedLaw,
// which predicts, recommends under constraints, and serialises for `mixlab predict`. Every
// vector is keyed by the `domains` order it carries; callers map by name at the boundary.

import type { Rng } from "../src/rng/index.js";
import type { Box } from "../src/core/simplex.js";

/** Training data for a law: mixtures, one scalar target, and optionally its components. */
export interface FitInput {
  /** Domain names; the column order of `weights` and of every per-domain vector. */
  readonly domains: readonly string[];
  /** (numRuns × numDomains), row-major, rows on the simplex. */
  readonly weights: Float64Array;
  /** One target value per run (lower is better). */
  readonly target: Float64Array;
  /**
   * The target's component columns (`mean:loss.a,loss.b` has two), their values per run, and the
   * weights that aggregate them (`wmean:`; normalised; absent = equal weights).
   */
  readonly components?: {
    readonly names: readonly string[];
    readonly values: readonly Float64Array[];
    readonly weights?: Float64Array;
  };
  /** Fidelity per run in (0, 1] (1 = the target scale), for multi-fidelity laws (bayesopt). */
  readonly fidelity?: Float64Array;
  /** Training amount per run (tokens or steps), for laws that model it (BiMix). */
  readonly amount?: Float64Array;
  /** Natural shares (token counts normalised), the prior of candidate searches. */
  readonly prior?: Float64Array;
  /** Tokens available per domain (for natural, temperature and UniMax). */
  readonly tokensPerDomain?: Float64Array;
}

/** Constraints on a recommendation, resolved to a box on the simplex. */
export interface ResolvedConstraints {
  /** lower ≤ p ≤ upper, the upper bound already including epoch caps. */
  readonly box: Box;
  /** The upper bound without epoch caps (for the "optimum without the cap" diagnostic). */
  readonly boxWithoutEpochCaps: Box;
  /** Which domains an epoch cap binds more tightly than the maximum share. */
  readonly epochCapped: readonly boolean[];
  /** Echo of the inputs, for the proportions JSON. */
  readonly description: Record<string, unknown>;
}

/** What a recommendation returns. */
export interface Recommendation {
  readonly proportions: Float64Array;
  /** The law's prediction of the target at `proportions` (NaN for laws that do not predict). */
  readonly predicted: number;
  /** Method-specific diagnostics (top-k spread, iterations, …). */
  readonly details: Record<string, unknown>;
}

/** A saved law: enough to rebuild the FittedLaw with `loadLaw`. */
export interface SavedLaw {
  readonly format: "mixlab.law/v1";
  readonly method: string;
  readonly domains: readonly string[];
  readonly target: string;
  readonly params: Record<string, unknown>;
}

/** A fitted law. */
export interface FittedLaw {
  readonly method: string;
  readonly domains: readonly string[];
  /** Predicts the target for each row of a (numMixtures × numDomains) matrix. */
  predict(mixtures: Float64Array, out?: Float64Array): Float64Array;
  /** The law's own standard deviation of each prediction, where it has one (the GP's posterior). */
  predictSd?(mixtures: Float64Array): Float64Array;
  /** The best mixture under the constraints; deterministic given the rng. */
  recommend(constraints: ResolvedConstraints, rng: Rng): Recommendation;
  /** Fit diagnostics (iterations, winning start, number of trees, …). */
  readonly info: Record<string, unknown>;
  /** JSON-safe form for `--save-model` (without the target name, which the caller adds). */
  toParams(): Record<string, unknown>;
}

/** A law family: a name, a description, its options and its fit. */
export interface Law<O = Record<string, unknown>> {
  readonly name: string;
  /** One line for `--help` and the README table. */
  readonly summary: string;
  /** The paper it implements. */
  readonly paper: string;
  /** Whether it learns from runs (false for static baselines). */
  readonly learns: boolean;
  /** Validates and fills defaults; throws InputError naming the bad option. */
  parseOptions(raw: Record<string, unknown>): O;
  /** Fewest runs the law can be fitted from (its parameter count plus one, or its own floor). */
  minRuns?(numDomains: number, numComponents: number): number;
  fit(input: FitInput, options: O, rng: Rng): FittedLaw;
  /**
   * Fits new rows reusing the costly choices of an earlier fit of the same law (the GP's
   * hyperparameters), for cross-validation folds and bootstrap replicates; absent = `fit`.
   */
  refit?(previous: FittedLaw, input: FitInput, options: O, rng: Rng): FittedLaw;
  /** Rebuilds a fitted law from `toParams()` output. */
  load(domains: readonly string[], params: Record<string, unknown>): FittedLaw;
}

// ---------------------------------------------------------------------------------------------
// The OnlineMixer plug-in contract (ARCHITECTURE.md "Online mixer"; ALGORITHMS.md §0.3, §3):
// a mixer changes the mixture while a model trains. It is created from domain names, a seed,
// options and an optional saved state; the training loop feeds it per-domain statistics of each
// step (merged across ranks first, see `mergeDomainStats`) and the sampler asks it for
// proportions at block boundaries. Everything it does is a pure function of (seed, options,
// events observed), so a restored state continues the identical trajectory.

/** What a training loop tells an online mixer about one step (or one evaluation). */
export interface MixerEvent {
  /** "train": per-domain training losses of an optimizer step; "eval": per-domain validation losses. */
  readonly kind: "train" | "eval";
  /** The optimizer step the statistics belong to (0-based, non-decreasing). */
  readonly step: number;
  /** Mean loss per domain (nats per token); domains absent from the step are missing. */
  readonly loss: Readonly<Record<string, number>>;
  /** Tokens behind each loss (train events; ODM and DoReMi weight by them). */
  readonly tokens?: Readonly<Record<string, number>>;
  /** A reference model's mean loss per domain on the same tokens (DoReMi's excess loss). */
  readonly reference?: Readonly<Record<string, number>>;
  /**
   * Mean over each domain's tokens of max(ℓ_proxy − ℓ_ref, 0), clipped per token by the trainer
   * (DoReMi's excess loss with its default per-token clipping).
   */
  readonly excess?: Readonly<Record<string, number>>;
}

/** A mixer's saved state: JSON-safe, holding every accumulator, step counter and RNG state. */
export interface OnlineMixerState {
  readonly format: "mixlab.online-mixer/v1";
  readonly method: string;
  readonly domains: readonly string[];
  readonly data: Record<string, unknown>;
}

/** A live online mixer. */
export interface OnlineMixer {
  readonly method: string;
  /** Domain order of the mixer (the names `proportions()` and events use). */
  readonly domains: readonly string[];
  /** The event kinds this mixer needs; `observe` rejects any other kind with an InputError. */
  readonly accepts: readonly ("train" | "eval")[];
  /** The mixture to train on now, by domain name (on the simplex). */
  proportions(): Record<string, number>;
  /**
   * Feeds the statistics of one step. Rejects (InputError) unknown domains, non-finite losses,
   * event kinds the mixer does not accept and steps that go backwards.
   */
  observe(event: MixerEvent): void;
  /**
   * Whether the training loop must run an evaluation and `observe` an "eval" event before it
   * trains optimizer step `step` (Aioli's probes, Skill-It's rounds). False for train-only mixers.
   */
  evalDue(step: number): boolean;
  /** The static answer of the run so far (DoReMi: the time average; others: the current mixture). */
  summary(): Record<string, number>;
  /** Method-specific values worth logging (policy entropy, the implied A matrix, …). */
  diagnostics(): Record<string, unknown>;
  /** The saved state (see OnlineMixerState). */
  state(): OnlineMixerState;
}

/** How an online mixer is created. */
export interface OnlineMixerInit<O> {
  readonly domains: readonly string[];
  /** uint32 seed for every random choice of the mixer. */
  readonly seed: number;
  readonly options: O;
  /** A state from `state()` to continue from (checked against the method and domains). */
  readonly state?: OnlineMixerState;
}

/** An online mixer family: a name, a description, its options and its constructor. */
export interface OnlineMixerFamily<O = Record<string, unknown>> {
  readonly name: string;
  /** One line for `--help` and the README table. */
  readonly summary: string;
  /** The paper it implements. */
  readonly paper: string;
  /** The event kinds it needs. */
  readonly accepts: readonly ("train" | "eval")[];
  /** Validates and fills defaults; throws InputError naming the bad option. */
  parseOptions(raw: Record<string, unknown>): O;
  create(init: OnlineMixerInit<O>): OnlineMixer;
}

// ---------------------------------------------------------------------------------------------
// The Suggester plug-in contract (ARCHITECTURE.md "Suggester"): sequential design over the runs
// table. Given the domains, the runs so far (if any) and the constraints, it proposes the next
// `n` mixtures to train, each on the simplex and inside the constraint box, optionally with the
// fidelity to train it at. Everything random flows from the rng it is handed.

/** What a suggester sees: the domains, the runs so far and the constraints. */
export interface SuggestInput {
  /** Domain names; the column order of `weights` and of every proposal. */
  readonly domains: readonly string[];
  /** Runs so far, (numRuns × numDomains) row-major (empty for a fresh design). */
  readonly weights?: Float64Array;
  /** Target per run so far (lower is better); NaN marks a pending run. */
  readonly target?: Float64Array;
  /** Fidelity per run so far in (0, 1] (1 = the target scale), or none. */
  readonly fidelity?: Float64Array;
  /** Natural shares (token counts normalised), the centre of random designs. */
  readonly prior?: Float64Array;
  /** Fidelities in (0, 1] a proposal may choose (multi-fidelity suggesters; default those seen). */
  readonly fidelities?: readonly number[];
  /** Lower and upper share per domain (epoch caps included), from `resolveConstraints`. */
  readonly constraints: ResolvedConstraints;
}

/** One proposed mixture. */
export interface Suggestion {
  /** On the simplex, inside the constraint box, in `SuggestInput.domains` order. */
  readonly proportions: Float64Array;
  /** Fidelity to train it at, in (0, 1] (multi-fidelity suggesters only). */
  readonly fidelity?: number;
  /** The model's predicted target and its standard deviation (model-based suggesters only). */
  readonly predicted?: number;
  readonly predictedSd?: number;
}

/** A suggester family: a name, a description, its options and its design step. */
export interface Suggester<O = Record<string, unknown>> {
  readonly name: string;
  /** One line for `--help` and the README table. */
  readonly summary: string;
  /** The paper it implements. */
  readonly paper: string;
  /** Whether it needs runs with a target (true: `mixlab suggest RUNS --target T`). */
  readonly needsRuns: boolean;
  /** Whether it reads run fidelities and proposes one per mixture. */
  readonly multiFidelity: boolean;
  /** The largest `n` it accepts in one call (a documented bound on time and memory). */
  readonly maxN: number;
  /** Prefix of the run ids the CLI gives its proposals (`s` → `s<seed>-<i>`). */
  readonly runIdPrefix: string;
  /** Validates and fills defaults; throws InputError naming the bad option. */
  parseOptions(raw: Record<string, unknown>): O;
  /**
   * The next `n` mixtures. Deterministic given the rng.
   * @throws InputError for an `n` outside [1, maxN], missing or too few runs (source "runs", which
   *   callers replace by the table's name), or constraints the design cannot meet
   */
  suggest(input: SuggestInput, n: number, options: O, rng: Rng): Suggestion[];
}
