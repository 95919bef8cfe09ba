// Proxy runs as runs-table rows, and atomic appends to a runs table (any format): the existing
// table is read, the row added (new columns filled with empty cells), and the file replaced.

import { existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { readFrameAsync, writeFrame, type Cell, type Frame } from "../runs/frame.js";
import type { RunResult } from "./train.js";
import type { ProxyConfig } from "./model.js";

/** A run's key: SHA-256 of its mixture, model config, steps, batch size and seed (the sweep skips keys already present). */
export function runKey(proportions: Readonly<Record<string, number>>, config: ProxyConfig, steps: number, batchSize: number, seed: number): string {
  const names = Object.keys(proportions).sort();
  const canon = JSON.stringify({ p: names.map((n) => [n, proportions[n]]), config, steps, batchSize, seed });
  return createHash("sha256").update(canon).digest("hex").slice(0, 16);
}

/** The row of a finished run, in domain order. */
export function runRow(id: string, domains: readonly string[], r: RunResult, extra: Record<string, Cell> = {}): Map<string, Cell> {
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
  row.set("steps", r.steps);
  row.set("wall_s", Number(r.seconds.toFixed(3)));
  row.set("backend", r.backend);
  row.set("threads", r.threads);
  for (const [k, v] of Object.entries(extra)) row.set(k, v);
  return row;
}

/** Appends rows to a runs table file (created when missing), atomically. */
export async function appendRows(path: string, rows: readonly Map<string, Cell>[]): Promise<Frame> {
  const base: Frame = existsSync(path) ? await readFrameAsync(path) : { source: path, columns: [], cells: new Map(), numRows: 0 };
  const columns = [...base.columns];
  for (const r of rows) for (const c of r.keys()) if (!columns.includes(c)) columns.push(c);
  const cells = new Map<string, Cell[]>();
  for (const c of columns) {
    const col = base.cells.get(c)?.slice() ?? new Array<Cell>(base.numRows).fill(null);
    for (const r of rows) col.push(r.get(c) ?? null);
    cells.set(c, col);
  }
  const frame: Frame = { source: path, columns, cells, numRows: base.numRows + rows.length };
  await writeFrame(frame, path);
  return frame;
}
