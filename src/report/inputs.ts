// What `mixlab report` reads besides the runs table: a proportions.json (mixlab.proportions/v1)
// with the optional `diagnostics` list (warnings of the fit) and `online` trajectory (written by
// `mixlab train --online`, validated by the proportions schema), plus the checks a plot needs:
// trajectory shares over the document's domains summing to 1, tokens non-decreasing, and an
// online mixer's interaction matrix (`details.diagnostics.A`, Aioli) of the right shape.

import { z } from "zod";
import { InputError, type InputIssue, ZOD_MESSAGES, zodIssues } from "../errors.js";
import { parseProportions, type Proportions } from "../export/proportions.js";

/** The `online` block of a proportions document written by `mixlab train --online`. */
export type OnlineRun = NonNullable<Proportions["online"]>;

/** One diagnostic (a warning the fit raised): a stable code, a sentence, and any detail fields. */
export const DiagnosticSchema = z.looseObject({ code: z.string(), message: z.string() });
export type Diagnostic = z.infer<typeof DiagnosticSchema>;

/** A proportions document as the report reads it. */
export type ReportProportions = Omit<Proportions, "diagnostics"> & {
  orderedDomains: string[];
  diagnostics?: Diagnostic[] | undefined;
  /** An online mixer's last interaction matrix (row = eval domain, column = trained domain), domain order. */
  interaction?: number[][];
};

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
    throw new InputError(
      source,
      `expected a JSON object, got ${Array.isArray(raw) ? "an array" : JSON.stringify(raw)}`,
    );
  }
  const { diagnostics, ...rest } = raw as Record<string, unknown>;
  const issues: InputIssue[] = [];
  const g = diagnostics === undefined ? undefined : z.array(DiagnosticSchema).safeParse(diagnostics, ZOD_MESSAGES);
  if (g && !g.success) issues.push(...zodIssues(g.error.issues, "diagnostics", ["diagnostics"]));
  if (issues.length) throw new InputError(source, issues);
  const doc = parseProportions(JSON.stringify(rest), source);
  const names = doc.orderedDomains;
  const trajectory = doc.online?.trajectory ?? [];
  if (doc.online && trajectory.length === 0)
    issues.push({ path: "online.trajectory", message: "expected at least one step, got none" });
  trajectory.forEach((p, i) => {
    const keys = Object.keys(p.proportions);
    const at = `online.trajectory.${i}`;
    const wrong = keys.filter((k) => !names.includes(k));
    const missing = names.filter((k) => p.proportions[k] === undefined);
    if (wrong.length || missing.length) issues.push({
      path: `${at}.proportions`,
      message: `expected the domains ${names.join(", ")}, got ${keys.join(", ")}`,
    });
    const s = keys.reduce((a, k) => a + p.proportions[k]!, 0);
    if (Math.abs(s - 1) > 1e-6) issues.push({
      path: `${at}.proportions`,
      message: `expected proportions summing to 1 (± 1e-6), got ${s}`,
    });
    const before = i > 0 ? trajectory[i - 1]!.tokens : 0;
    if (p.tokens < before) issues.push({
      path: `${at}.tokens`,
      message: `expected tokens non-decreasing, got ${p.tokens} after ${before}`,
    });
  });
  const A = (doc.details?.diagnostics as Record<string, unknown> | undefined)?.A;
  const k = names.length;
  const square =
    Array.isArray(A) &&
    A.length === k &&
    A.every((r) => Array.isArray(r) && r.length === k && r.every((v) => typeof v === "number" && Number.isFinite(v)));
  if (A !== undefined && A !== null && !square) {
    issues.push({
      path: "details.diagnostics.A",
      message:
        `expected a ${k} × ${k} matrix of numbers (rows and columns in domain order), ` +
        `got ${JSON.stringify(A).slice(0, 80)}`,
    });
  }
  if (issues.length) throw new InputError(source, issues);
  return {
    ...doc,
    ...(g?.success ? { diagnostics: g.data } : {}),
    ...(square ? { interaction: A as number[][] } : {}),
  };
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
  const r = SavedLawSchema.safeParse(raw, ZOD_MESSAGES);
  if (!r.success) throw new InputError(source, zodIssues(r.error.issues));
  return r.data;
}
