// What `mixlab report` reads besides the runs table: a proportions.json (mixlab.proportions/v1)
// with the optional `diagnostics` list (written by `mixlab fit`) and `online` trajectory (written
// by `mixlab train --online`), validated here with strict schemas so a malformed file is named
// field by field rather than drawn wrongly.

import { z } from "zod";
import { InputError } from "../errors.js";
import { parseProportions, type Proportions } from "../export/proportions.js";

const PerDomain = z.record(z.string(), z.number());

/** One step of an online run's trajectory. */
export const TrajectoryPointSchema = z.strictObject({
  step: z.number().int().min(0),
  tokens: z.number(),
  proportions: z.record(z.string(), z.number().min(0)),
  trainLoss: PerDomain.optional(),
  evalLoss: PerDomain.optional(),
});

/** The `online` block of a proportions document written by `mixlab train --online`. */
export const OnlineRunSchema = z.object({
  method: z.string(),
  options: z.record(z.string(), z.unknown()).optional(),
  seed: z.number().int().min(0).optional(),
  trajectory: z.array(TrajectoryPointSchema).min(1),
  /** Mixer diagnostics; Aioli's interaction matrix as `A: { evalDomain: { trainDomain: value } }`. */
  diagnostics: z.record(z.string(), z.unknown()).optional(),
});
export type OnlineRun = z.infer<typeof OnlineRunSchema>;

/** One diagnostic (a warning the fit raised): a stable code, a sentence, and any detail fields. */
export const DiagnosticSchema = z.looseObject({ code: z.string(), message: z.string() });
export type Diagnostic = z.infer<typeof DiagnosticSchema>;

/** A proportions document as the report reads it. */
export type ReportProportions = Omit<Proportions, "online" | "diagnostics"> & { orderedDomains: string[]; online?: OnlineRun; diagnostics?: Diagnostic[] };

/**
 * Parses a proportions document, its `online` trajectory and its `diagnostics`.
 * @param text the file's contents
 * @param source the file name, for messages
 * @throws InputError naming the file and each bad field (path, expected, got)
 */
export function parseReportProportions(text: string, source: string): ReportProportions {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(source, `expected JSON, got invalid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new InputError(source, `expected a JSON object, got ${Array.isArray(raw) ? "an array" : JSON.stringify(raw)}`);
  }
  const { online, diagnostics, ...rest } = raw as Record<string, unknown>;
  const issues: { path: string; message: string }[] = [];
  const o = online === undefined ? undefined : OnlineRunSchema.safeParse(online);
  if (o && !o.success) for (const i of o.error.issues) issues.push({ path: ["online", ...i.path].join("."), message: i.message });
  const g = diagnostics === undefined ? undefined : z.array(DiagnosticSchema).safeParse(diagnostics);
  if (g && !g.success) for (const i of g.error.issues) issues.push({ path: ["diagnostics", ...i.path].join("."), message: i.message });
  if (issues.length) throw new InputError(source, issues);
  const doc = parseProportions(JSON.stringify(rest), source);
  if (o?.success) {
    const names = doc.orderedDomains;
    o.data.trajectory.forEach((p, i) => {
      const keys = Object.keys(p.proportions);
      const wrong = keys.filter((k) => !names.includes(k));
      const missing = names.filter((k) => p.proportions[k] === undefined);
      const at = `online.trajectory.${i}`;
      if (wrong.length || missing.length) issues.push({ path: `${at}.proportions`, message: `expected the domains ${names.join(", ")}, got ${keys.join(", ")}` });
      const s = keys.reduce((a, k) => a + p.proportions[k]!, 0);
      if (Math.abs(s - 1) > 1e-6) issues.push({ path: `${at}.proportions`, message: `expected proportions summing to 1 (± 1e-6), got ${s}` });
      const before = i > 0 ? o.data.trajectory[i - 1]!.tokens : 0;
      if (!(p.tokens >= 0)) issues.push({ path: `${at}.tokens`, message: `expected a token count ≥ 0, got ${p.tokens}` });
      else if (p.tokens < before) issues.push({ path: `${at}.tokens`, message: `expected tokens non-decreasing, got ${p.tokens} after ${before}` });
    });
    if (issues.length) throw new InputError(source, issues);
  }
  const { online: _none, diagnostics: _parsed, ...plain } = doc; // `online` was taken out of `rest` above and parsed here
  return { ...plain, ...(o?.success ? { online: o.data } : {}), ...(g?.success ? { diagnostics: g.data } : {}) };
}

const SavedLawSchema = z.strictObject({
  format: z.literal("mixlab.law/v1"),
  method: z.string(),
  domains: z.array(z.string()).min(2),
  target: z.string(),
  params: z.record(z.string(), z.unknown()),
});

/**
 * Parses a law saved by `mixlab fit --save-model`.
 * @throws InputError naming the file and each bad field
 */
export function parseSavedLaw(text: string, source: string): z.infer<typeof SavedLawSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(source, `expected a saved law (JSON), got invalid JSON (${(e as Error).message})`);
  }
  const r = SavedLawSchema.safeParse(raw);
  if (!r.success) throw new InputError(source, r.error.issues.map((i) => ({ path: i.path.join(".") || "document", message: i.message })));
  return r.data;
}
