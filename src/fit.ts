// The offline fitting path as one library call: runs table + target + method → fitted law,
// cross-validated quality, recommendation under constraints (and the optimum without epoch caps,
// as ALGORITHMS.md §5.3 asks), ready to be written as proportions JSON.

import { laws } from "../mixers/index.js";
import type { FitInput, FittedLaw, Recommendation } from "../mixers/types.js";
import { createRng, type Rng } from "./rng/index.js";
import { agreement, type AgreementReport } from "./core/stats.js";
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
  /** Column holding each run's training amount (tokens or steps), for BiMix (default: tokens, then steps, when present). */
  readonly amountColumn?: string;
  /** Cost per fidelity label (`1m=0.001,60m=0.06,1b=1`); the `fidelity` column then becomes z = cost / max cost. */
  readonly fidelityCosts?: Readonly<Record<string, number>>;
}

/**
 * The fidelity of each run in (0, 1] from the `fidelity` column: labels mapped through costs
 * (z = cost / the largest cost), or numbers scaled by the largest. Null when there is no column.
 * @throws InputError naming rows whose label has no cost or whose value is not positive
 */
export function fidelityOf(table: RunsTable, costs?: Readonly<Record<string, number>>): { z: Float64Array; labels: string[] } | null {
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
      if (c === undefined || !(c > 0)) issues.push({ path: `row ${i + 1}, column "fidelity"`, message: `expected one of ${Object.keys(costs).join(", ")} (the labels of --fidelity-costs), got ${JSON.stringify(l)}` });
      else z[i] = c / max;
    });
  } else {
    let max = 0;
    cells.forEach((c, i) => {
      if (typeof c !== "number" || !(c > 0)) issues.push({ path: `row ${i + 1}, column "fidelity"`, message: `expected a positive number (or labels with --fidelity-costs), got ${JSON.stringify(c)}` });
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
  /** Out-of-fold agreement (null for static laws or when disabled). */
  readonly crossValidation: (AgreementReport & { folds: number }) | null;
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
export function valuesByDomain(domains: readonly string[], map: Readonly<Record<string, number>>, flag: string): Float64Array;
export function valuesByDomain(domains: readonly string[], map: Readonly<Record<string, number>> | undefined, flag: string): Float64Array | undefined;
export function valuesByDomain(domains: readonly string[], map: Readonly<Record<string, number>> | undefined, flag: string): Float64Array | undefined {
  if (!map) return undefined;
  const unknown = Object.keys(map).filter((d) => !domains.includes(d));
  const missing = domains.filter((d) => map[d] === undefined);
  const issues = [
    ...unknown.map((d) => ({ path: flag, message: `expected one of the domains (${domains.join(", ")}), got ${JSON.stringify(d)}` })),
    ...missing.map((d) => ({ path: flag, message: `expected a value for domain ${JSON.stringify(d)}, got none` })),
  ];
  if (issues.length) throw new InputError(flag, issues);
  return Float64Array.from(domains.map((d) => map[d]!));
}

/** Builds the law's input from a table and a resolved target (rows with a target only). */
export function fitInputOf(table: RunsTable, target: Target, extra: { prior?: Float64Array | undefined; tokensPerDomain?: Float64Array | undefined; amountColumn?: string | undefined; fidelityCosts?: Readonly<Record<string, number>> | undefined }): FitInput {
  const fid = fidelityOf(table, extra.fidelityCosts);
  const amountName = extra.amountColumn ?? (table.frame.cells.has("tokens") ? "tokens" : table.frame.cells.has("steps") ? "steps" : undefined);
  let amount: Float64Array | undefined;
  if (amountName) {
    const cells = table.frame.cells.get(amountName);
    if (!cells) throw new InputError("--amount-column", `expected a column ${JSON.stringify(amountName)}, got none`);
    amount = Float64Array.from(cells.map((v, i) => {
      if (typeof v !== "number" || !(v > 0)) throw new InputError(table.source, `row ${i + 1}, column ${JSON.stringify(amountName)}: expected a positive training amount, got ${v === null ? "an empty cell" : JSON.stringify(v)}`);
      return v;
    }));
  }
  return {
    domains: table.domains,
    weights: table.weights,
    target: target.values,
    components: { names: target.columns, values: target.components },
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
    ...(input.components ? { components: { names: input.components.names, values: input.components.values.map(pick) } } : {}),
    ...(input.amount ? { amount: pick(input.amount) } : {}),
    ...(input.fidelity ? { fidelity: pick(input.fidelity) } : {}),
  };
}

/**
 * k-fold cross-validation: out-of-fold predictions of a law, scored against the target. Pass
 * `predictions` (length numRuns) to keep the out-of-fold predictions (the report plots them).
 */
export function crossValidate(method: string, input: FitInput, options: Record<string, unknown>, folds: number, rng: Rng, predictions?: Float64Array): AgreementReport & { folds: number } {
  const law = laws[method]!;
  const n = input.target.length;
  const perm = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)) as Int32Array;
  const pred = predictions ?? new Float64Array(n);
  const k = input.domains.length;
  for (let f = 0; f < folds; f++) {
    const test = perm.filter((_, i) => i % folds === f).sort();
    const train = perm.filter((_, i) => i % folds !== f).sort();
    const fitted = law.fit(subset(input, train), options, rng.derive(`fold ${f}`));
    const w = new Float64Array(test.length * k);
    test.forEach((r, i) => w.set(input.weights.subarray(r * k, (r + 1) * k), i * k));
    const p = fitted.predict(w);
    test.forEach((r, i) => (pred[r] = p[i]!));
  }
  return { ...agreement(pred, input.target), folds };
}

/**
 * Fits a law to a runs table and recommends proportions.
 * @throws InputError for an unknown method, bad options, a missing target or infeasible constraints
 */
export function fitRuns(req: FitRequest): FitResult {
  const law = laws[req.method];
  if (!law) throw new InputError("--method", `expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(req.method)}`);
  const seed = req.seed ?? 0;
  const root = createRng(seed);
  const options = law.parseOptions(req.options ?? {});
  const target = resolveTarget(req.table, req.target);
  const domains = req.table.domains;
  const tokens = valuesByDomain(domains, req.tokensPerDomain, "--tokens");
  const input = fitInputOf(req.table, target, { prior: valuesByDomain(domains, req.prior, "--prior"), tokensPerDomain: tokens, amountColumn: req.amountColumn, fidelityCosts: req.fidelityCosts });
  const spec: ConstraintSpec = { ...req.constraints, ...(req.tokensPerDomain && req.constraints?.tokensPerDomain === undefined ? { tokensPerDomain: req.tokensPerDomain } : {}) };
  const constraints = resolveConstraints(domains, spec);
  const fitted = law.fit(input, options, root.derive("fit"));
  const recommendation = fitted.recommend(constraints, root.derive("recommend"));
  const anyCap = constraints.epochCapped.some((c) => c);
  const withoutEpochCaps = anyCap ? fitted.recommend({ ...constraints, box: constraints.boxWithoutEpochCaps }, root.derive("recommend")) : null;
  const epochs = spec.maxEpochs !== undefined && spec.tokensPerDomain && spec.budgetTokens ? impliedEpochs(recommendation.proportions, Float64Array.from(domains.map((d) => spec.tokensPerDomain![d]!)), spec.budgetTokens) : null;
  const folds = req.cvFolds ?? 5;
  const n = target.values.length;
  const crossValidation = law.learns && folds >= 2 && n >= 2 * folds ? crossValidate(req.method, input, options, folds, root.derive("cv")) : null;
  const inSample = law.learns ? agreement(fitted.predict(req.table.weights), target.values) : null;
  return { law: fitted, target, options, recommendation, withoutEpochCaps, epochs, crossValidation, inSample, constraints, seed };
}
