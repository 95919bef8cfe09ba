// Proxy runs as runs-table rows: a finished run's losses, bits per byte and timing, and the
// settings that made it (the inputs of its key), in one fixed column layout shared by `train`,
// `sweep` and failed runs, so every row of a table has the same columns.

import type { Cell } from "../runs/frame.js";
import { settingsCells, type RunSettings } from "../sweep/plan.js";
import type { RunResult } from "./train.js";

/** The row of a finished run, in domain order: run_id, w.*, loss.*, loss.mean, bpb.*, metrics, settings, status. */
export function runRow(
  id: string,
  domains: readonly string[],
  r: RunResult,
  settings: RunSettings,
  extra: Readonly<Record<string, Cell>> = {},
): Map<string, Cell> {
  const row = new Map<string, Cell>();
  row.set("run_id", id);
  for (const d of domains) row.set(`w.${d}`, r.proportions[d] ?? 0);
  for (const d of domains) row.set(`loss.${d}`, r.lossPerDomain[d]!);
  const losses = domains.map((d) => r.lossPerDomain[d]!);
  row.set("loss.mean", losses.reduce((a, b) => a + b, 0) / losses.length);
  for (const d of domains) row.set(`bpb.${d}`, r.bitsPerBytePerDomain[d]!);
  row.set("train_loss", r.trainLoss);
  row.set("params", r.params);
  row.set("tokens", r.tokens);
  row.set("wall_s", Number(r.seconds.toFixed(3)));
  row.set("backend", r.backend);
  row.set("threads", r.threads);
  for (const [k, v] of settingsCells(settings)) row.set(k, v);
  row.set("steps", r.steps);
  row.set("status", "ok");
  row.set("error", null);
  for (const [k, v] of Object.entries(extra)) row.set(k, v);
  return row;
}

/** The row of a run that failed: its mixture, settings, status "failed" and the error; no losses. */
export function failedRunRow(
  id: string,
  domains: readonly string[],
  proportions: Readonly<Record<string, number>>,
  settings: RunSettings,
  error: string,
  extra: Readonly<Record<string, Cell>> = {},
): Map<string, Cell> {
  const row = new Map<string, Cell>();
  row.set("run_id", id);
  for (const d of domains) row.set(`w.${d}`, proportions[d] ?? 0);
  // The same columns as a finished run's row, in the same order, with empty results.
  const results = [...domains.map((d) => `loss.${d}`), "loss.mean", ...domains.map((d) => `bpb.${d}`)];
  for (const c of [...results, "train_loss", "params", "tokens", "wall_s", "backend", "threads"]) row.set(c, null);
  for (const [k, v] of settingsCells(settings)) row.set(k, v);
  row.set("steps", settings.steps);
  row.set("status", "failed");
  row.set("error", error);
  for (const [k, v] of Object.entries(extra)) row.set(k, v);
  return row;
}
