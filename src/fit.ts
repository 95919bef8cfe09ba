// The offline fitting path as one library call: runs table + target + method → fitted law,
// cross-validated quality, recommendation under constraints (and the optimum without epoch caps,
// as ALGORITHMS.md §5.3 asks), ready to be written as proportions JSON.

import { laws } from "../mixers/index.js";
import type { FitInput, FittedLaw, Recommendation } from "../mixers/types.js";
import { createRng, type Rng } from "./rng/index.js";
import { agreement, std, type AgreementReport } from "./core/stats.js";
import {
  selectionReport,
  chooseByCriterion,
  meanPredictions,
  CRITERION,
  type SelectionReport,
} from "./core/selection.js";
import { supportDiagnostics, type Diagnostic } from "./core/diagnostics.js";
import { searchAround } from "../mixers/ensemble/index.js";
import { boxInfeasibility } from "./core/simplex.js";
import type { Law } from "../mixers/types.js";
import { resolveConstraints, type ConstraintSpec } from "./core/constraints.js";
import { impliedEpochs } from "./core/simplex.js";
import { InputError } from "./errors.js";
import { resolveTarget, type RunsTable, type Target } from "./runs/table.js";

/** Everything `fitRuns` needs. */
export interface FitRequest {
  readonly table: RunsTable;
  /** `loss.web` or `mean:loss.a,loss.b`. */
  readonly target: string;
  /** A key of the law registry. */
  readonly method: string;
  /** Method options (validated by the law's schema). */
  readonly options?: Record<string, unknown>;
  /** uint32 seed; every random choice derives from it (default 0). */
  readonly seed?: number;
  readonly constraints?: ConstraintSpec;
  /** Natural shares by domain (else from tokens, else the mean training mixture). */
  readonly prior?: Readonly<Record<string, number>>;
  /** Tokens available by domain (natural/temperature/UniMax, epoch caps, the prior). */
  readonly tokensPerDomain?: Readonly<Record<string, number>>;
  /** Folds of the cross-validation (default 5; 0 disables). */
  readonly cvFolds?: number;
  /**
   * Column holding each run's training amount (tokens or steps), for BiMix (default: tokens, then
   * steps, when present).
   */
  readonly amountColumn?: string;
  /** Cost per fidelity label (`1m=0.001,60m=0.06,1b=1`); the `fidelity` column then becomes z = cost / max cost. */
  readonly fidelityCosts?: Readonly<Record<string, number>>;
  /**
   * The recommendation criterion: the law's prediction ("mean") or prediction + one standard
   * deviation ("pessimistic": the GP's posterior sd, else the bootstrap's). Default: see RISK_DEFAULT.
   */
  readonly risk?: Risk;
  /** Bootstrap replicates over runs for the uncertainty of laws without their own (default 8; 0 disables). */
  readonly bootstrap?: number;
}

/** The recommendation criterion. */
export type Risk = "mean" | "pessimistic";
/** The default criterion (chosen from the study in bench/recommend.ts; see the README). */
export const RISK_DEFAULT: Risk = "pessimistic";
/** Meta-methods besides the registry's laws. */
export const AUTO = "auto";

/** How `--method auto` chose (the JSON's `fitQuality.auto`). */
export interface AutoSelection {
  readonly criterion: string;
  readonly folds: number;
  readonly chosen: string;
  readonly reason: string;
  /** Per candidate (laws and ensembles): the cross-validated metrics and whether it passed the rank filter. */
  readonly candidates: readonly {
    readonly law: string;
    readonly report: SelectionReport;
    readonly kept: boolean;
    readonly chosen: boolean;
  }[];
  /** Laws that do not apply to this table, and why. */
  readonly skipped: readonly { readonly law: string; readonly reason: string }[];
}

/** The uncertainty of the prediction at the recommendation. */
export interface Uncertainty {
  /** Standard deviation of the prediction at the recommended mixture. */
  readonly sd: number;
  readonly source: "gp posterior" | "bootstrap over runs";
  /** Bootstrap replicates (0 for the GP). */
  readonly replicates: number;
}

/**
 * The fidelity of each run in (0, 1] from the `fidelity` column: labels mapped through costs
 * (z = cost / the largest cost), or numbers scaled by the largest. Null when there is no column.
 * @throws InputError naming rows whose label has no cost or whose value is not positive
 */
export function fidelityOf(
  table: RunsTable,
  costs?: Readonly<Record<string, number>>,
): { z: Float64Array; labels: string[] } | null {
  const cells = table.frame.cells.get("fidelity");
  if (!cells) {
    if (costs) throw new InputError("--fidelity-costs", `expected a "fidelity" column in ${table.source}, got none`);
    return null;
  }
  const issues: { path: string; message: string }[] = [];
  const labels = cells.map((c) => (c === null ? "" : String(c)));
  const z = new Float64Array(cells.length);
  if (costs) {
    const max = Math.max(...Object.values(costs));
    labels.forEach((l, i) => {
      const c = costs[l];
      if (c === undefined || !(c > 0)) issues.push({
        path: `row ${i + 1}, column "fidelity"`,
        message:
          `expected one of ${Object.keys(costs).join(", ")} (the labels of --fidelity-costs), ` +
          `got ${JSON.stringify(l)}`,
      });
      else z[i] = c / max;
    });
  } else {
    let max = 0;
    cells.forEach((c, i) => {
      if (typeof c !== "number" || !(c > 0)) issues.push({
        path: `row ${i + 1}, column "fidelity"`,
        message: `expected a positive number (or labels with --fidelity-costs), got ${JSON.stringify(c)}`,
      });
      else max = Math.max(max, c);
    });
    cells.forEach((c, i) => (z[i] = (c as number) / max));
  }
  if (issues.length) throw new InputError(table.source, issues);
  return { z, labels };
}

/** What `fitRuns` returns. */
export interface FitResult {
  readonly law: FittedLaw;
  readonly target: Target;
  readonly options: Record<string, unknown>;
  readonly recommendation: Recommendation;
  /** The recommendation with epoch caps lifted (same seed), when caps were given. */
  readonly withoutEpochCaps: Recommendation | null;
  /** Epochs each domain would be repeated at the target budget, when known. */
  readonly epochs: Float64Array | null;
  /** The law used (the one `auto` chose, or the method asked for). */
  readonly method: string;
  /** Out-of-fold agreement and recommendation quality (null for static laws or when disabled). */
  readonly crossValidation: (SelectionReport & { folds: number }) | null;
  /** How `auto` chose (null for a named method). */
  readonly selection: AutoSelection | null;
  /** Standard deviation of the prediction at the recommendation (null when unavailable). */
  readonly uncertainty: Uncertainty | null;
  readonly risk: Risk;
  /** Support diagnostics of the recommendation (empty when the runs support it). */
  readonly diagnostics: readonly Diagnostic[];
  /** In-sample agreement of the fitted law (null for static laws). */
  readonly inSample: AgreementReport | null;
  readonly constraints: ReturnType<typeof resolveConstraints>;
  readonly seed: number;
}

/**
 * A domain=value map from a flag as a vector in domain order; every domain must be given once
 * and no other. Undefined in, undefined out.
 * @throws InputError listing unknown and missing domains, naming the flag
 */
export function valuesByDomain(
  domains: readonly string[],
  map: Readonly<Record<string, number>>,
  flag: string,
): Float64Array;
export function valuesByDomain(
  domains: readonly string[],
  map: Readonly<Record<string, number>> | undefined,
  flag: string,
): Float64Array | undefined;
export function valuesByDomain(
  domains: readonly string[],
  map: Readonly<Record<string, number>> | undefined,
  flag: string,
): Float64Array | undefined {
  if (!map) return undefined;
  const unknown = Object.keys(map).filter((d) => !domains.includes(d));
  const missing = domains.filter((d) => map[d] === undefined);
  const issues = [
    ...unknown.map((d) => ({
      path: flag,
      message: `expected one of the domains (${domains.join(", ")}), got ${JSON.stringify(d)}`,
    })),
    ...missing.map((d) => ({ path: flag, message: `expected a value for domain ${JSON.stringify(d)}, got none` })),
  ];
  if (issues.length) throw new InputError(flag, issues);
  return Float64Array.from(domains.map((d) => map[d]!));
}

/** Builds the law's input from a table and a resolved target (rows with a target only). */
export function fitInputOf(
  table: RunsTable,
  target: Target,
  extra: {
    prior?: Float64Array | undefined;
    tokensPerDomain?: Float64Array | undefined;
    amountColumn?: string | undefined;
    fidelityCosts?: Readonly<Record<string, number>> | undefined;
  },
): FitInput {
  const fid = fidelityOf(table, extra.fidelityCosts);
  const amountName = extra.amountColumn ??
    (table.frame.cells.has("tokens") ? "tokens" : table.frame.cells.has("steps") ? "steps" : undefined);
  let amount: Float64Array | undefined;
  if (amountName) {
    const cells = table.frame.cells.get(amountName);
    if (!cells) throw new InputError("--amount-column", `expected a column ${JSON.stringify(amountName)}, got none`);
    amount = Float64Array.from(cells.map((v, i) => {
      if (typeof v !== "number" || !(v > 0)) throw new InputError(
        table.source,
        `row ${i + 1}, column ${JSON.stringify(amountName)}: expected a positive training amount, ` +
          `got ${v === null ? "an empty cell" : JSON.stringify(v)}`,
      );
      return v;
    }));
  }
  return {
    domains: table.domains,
    weights: table.weights,
    target: target.values,
    components: {
      names: target.columns,
      values: target.components,
      ...(target.weights ? { weights: target.weights } : {}),
    },
    ...(amount ? { amount } : {}),
    ...(fid ? { fidelity: fid.z } : {}),
    ...(extra.prior ? { prior: extra.prior } : {}),
    ...(extra.tokensPerDomain ? { tokensPerDomain: extra.tokensPerDomain } : {}),
  };
}

function subset(input: FitInput, rows: Int32Array): FitInput {
  const k = input.domains.length;
  const w = new Float64Array(rows.length * k);
  rows.forEach((r, i) => w.set(input.weights.subarray(r * k, (r + 1) * k), i * k));
  const pick = (v: Float64Array): Float64Array => Float64Array.from(rows, (r) => v[r]!);
  return {
    ...input,
    weights: w,
    target: pick(input.target),
    ...(input.components ? { components: { ...input.components, values: input.components.values.map(pick) } } : {}),
    ...(input.amount ? { amount: pick(input.amount) } : {}),
    ...(input.fidelity ? { fidelity: pick(input.fidelity) } : {}),
  };
}

/** Rows of a fit input as a new input (shared by folds and bootstrap replicates). */
export function subsetInput(input: FitInput, rows: Int32Array): FitInput {
  return subset(input, rows);
}

function rowsOf(weights: Float64Array, rows: Int32Array, k: number): Float64Array {
  const w = new Float64Array(rows.length * k);
  rows.forEach((r, i) => w.set(weights.subarray(r * k, (r + 1) * k), i * k));
  return w;
}

/** Fold assignment of n runs: a seeded permutation, run perm[i] in fold i mod folds. */
function foldsOf(n: number, folds: number, rng: Rng): { train: Int32Array; test: Int32Array }[] {
  const perm = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)) as Int32Array;
  return Array.from({ length: folds }, (_, f) => ({
    test: perm.filter((_, i) => i % folds === f).sort(),
    train: perm.filter((_, i) => i % folds !== f).sort(),
  }));
}

function fitWith(law: Law<any>, input: FitInput, options: unknown, rng: Rng, previous: FittedLaw | null): FittedLaw {
  return previous && law.refit ? law.refit(previous, input, options, rng) : law.fit(input, options, rng);
}

/** Out-of-fold predictions of a law (each run predicted by the law fitted without its fold). */
function outOfFold(
  law: Law<any>,
  input: FitInput,
  options: unknown,
  split: { train: Int32Array; test: Int32Array }[],
  rng: Rng,
  previous: FittedLaw | null,
): Float64Array {
  const k = input.domains.length;
  const pred = new Float64Array(input.target.length);
  split.forEach(({ train, test }, f) => {
    const fitted = fitWith(law, subset(input, train), options, rng.derive(`fold ${f}`), previous);
    const p = fitted.predict(rowsOf(input.weights, test, k));
    test.forEach((r, i) => (pred[r] = p[i]!));
  });
  return pred;
}

/**
 * k-fold cross-validation: out-of-fold predictions of a law, scored against the target. Pass
 * `predictions` (length numRuns) to keep the out-of-fold predictions (the report plots them).
 */
export function crossValidate(
  method: string,
  input: FitInput,
  options: Record<string, unknown>,
  folds: number,
  rng: Rng,
  predictions?: Float64Array,
): SelectionReport & { folds: number } {
  const law = laws[method]!;
  const pred = outOfFold(law, input, law.parseOptions(options), foldsOf(input.target.length, folds, rng), rng, null);
  predictions?.set(pred);
  return { ...selectionReport(pred, input.target), folds };
}

/** Options `auto` gives each law (lighter searches where a law is costly; trees' leaf size scaled to small tables). */
function autoOptions(name: string, n: number, risk: Risk): Record<string, unknown> {
  switch (name) {
    case "regmix":
      return { minDataInLeaf: Math.min(20, Math.max(2, Math.floor(n / 10))) };
    case "dml":
      return { numStarts: 8 };
    case "bayesopt":
      return { maxFitPoints: 128, numCandidates: 1024, risk };
    default:
      return {};
  }
}

/** Why a law does not apply to this input (null when it does). */
function inapplicable(name: string, law: Law<any>, input: FitInput, folds: number): string | null {
  const k = input.domains.length;
  const n = input.target.length;
  const m = input.components?.names.length ?? 1;
  const min = law.minRuns?.(k, m) ?? 2;
  const smallest = n - Math.ceil(n / folds);
  if (smallest < min) return `needs at least ${min} runs in each training fold, ` +
    `got ${smallest} (${n} runs, ${folds} folds)`;
  const names = input.components?.names ?? [];
  if (
    (name === "bimix" || name === "dcpt") &&
    (names.length === 0 || names.some((c) => !input.domains.includes(c.startsWith("loss.") ? c.slice(5) : c)))
  ) return "needs a target of loss.<domain> columns for training domains";
  if (name === "bimix" || name === "dcpt") {
    for (const c of names) {
      const d = input.domains.indexOf(c.startsWith("loss.") ? c.slice(5) : c);
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        lo = Math.min(lo, input.weights[i * k + d]!);
        hi = Math.max(hi, input.weights[i * k + d]!);
      }
      if (!(hi > lo)) return `no run varies the share of ${input.domains[d]}`;
    }
  }
  return null;
}

/** Columns (domains) whose share is the same in every run. */
function constantDomains(input: FitInput): number[] {
  const k = input.domains.length;
  const n = input.target.length;
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    let same = true;
    for (let i = 1; i < n && same; i++) if (
      Math.abs(input.weights[i * k + j]! - input.weights[j]!) > 1e-12
    ) same = false;
    if (same) out.push(j);
  }
  return out;
}

/** Bootstrap replicates of a fitted law: the law refitted on runs drawn with replacement. */
function bootstrapLaws(
  law: Law<any>,
  input: FitInput,
  options: unknown,
  replicates: number,
  rng: Rng,
  previous: FittedLaw,
): FittedLaw[] {
  const n = input.target.length;
  const out: FittedLaw[] = [];
  for (let b = 0; b < replicates; b++) {
    const r = rng.derive(`replicate ${b}`);
    const rows = Int32Array.from({ length: n }, () => r.nextInt(n)).sort();
    out.push(fitWith(law, subset(input, rows), options, r, previous));
  }
  return out;
}

/** Standard deviation across replicates of each row's prediction. */
function replicateSd(reps: readonly FittedLaw[], rows: Float64Array, k: number): Float64Array {
  const m = rows.length / k;
  const preds = reps.map((l) => l.predict(rows));
  const sd = new Float64Array(m);
  const col = new Float64Array(reps.length);
  for (let i = 0; i < m; i++) {
    preds.forEach((p, b) => (col[b] = p[i]!));
    sd[i] = std(col);
  }
  return sd;
}

function describeTarget(t: Target): string {
  return t.spec;
}

/**
 * Fits a law (or, with method "auto", the law that cross-validates best) to a runs table and
 * recommends proportions, with the uncertainty at the recommendation and support diagnostics.
 * @throws InputError for an unknown method, bad options, a missing or constant target, mixtures
 *   that never vary, too few runs for the law, or infeasible constraints
 */
export function fitRuns(req: FitRequest): FitResult {
  const auto = req.method === AUTO;
  const direct = auto ? null : laws[req.method];
  if (!auto && !direct) throw new InputError(
    "--method",
    `expected auto or one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(req.method)}`,
  );
  const seed = req.seed ?? 0;
  const risk = req.risk ?? RISK_DEFAULT;
  const root = createRng(seed);
  const target = resolveTarget(req.table, req.target);
  const domains = req.table.domains;
  const k = domains.length;
  const tokens = valuesByDomain(domains, req.tokensPerDomain, "--tokens");
  const input = fitInputOf(req.table, target, {
    prior: valuesByDomain(domains, req.prior, "--prior"),
    tokensPerDomain: tokens,
    amountColumn: req.amountColumn,
    fidelityCosts: req.fidelityCosts,
  });
  const n = target.values.length;
  const learns = auto || direct!.learns;
  const diagnostics: Diagnostic[] = [];
  // Guards: a target that does not vary, mixtures that do not vary, too few runs.
  const constant = learns ? constantDomains(input) : [];
  if (learns) {
    if (n >= 2 && std(target.values) === 0) {
      throw new InputError(req.table.source, [{
        path: `target ${JSON.stringify(describeTarget(target))}`,
        message:
          "expected values that differ between runs (a law has nothing to rank otherwise), " +
          `got ${target.values[0]} in all ${n} runs`,
      }]);
    }
    if (n >= 2 && constant.length === k) {
      throw new InputError(req.table.source, [{
        path: "the w.<domain> columns",
        message:
          `expected mixtures that differ between runs, got the same mixture in all ${n} runs; ` +
          "train runs on other mixtures first (mixlab suggest --method dirichlet)",
      }]);
    }
    if (direct) {
      const min = direct.minRuns?.(k, target.columns.length) ?? 2;
      if (n < min) throw new InputError(
        `--method ${req.method}`,
        `expected at least ${min} runs with a target (the law's parameters need them), got ${n}`,
      );
    }
  }
  const spec: ConstraintSpec = {
    ...req.constraints,
    ...(req.tokensPerDomain && req.constraints?.tokensPerDomain === undefined
      ? { tokensPerDomain: req.tokensPerDomain }
      : {}),
  };
  let constraints = resolveConstraints(domains, spec);
  // A domain no run varies keeps the share the runs had: no law has seen it move.
  if (constant.length) {
    const fix = (b: { lower: Float64Array; upper: Float64Array }, flag: boolean) => {
      const lower = Float64Array.from(b.lower);
      const upper = Float64Array.from(b.upper);
      for (const j of constant) {
        const c = input.weights[j]!;
        if (flag && (c < lower[j]! - 1e-12 || c > upper[j]! + 1e-12)) {
          throw new InputError(
            "--min-share/--max-share",
            `domain ${JSON.stringify(domains[j])}: expected bounds that allow ${c}, the share every run had ` +
              `(no run varies it, so no law can move it), got [${lower[j]}, ${upper[j]}]`,
          );
        }
        lower[j] = c;
        upper[j] = c;
      }
      return { lower, upper };
    };
    const box = fix(constraints.box, true);
    const why = boxInfeasibility(box);
    if (why) throw new InputError("constraints", `${why} once the domains no run varies are held at their share`);
    constraints = { ...constraints, box, boxWithoutEpochCaps: fix(constraints.boxWithoutEpochCaps, false) };
    diagnostics.push({
      code: "domain-not-varied",
      message:
        `${constant.map((j) => `${domains[j]} is ${input.weights[j]} in every run`).join("; ")}: ` +
        "kept at that share (no run tells how the target responds to it); " +
        "to learn it, train runs that vary it (mixlab suggest --method dirichlet)",
      domains: constant.map((j) => ({ domain: domains[j], share: input.weights[j] })),
    });
  }
  const folds = req.cvFolds ?? 5;
  const canCv = folds >= 2 && n >= 2 * folds;
  // Choose the law.
  let method = req.method;
  let options: Record<string, unknown>;
  let selection: AutoSelection | null = null;
  let crossValidation: (SelectionReport & { folds: number }) | null = null;
  let fitted: FittedLaw | null = null;
  if (auto) {
    if (!canCv) throw new InputError(
      "--method auto",
      `expected at least ${2 * Math.max(folds, 2)} runs for ${Math.max(folds, 2)}-fold cross-validation ` +
        `(--cv-folds), got ${n}; name a law with --method`,
    );
    const split = foldsOf(n, folds, root.derive("cv"));
    const skipped: { law: string; reason: string }[] = [];
    const oof = new Map<string, Float64Array>();
    const reports = new Map<string, SelectionReport>();
    const full = new Map<string, FittedLaw>();
    const opts = new Map<string, Record<string, unknown>>();
    for (const [name, law] of Object.entries(laws)) {
      if (!law.learns || name === "ensemble") continue;
      const why = inapplicable(name, law, input, folds);
      if (why) {
        skipped.push({ law: name, reason: why });
        continue;
      }
      const o = {
        ...autoOptions(name, n, risk),
        ...((req.options?.[name] as Record<string, unknown> | undefined) ?? {}),
      };
      const parsed = law.parseOptions(o);
      try {
        // Laws that refit cheaply (the GP) are fitted once on every run; folds reuse its choices.
        const prev = law.refit ? law.fit(input, parsed, root.derive(`fit ${name}`)) : null;
        if (prev) full.set(name, prev);
        const pred = outOfFold(law, input, parsed, split, root.derive(`cv ${name}`), prev);
        if (!pred.every(Number.isFinite)) throw new Error("non-finite predictions");
        oof.set(name, pred);
        reports.set(name, selectionReport(pred, input.target));
        opts.set(name, o);
      } catch (e) {
        if (e instanceof InputError || e instanceof Error) skipped.push({
          law: name,
          reason: `fit failed: ${e.message.split("\n")[0]}`,
        });
      }
    }
    if (reports.size === 0) throw new InputError(
      "--method auto",
      "expected at least one law that applies to this table, " +
        `got none (${skipped.map((s) => `${s.law}: ${s.reason}`).join("; ")})`,
    );
    // Ensembles of the 2 and 3 best single laws (by the criterion's own order).
    const single = chooseByCriterion(reports);
    const ranked = [...reports.keys()].sort(
      (a, b) =>
        Number(single.rankFiltered.includes(b)) - Number(single.rankFiltered.includes(a)) ||
        reports.get(a)!.topDecileRegret - reports.get(b)!.topDecileRegret,
    );
    const ensembles = new Map<string, string[]>();
    for (const size of [2, 3]) {
      if (ranked.length < size) continue;
      const members = ranked.slice(0, size);
      const name = `ensemble(${members.join("+")})`;
      ensembles.set(name, members);
      reports.set(name, selectionReport(meanPredictions(members.map((m) => oof.get(m)!)), input.target));
    }
    const choice = chooseByCriterion(reports);
    selection = {
      criterion: CRITERION,
      folds,
      chosen: choice.chosen,
      reason: choice.reason,
      candidates: [...reports.entries()].map(([law, report]) => ({
        law,
        report,
        kept: choice.rankFiltered.includes(law),
        chosen: law === choice.chosen,
      })),
      skipped,
    };
    crossValidation = { ...reports.get(choice.chosen)!, folds };
    const members = ensembles.get(choice.chosen);
    if (members) {
      method = "ensemble";
      options = { members, memberOptions: Object.fromEntries(members.map((m) => [m, opts.get(m)!])) };
    } else {
      method = choice.chosen;
      options = opts.get(method)!;
      fitted = full.get(method) ?? null;
    }
  } else {
    options = req.options ?? {};
    // The GP applies the criterion itself (its posterior sd); the request's risk is its default.
    if (req.method === "bayesopt" && options.risk === undefined) options = { ...options, risk };
  }
  const law = laws[method]!;
  const parsed = law.parseOptions(options);
  fitted ??= law.fit(input, parsed, root.derive("fit"));
  if (!auto && law.learns && canCv) crossValidation = crossValidate(method, input, options, folds, root.derive("cv"));
  // Recommend: the law's own search, then (pessimistic) the bootstrap bound μ + σ around it.
  let recommendation = fitted.recommend(constraints, root.derive("recommend"));
  let uncertainty: Uncertainty | null = null;
  const replicates = req.bootstrap ?? 8;
  if (law.learns && fitted.predictSd) {
    uncertainty = { sd: fitted.predictSd(recommendation.proportions)[0]!, source: "gp posterior", replicates: 0 };
  } else if (law.learns && replicates >= 2) {
    const reps = bootstrapLaws(law, input, parsed, replicates, root.derive("bootstrap"), fitted);
    if (risk === "pessimistic") {
      const meanRec = recommendation;
      const r = searchAround(
        (rows) => {
          const mu = fitted!.predict(rows);
          const sd = replicateSd(reps, rows, k);
          return mu.map((v, i) => v + sd[i]!);
        },
        input.prior ?? Float64Array.from(meanRec.proportions),
        [meanRec.proportions],
        constraints,
        { numCandidates: 4096, topK: 16 },
        root.derive("pessimistic"),
      );
      recommendation = {
        proportions: r.proportions,
        predicted: fitted.predict(r.proportions)[0]!,
        details: {
          ...meanRec.details,
          risk:
            "pessimistic: minimum of prediction + bootstrap sd over candidates around the prior " +
            "and the law's own answer",
          pessimisticBound: r.value,
          meanCriterionAnswer: Array.from(meanRec.proportions),
        },
      };
    }
    uncertainty = {
      sd: replicateSd(reps, recommendation.proportions, k)[0]!,
      source: "bootstrap over runs",
      replicates,
    };
  }
  const anyCap = constraints.epochCapped.some((c) => c);
  const withoutEpochCaps = anyCap
    ? fitted.recommend({ ...constraints, box: constraints.boxWithoutEpochCaps }, root.derive("recommend"))
    : null;
  const epochs = spec.maxEpochs !== undefined && spec.tokensPerDomain && spec.budgetTokens
    ? impliedEpochs(
        recommendation.proportions,
        Float64Array.from(domains.map((d) => spec.tokensPerDomain![d]!)),
        spec.budgetTokens,
      )
    : null;
  const inSample = law.learns ? agreement(fitted.predict(req.table.weights), target.values) : null;
  if (law.learns) {
    const shares = domains.map((d, j) => `${d}=${recommendation.proportions[j]!.toFixed(3)}`).join(",");
    diagnostics.push(
      ...supportDiagnostics({
        domains,
        weights: input.weights,
        target: input.target,
        recommendation: recommendation.proportions,
        predicted: recommendation.predicted,
        cvRmse: crossValidation?.rmse ?? NaN,
        cvSpearman: crossValidation?.spearman ?? NaN,
        box: constraints.box,
        nextStep:
          `to test it, train runs around it: mixlab suggest ${req.table.source} --method bayesopt ` +
          `--target '${target.spec}' --n 4 --prior ${shares}`,
      }),
    );
  }
  return {
    law: fitted,
    method,
    target,
    options: parsed as Record<string, unknown>,
    recommendation,
    withoutEpochCaps,
    epochs,
    crossValidation,
    selection,
    uncertainty,
    risk,
    diagnostics,
    inSample,
    constraints,
    seed,
  };
}
