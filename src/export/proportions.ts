// The mixlab.proportions/v1 document (ARCHITECTURE.md "Formats"): domains → proportion (≥ 0,
// Σ = 1), method, target, prediction, constraints, provenance and fit quality. Read back with a
// strict zod schema; key order of `domains` is not trusted (an explicit `order` list is kept).

import { z } from "zod";
import { InputError, ZOD_MESSAGES, zodIssues } from "../errors.js";

export const PROPORTIONS_FORMAT = "mixlab.proportions/v1";

const Stage = z.strictObject({
  untilTokens: z.number().positive().optional(),
  untilSamples: z.number().positive().optional(),
  domains: z.record(z.string(), z.number().min(0)),
});

/** Per-domain values (shares or losses) by domain name. */
const ByDomain = z.record(z.string(), z.number());

/** What an online run did, step by step (`mixlab train --online -o`; drawn by the report). */
const Online = z.strictObject({
  method: z.string(),
  options: z.record(z.string(), z.unknown()),
  seed: z.number().int().min(0),
  trajectory: z.array(z.strictObject({
    step: z.number().int().min(0),
    tokens: z.number().min(0),
    proportions: ByDomain,
    trainLoss: ByDomain.optional(),
    evalLoss: ByDomain.optional(),
  })),
});

export const ProportionsSchema = z.strictObject({
  format: z.literal(PROPORTIONS_FORMAT),
  unit: z.enum(["tokens", "samples"]).default("tokens"),
  domains: z.record(z.string(), z.number().min(0)),
  order: z.array(z.string()).optional(),
  stages: z.array(Stage).optional(),
  method: z.string().optional(),
  target: z.string().optional(),
  /** `wmean:` weights of the target's columns, normalised. */
  targetWeights: z.record(z.string(), z.number()).optional(),
  /** "auto" when `fit --method auto` chose the method. */
  chosenBy: z.string().optional(),
  /** Recommendation criterion: "mean" or "pessimistic" (prediction + one sd). */
  risk: z.enum(["mean", "pessimistic"]).optional(),
  /** How the sd in `predicted` was obtained. */
  uncertainty: z.record(z.string(), z.unknown()).optional(),
  /** Support diagnostics: `{ code, message, …numbers }` each. */
  diagnostics: z.array(z.looseObject({ code: z.string(), message: z.string() })).optional(),
  predicted: z.record(z.string(), z.number().nullable()).optional(),
  withoutEpochCaps: z.strictObject({
    domains: z.record(z.string(), z.number()),
    predicted: z.number().nullable(),
  }).optional(),
  epochs: z.record(z.string(), z.number()).optional(),
  constraints: z.record(z.string(), z.unknown()).optional(),
  fitQuality: z.record(z.string(), z.unknown()).optional(),
  details: z.record(z.string(), z.unknown()).optional(),
  provenance: z.record(z.string(), z.unknown()).optional(),
  online: Online.optional(),
});
export type Proportions = z.infer<typeof ProportionsSchema>;

/** Rounds for display without losing the sum: values are kept at full precision. */
export function proportionsRecord(domains: readonly string[], p: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  domains.forEach((d, i) => (out[d] = p[i]!));
  return out;
}

/**
 * Parses and validates a proportions document.
 * @throws InputError naming the file and every problem (format, negative or non-summing proportions)
 */
export function parseProportions(text: string, source: string): Proportions & { orderedDomains: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(source, `expected JSON, got invalid JSON (${(e as Error).message})`);
  }
  const r = ProportionsSchema.safeParse(raw, ZOD_MESSAGES);
  if (!r.success) throw new InputError(source, zodIssues(r.error.issues));
  const doc = r.data;
  const names = doc.order ?? Object.keys(doc.domains);
  const extra = Object.keys(doc.domains).filter((d) => !names.includes(d));
  if (extra.length || names.some((d) => doc.domains[d] === undefined)) throw new InputError(
    source,
    "order: expected the same domains as `domains`",
  );
  const s = names.reduce((a, d) => a + doc.domains[d]!, 0);
  if (Math.abs(s - 1) > 1e-6) throw new InputError(
    source,
    `domains: expected proportions summing to 1 (± 1e-6), got ${s}`,
  );
  return { ...doc, orderedDomains: names };
}
