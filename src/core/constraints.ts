// Resolves user constraints (minimum and maximum share per domain, maximum epochs at a target
// token budget) into a box on the simplex (ALGORITHMS.md P4, §5.2–5.3): u_i = min(max_i,
// E·n_i / N). Reports infeasibility in words that name the domains.

import { InputError } from "../errors.js";
import { boxInfeasibility } from "./simplex.js";
import type { ResolvedConstraints } from "../../mixers/types.js";

/** User-level constraints; every per-domain map is keyed by domain name. */
export interface ConstraintSpec {
  /** Minimum share per domain (a number applies to all). */
  readonly minShare?: number | Readonly<Record<string, number>>;
  /** Maximum share per domain (a number applies to all). */
  readonly maxShare?: number | Readonly<Record<string, number>>;
  /** Maximum epochs over any domain at the target budget. */
  readonly maxEpochs?: number;
  /** Tokens available per domain (needed with maxEpochs). */
  readonly tokensPerDomain?: Readonly<Record<string, number>>;
  /** Tokens of the target run (needed with maxEpochs). */
  readonly budgetTokens?: number;
}

function perDomain(
  domains: readonly string[],
  v: number | Readonly<Record<string, number>> | undefined,
  fallback: number,
  flag: string,
): Float64Array {
  const out = new Float64Array(domains.length).fill(fallback);
  if (v === undefined) return out;
  if (typeof v === "number") return out.fill(v);
  const unknown = Object.keys(v).filter((d) => !domains.includes(d));
  if (unknown.length) throw new InputError(
    flag,
    `expected domains among ${domains.join(", ")}, got unknown ${unknown.map((u) => JSON.stringify(u)).join(", ")}`,
  );
  domains.forEach((d, i) => {
    if (v[d] !== undefined) out[i] = v[d]!;
  });
  return out;
}

/**
 * Turns a ConstraintSpec into boxes.
 * @throws InputError when a bound is outside [0, 1], epochs lack tokens or budget, or no mixture satisfies them
 */
export function resolveConstraints(domains: readonly string[], spec: ConstraintSpec = {}): ResolvedConstraints {
  const k = domains.length;
  const lower = perDomain(domains, spec.minShare, 0, "--min-share");
  const upper = perDomain(domains, spec.maxShare, 1, "--max-share");
  for (let i = 0; i < k; i++) {
    if (!(lower[i]! >= 0 && lower[i]! <= 1)) throw new InputError(
      "--min-share",
      `${domains[i]}: expected a share in [0, 1], got ${lower[i]}`,
    );
    if (!(upper[i]! >= 0 && upper[i]! <= 1)) throw new InputError(
      "--max-share",
      `${domains[i]}: expected a share in [0, 1], got ${upper[i]}`,
    );
  }
  const capped = new Float64Array(upper);
  const epochCapped: boolean[] = new Array(k).fill(false);
  const description: Record<string, unknown> = {};
  if (spec.minShare !== undefined) description.minShare = spec.minShare;
  if (spec.maxShare !== undefined) description.maxShare = spec.maxShare;
  if (spec.maxEpochs !== undefined) {
    if (!(spec.maxEpochs > 0)) throw new InputError("--max-epochs", `expected a number > 0, got ${spec.maxEpochs}`);
    if (!spec.tokensPerDomain) throw new InputError(
      "--max-epochs",
      "expected --tokens with the tokens available per domain, got none",
    );
    if (!(spec.budgetTokens !== undefined && spec.budgetTokens > 0)) throw new InputError(
      "--max-epochs",
      `expected --budget with the target run's tokens (> 0), got ${spec.budgetTokens ?? "none"}`,
    );
    const missing = domains.filter((d) => spec.tokensPerDomain![d] === undefined);
    if (missing.length) throw new InputError(
      "--tokens",
      `expected a token count for every domain, got none for ${missing.join(", ")}`,
    );
    domains.forEach((d, i) => {
      const n = spec.tokensPerDomain![d]!;
      if (!(n >= 0) || !Number.isFinite(n)) throw new InputError(
        "--tokens",
        `${d}: expected a token count ≥ 0, got ${n}`,
      );
      const cap = Math.min(1, (spec.maxEpochs! * n) / spec.budgetTokens!);
      if (cap < capped[i]!) {
        capped[i] = cap;
        epochCapped[i] = true;
      }
    });
    description.maxEpochs = spec.maxEpochs;
    description.budgetTokens = spec.budgetTokens;
    description.tokensPerDomain = Object.fromEntries(domains.map((d) => [d, spec.tokensPerDomain![d]!]));
  }
  const box = { lower, upper: capped };
  const why = boxInfeasibility(box);
  if (why) {
    const named = why.replace(/domain (\d+)/, (_, i: string) => `domain ${JSON.stringify(domains[Number(i)])}`);
    throw new InputError("constraints", `expected constraints that some mixture satisfies, got none: ${named}`);
  }
  const boxWithoutEpochCaps = { lower, upper };
  return { box, boxWithoutEpochCaps, epochCapped, description };
}
