// Static baselines (ALGORITHMS.md §1): laws with nothing to fit. uniform (stratified, 1/k),
// natural (n_i / Σn), temperature (∝ (n_i/Σn)^(1/τ)) and UniMax (Chung et al., ICLR 2023: budget
// spread uniformly, small domains capped at E epochs, leftovers to the larger ones). Each is then
// moved into the constraint box by the multiplicative repair (P4), which keeps the ratios of the
// unconstrained domains. They do not predict (predict returns NaN).

import { z } from "zod";
import type { FitInput, FittedLaw, Law, ResolvedConstraints } from "../types.js";
import { parseOptions } from "../common/options.js";
import { parseParams } from "../common/params.js";
import { repairMultiplicative, normalize } from "../../src/core/simplex.js";
import { InputError } from "../../src/errors.js";

function needTokens(input: FitInput, method: string): Float64Array {
  if (!input.tokensPerDomain) throw new InputError(
    method,
    "expected token counts per domain (--tokens web=1.2e9,code=3e8,… or a corpus), got none",
  );
  return input.tokensPerDomain;
}

function staticLaw(
  method: string,
  domains: readonly string[],
  base: Float64Array,
  params: Record<string, unknown>,
  info: Record<string, unknown> = {},
): FittedLaw {
  const k = domains.length;
  return {
    method,
    domains,
    info,
    predict: (mixtures, out = new Float64Array(mixtures.length / k)) => out.fill(NaN),
    recommend: (c: ResolvedConstraints) => ({
      proportions: repairMultiplicative(base, c.box),
      predicted: NaN,
      details: { unconstrained: Array.from(base) },
    }),
    toParams: () => ({ ...params, proportions: Object.fromEntries(domains.map((d, i) => [d, base[i]!])) }),
  };
}

const SavedStaticSchema = z.strictObject({
  proportions: z.record(z.string(), z.number().min(0)),
  options: z.unknown().optional(),
});

function loadStatic(method: string, domains: readonly string[], params: Record<string, unknown>): FittedLaw {
  const p = parseParams(SavedStaticSchema, params, domains);
  const base = new Float64Array(domains.length);
  const missing = domains.filter((d) => p.proportions[d] === undefined);
  if (missing.length) {
    throw new InputError(
      "model",
      missing.map((d) => ({
        path: `params.proportions.${d}`,
        message: "expected a proportion for this domain, got none",
      })),
    );
  }
  domains.forEach((d, i) => (base[i] = p.proportions[d]!));
  let s = 0;
  for (const v of base) s += v;
  if (Math.abs(s - 1) > 1e-6) {
    throw new InputError(
      "model",
      [{ path: "params.proportions", message: `expected proportions summing to 1 (± 1e-6), got ${s}` }],
    );
  }
  return staticLaw(method, domains, base, params);
}

const NoOptions = z.strictObject({});

export const uniform: Law<Record<string, never>> = {
  name: "uniform",
  summary: "Stratified: every domain 1/k (the baseline many learned methods fail to beat)",
  paper: "— (Aioli, ICLR 2025, reports it as a strong baseline)",
  learns: false,
  parseOptions: (raw) => parseOptions(NoOptions, raw, "uniform") as Record<string, never>,
  fit: (input) =>
    staticLaw("uniform", input.domains, new Float64Array(input.domains.length).fill(1 / input.domains.length), {}),
  load: (domains, params) => loadStatic("uniform", domains, params),
};

export const natural: Law<Record<string, never>> = {
  name: "natural",
  summary: "Proportional to the tokens each domain has",
  paper: "— (DoReMi's maintainers recommend it for reference models)",
  learns: false,
  parseOptions: (raw) => parseOptions(NoOptions, raw, "natural") as Record<string, never>,
  fit: (input) => staticLaw("natural", input.domains, normalize(needTokens(input, "natural")), {}),
  load: (domains, params) => loadStatic("natural", domains, params),
};

export const TemperatureOptionsSchema = z.strictObject({
  /** Temperature τ ≥ 1: 1 is natural, ∞ is uniform (default 2, i.e. α = 0.5 as in RegMix's prior). */
  temperature: z.number().min(1).default(2),
});

export const temperature: Law<z.infer<typeof TemperatureOptionsSchema>> = {
  name: "temperature",
  summary: "Temperature sampling: p_i ∝ (n_i / Σn)^(1/τ)",
  paper: "— (common in multilingual pretraining; Arivazhagan et al. 2019)",
  learns: false,
  parseOptions: (raw) => parseOptions(TemperatureOptionsSchema, raw, "temperature"),
  fit(input, o) {
    const q = normalize(needTokens(input, "temperature"));
    const w = q.map((v) => v ** (1 / o.temperature));
    return staticLaw("temperature", input.domains, normalize(w), { options: o });
  },
  load: (domains, params) => loadStatic("temperature", domains, params),
};

export const UniMaxOptionsSchema = z.strictObject({
  /** Maximum epochs over any domain (default 4). */
  maxEpochs: z.number().positive().default(4),
  /** Tokens of the target run; required. */
  budgetTokens: z.number().positive(),
});

/**
 * UniMax's allocation (Chung et al. 2023, Algorithm 1): domains in ascending size; each gets
 * min(E·n_i, remaining / domains left). Returns the token allocation and whether the budget is met.
 */
export function unimaxAllocation(
  tokens: Float64Array,
  budget: number,
  maxEpochs: number,
): { proportions: Float64Array; allocated: Float64Array; budgetMet: boolean } {
  const k = tokens.length;
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => tokens[a]! - tokens[b]! || a - b);
  const allocated = new Float64Array(k);
  let remaining = budget;
  order.forEach((d, idx) => {
    const fair = remaining / (k - idx);
    const b = Math.min(maxEpochs * tokens[d]!, fair);
    allocated[d] = b;
    remaining -= b;
  });
  let total = 0;
  for (const b of allocated) total += b;
  return { proportions: normalize(allocated), allocated, budgetMet: total >= budget * (1 - 1e-12) };
}

export const unimax: Law<z.infer<typeof UniMaxOptionsSchema>> = {
  name: "unimax",
  summary: "UniMax: uniform over domains with an epoch cap at the target budget",
  paper:
    "Chung et al., UniMax: Fairer and More Effective Language Sampling for Large-Scale Multilingual Pretraining, " +
    "ICLR 2023",
  learns: false,
  parseOptions: (raw) => parseOptions(UniMaxOptionsSchema, raw, "unimax"),
  fit(input, o) {
    const tokens = needTokens(input, "unimax");
    const r = unimaxAllocation(tokens, o.budgetTokens, o.maxEpochs);
    // The corpus cannot supply the budget at maxEpochs: the input asks for the impossible (exit 2).
    if (!r.budgetMet) {
      let supply = 0;
      for (const n of tokens) supply += o.maxEpochs * n;
      throw new InputError(
        "unimax",
        [
          {
            path: "budgetTokens (--budget)",
            message:
              `expected at most ${supply.toPrecision(6)} tokens (${o.maxEpochs} epochs of every domain's tokens), ` +
              `got ${o.budgetTokens}; raise maxEpochs (--max-epochs) or lower the budget`,
          },
        ],
      );
    }
    return staticLaw(
      "unimax",
      input.domains,
      r.proportions,
      { options: o },
      { budgetMet: r.budgetMet, allocatedTokens: Array.from(r.allocated) },
    );
  },
  load: (domains, params) => loadStatic("unimax", domains, params),
};
