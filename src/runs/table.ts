// The runs table (ARCHITECTURE.md "Formats"): one row per proxy run, `w.<domain>` proportions,
// `loss.<domain>` losses, optional target/run_id/seed/params/tokens/steps/fidelity, any other
// columns kept as they are. This module validates a Frame into a RunsTable, gathering every
// problem into one InputError, and resolves target specifications.
//
// Sums: a row whose proportions do not sum to exactly 1 is accepted when the gap is within the
// rounding error its printed digits allow (Σ over its cells of half a unit in the last printed
// decimal, so RegMix's 3-decimal rows over 17 domains may be off by up to 0.0085) or within an
// explicit --sum-tolerance; accepted rows are renormalised and the count is reported. Anything
// else is an error naming the row and its sum.

import { InputError, type InputIssue, showValue } from "../errors.js";
import type { Cell, Frame } from "./frame.js";

/** How to find weight and loss columns in a table that is not in mixlab's own layout. */
export interface RunsLayoutOptions {
  /** Prefix of proportion columns; the rest of the name is the domain (default "w."). */
  readonly weightsPrefix?: string;
  /** Explicit proportion columns, in this domain order (overrides weightsPrefix). */
  readonly weights?: readonly string[];
  /** Rename loss columns to `loss.<domain>`: a pattern with `{domain}`, e.g. `metric/the_pile_{domain}_val_loss`. */
  readonly lossPattern?: string;
  /** Accept rows whose proportions sum to 1 ± this; default: the rounding of the printed digits (at least 1e-6). */
  readonly sumTolerance?: number;
  /**
   * Rows whose `status` is "failed" (a sweep's failed runs): "exclude" leaves them out of the
   * table (counted in `failed`; say so with failedRunsNote), "keep" keeps them as rows (default "exclude").
   */
  readonly failedRuns?: "exclude" | "keep";
}

/** Failed runs left out of a table: their 1-based data rows, and how many failed with each error. */
export interface FailedRuns {
  readonly rows: number[];
  readonly errors: Map<string, number>;
}

/** A validated runs table. */
export interface RunsTable {
  /** The file (or files) it came from. */
  readonly source: string;
  /** All columns, loss columns renamed to `loss.<domain>` when a lossPattern was given. */
  readonly frame: Frame;
  /** Domain names in column order. */
  readonly domains: string[];
  /** The proportion column of each domain. */
  readonly weightColumns: string[];
  /** (numRuns × numDomains), row-major, each row renormalised to sum to 1. */
  readonly weights: Float64Array;
  readonly numRuns: number;
  /** Rows whose sum was within tolerance but not exactly 1, and the largest gap seen. */
  readonly renormalised: { readonly rows: number; readonly maxGap: number };
  /** Failed runs (status "failed") left out of `frame`, `weights` and `numRuns`. */
  readonly failed: FailedRuns;
}

/**
 * Splits off the rows whose `status` cell is "failed": kept in the file, left out of fitting.
 * The returned frame carries each kept row's 1-based file row (`rowNumbers`) for messages.
 */
export function withoutFailedRuns(frame: Frame): { frame: Frame; failed: FailedRuns } {
  const status = frame.cells.get("status");
  const failed: FailedRuns = { rows: [], errors: new Map() };
  if (!status) return { frame, failed };
  const keep: number[] = [];
  const errors = frame.cells.get("error");
  for (let i = 0; i < frame.numRows; i++) {
    if (status[i] === "failed") {
      failed.rows.push(frame.rowNumbers?.[i] ?? i + 1);
      const e = errors?.[i];
      const why = e === null || e === undefined || e === "" ? "no error recorded" : String(e);
      failed.errors.set(why, (failed.errors.get(why) ?? 0) + 1);
    } else keep.push(i);
  }
  if (failed.rows.length === 0) return { frame, failed };
  const pick = <T>(col: readonly T[]): T[] => keep.map((i) => col[i]!);
  const cells = new Map<string, Cell[]>();
  for (const [c, v] of frame.cells) cells.set(c, pick(v));
  const rowNumbers = keep.map((i) => frame.rowNumbers?.[i] ?? i + 1);
  const base = { source: frame.source, columns: frame.columns, cells, numRows: keep.length, rowNumbers };
  if (!frame.text) return { frame: base, failed };
  const text = new Map<string, string[]>();
  for (const [c, v] of frame.text) text.set(c, pick(v));
  return { frame: { ...base, text }, failed };
}

/** One line saying how many failed runs a table left out and why, or null when none. */
export function failedRunsNote(table: RunsTable): string | null {
  const n = table.failed.rows.length;
  if (n === 0) return null;
  const shown = (e: string): string => JSON.stringify(e.length > 100 ? `${e.slice(0, 100)}…` : e);
  const why = [...table.failed.errors].map(([e, k]) => `${shown(e)}${k > 1 ? ` (${k} runs)` : ""}`).join("; ");
  const rows = `${table.failed.rows.slice(0, 8).join(", ")}${n > 8 ? ", …" : ""}`;
  const s = n === 1 ? "" : "s";
  return (
    `note: ${table.source}: ${n} failed run${s} (status "failed"; row${s} ${rows}) ` +
    `kept in the file and left out: ${why}`
  );
}

/** Number of decimals a cell was written with (from its text, else the shortest repr of the number). */
function decimalsOf(text: string | undefined, value: number): number {
  const s = text?.trim() ?? String(value);
  const m = /^[+-]?\d*(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m) return 17;
  const frac = m[1]?.length ?? 0;
  const exp = m[2] ? Number(m[2]) : 0;
  return Math.max(0, frac - exp);
}

/** A row label for messages: data rows count from 1; CSV rows also give the file line. */
function rowLabel(frame: Frame, i: number): string {
  const r = frame.rowNumbers?.[i] ?? i + 1;
  return frame.text ? `row ${r} (line ${r + 1})` : `row ${r}`;
}

/**
 * Renames columns that match a `{domain}` pattern to `loss.<domain>`.
 * @throws InputError when the pattern lacks `{domain}` or a renamed column would clash
 */
export function applyLossPattern(frame: Frame, pattern: string): Frame {
  if (!pattern.includes("{domain}")) throw new InputError(
    "--loss-pattern",
    `expected a pattern containing {domain}, got ${showValue(pattern)}`,
  );
  const [before, after] = pattern.split("{domain}") as [string, string];
  const columns: string[] = [];
  const cells = new Map<string, Cell[]>();
  const text = frame.text ? new Map<string, string[]>() : undefined;
  let matched = 0;
  for (const c of frame.columns) {
    let name = c;
    if (c.startsWith(before) && c.endsWith(after) && c.length > before.length + after.length) {
      name = `loss.${c.slice(before.length, c.length - after.length)}`;
      matched++;
      if (frame.cells.has(name)) throw new InputError(
        frame.source,
        `column ${showValue(c)}: renaming it to ${showValue(name)} clashes with an existing column`,
      );
    }
    columns.push(name);
    cells.set(name, frame.cells.get(c)!);
    if (text) text.set(name, frame.text!.get(c)!);
  }
  if (matched === 0) throw new InputError(
    "--loss-pattern",
    `expected columns matching ${showValue(pattern)} in ${frame.source}, ` +
      `got none (columns: ${frame.columns.slice(0, 8).join(", ")}${frame.columns.length > 8 ? ", …" : ""})`,
  );
  return text
    ? { source: frame.source, columns, cells, numRows: frame.numRows, text }
    : { source: frame.source, columns, cells, numRows: frame.numRows };
}

/**
 * Joins a mixtures frame with a losses frame on a key column (RegMix ships its runs this way:
 * `train_mixture_1m.csv` + `train_pile_loss_1m.csv` on `index`). Keys must be unique in both;
 * every losses row must match a mixture; a mixture with no losses row keeps empty loss cells
 * (a pending run), which a fit then reports as a missing target.
 */
export function joinFrames(mixtures: Frame, losses: Frame, key: string): Frame {
  const issues: InputIssue[] = [];
  for (const f of [mixtures, losses]) {
    if (!f.cells.has(key)) issues.push({
      path: f.source,
      message:
        `expected a key column ${showValue(key)}, ` +
        `got columns ${f.columns.slice(0, 6).join(", ")}${f.columns.length > 6 ? ", …" : ""}`,
    });
  }
  if (issues.length) throw new InputError(`--join-on ${key}`, issues);
  const keyIndex = (f: Frame): Map<string, number> => {
    const m = new Map<string, number>();
    f.cells.get(key)!.forEach((v, i) => {
      const k = v === null ? "" : String(v);
      if (k === "") issues.push({
        path: `${f.source}: ${rowLabel(f, i)}, column ${showValue(key)}`,
        message: "expected a key, got an empty cell",
      });
      else if (m.has(k)) issues.push({
        path: `${f.source}: ${rowLabel(f, i)}, column ${showValue(key)}`,
        message: `expected unique keys, got ${showValue(k)} again (first in ${rowLabel(f, m.get(k)!)})`,
      });
      else m.set(k, i);
    });
    return m;
  };
  const left = keyIndex(mixtures);
  const right = keyIndex(losses);
  for (const c of losses.columns) {
    if (c !== key && mixtures.cells.has(c)) issues.push({
      path: `${losses.source}: column ${showValue(c)}`,
      message: `expected columns not already in ${mixtures.source}, got a duplicate`,
    });
  }
  for (const [k, i] of right) {
    if (!left.has(k)) issues.push({
      path: `${losses.source}: ${rowLabel(losses, i)}`,
      message: `expected a mixture with ${key} ${showValue(k)} in ${mixtures.source}, got none`,
    });
  }
  if (issues.length) throw new InputError(`join of ${mixtures.source} and ${losses.source}`, issues);
  const columns = [...mixtures.columns];
  const cells = new Map(mixtures.cells);
  const text = mixtures.text && losses.text ? new Map(mixtures.text) : undefined;
  const order = mixtures.cells.get(key)!.map((v) => right.get(String(v)));
  for (const c of losses.columns) {
    if (c === key) continue;
    columns.push(c);
    const src = losses.cells.get(c)!;
    cells.set(c, order.map((j) => (j === undefined ? null : src[j]!)));
    if (text) {
      const t = losses.text!.get(c)!;
      text.set(c, order.map((j) => (j === undefined ? "" : t[j]!)));
    }
  }
  const source = `${mixtures.source} ⋈ ${losses.source}`;
  return text
    ? { source, columns, cells, numRows: mixtures.numRows, text }
    : { source, columns, cells, numRows: mixtures.numRows };
}

/**
 * Validates a frame as a runs table: finds the proportion columns, checks every cell and every
 * row sum, checks run ids for duplicates, renormalises accepted rows.
 * @throws InputError listing every problem (file, row, column, expected, found)
 */
export function buildRunsTable(input: Frame, options: RunsLayoutOptions = {}): RunsTable {
  const patterned = options.lossPattern ? applyLossPattern(input, options.lossPattern) : input;
  const { frame, failed } =
    options.failedRuns === "keep"
      ? { frame: patterned, failed: { rows: [], errors: new Map<string, number>() } }
      : withoutFailedRuns(patterned);
  const issues: InputIssue[] = [];
  let weightColumns: string[];
  let domains: string[];
  if (options.weights && options.weights.length > 0) {
    weightColumns = [...options.weights];
    for (const c of weightColumns) {
      if (!frame.cells.has(c)) issues.push({
        path: "--weights",
        message: `expected a column ${showValue(c)}, got no such column`,
      });
    }
    const prefix = options.weightsPrefix ?? "w.";
    domains = weightColumns.map((c) => (c.startsWith(prefix) ? c.slice(prefix.length) : c));
  } else {
    const prefix = options.weightsPrefix ?? "w.";
    weightColumns = frame.columns.filter((c) => c.startsWith(prefix) && c.length > prefix.length);
    domains = weightColumns.map((c) => c.slice(prefix.length));
    if (weightColumns.length === 0) {
      throw new InputError(
        frame.source,
        `expected proportion columns named ${prefix}<domain>, ` +
          `got none (columns: ${frame.columns.slice(0, 8).join(", ")}${frame.columns.length > 8 ? ", …" : ""}); ` +
          "name them with --weights-prefix or --weights",
      );
    }
  }
  const dupDomains = domains.filter((d, i) => domains.indexOf(d) !== i);
  if (dupDomains.length) issues.push({
    path: "domains",
    message: `expected unique domain names, got ${dupDomains.map((d) => showValue(d)).join(", ")} twice`,
  });
  if (weightColumns.length < 2 && issues.length === 0) issues.push({
    path: "domains",
    message: `expected at least 2 domains, got ${weightColumns.length}`,
  });
  if (issues.length) throw new InputError(frame.source, issues);

  const k = weightColumns.length;
  const n = frame.numRows;
  if (n === 0) {
    const got = failed.rows.length
      ? `one run that did not fail, got ${failed.rows.length} failed runs only`
      : "one run, got a table with no rows";
    throw new InputError(frame.source, `expected at least ${got}`);
  }
  const weights = new Float64Array(n * k);
  let renormRows = 0;
  let maxGap = 0;
  const cols = weightColumns.map((c) => frame.cells.get(c)!);
  const texts = weightColumns.map((c) => frame.text?.get(c));
  for (let i = 0; i < n; i++) {
    let s = 0;
    let tol = 0;
    let rowOk = true;
    for (let j = 0; j < k; j++) {
      const v = cols[j]![i]!;
      const where = `${rowLabel(frame, i)}, column ${showValue(weightColumns[j])}`;
      if (typeof v !== "number" || !Number.isFinite(v)) {
        const shown = texts[j]?.[i] ?? v;
        issues.push({
          path: where,
          message:
            "expected a number in [0, 1], " +
            `got ${shown === null || shown === "" ? "an empty cell" : showValue(shown)}`,
        });
        rowOk = false;
        continue;
      }
      if (v < 0 || v > 1) {
        issues.push({
          path: where,
          message: `expected a number in [0, 1], got ${texts[j]?.[i] ?? v}${v < 0 ? " (a negative proportion)" : ""}`,
        });
        rowOk = false;
        continue;
      }
      weights[i * k + j] = v;
      s += v;
      tol += 0.5 * 10 ** -decimalsOf(texts[j]?.[i], v);
    }
    if (!rowOk) continue;
    const tolerance = options.sumTolerance ?? Math.max(1e-6, tol + 1e-12);
    const gap = Math.abs(s - 1);
    if (gap > tolerance || s <= 0) {
      issues.push({
        path: rowLabel(frame, i),
        message:
          `expected the proportions to sum to 1 (± ${formatTol(tolerance)}` +
          `${options.sumTolerance === undefined ? ", the rounding of its printed digits" : ""}), ` +
          `got ${Number(s.toPrecision(10))}` +
          `${options.sumTolerance === undefined ? "; pass --sum-tolerance to accept a larger gap" : ""}`,
      });
      continue;
    }
    if (s !== 1) {
      renormRows++;
      maxGap = Math.max(maxGap, gap);
      for (let j = 0; j < k; j++) weights[i * k + j] = weights[i * k + j]! / s;
    }
  }
  const runIds = frame.cells.get("run_id");
  if (runIds) {
    const first = new Map<string, number>();
    runIds.forEach((v, i) => {
      if (v === null) return;
      const id = String(v);
      const f = first.get(id);
      if (f !== undefined) issues.push({
        path: `${rowLabel(frame, i)}, column "run_id"`,
        message: `expected unique run ids, got ${showValue(id)} again (first in ${rowLabel(frame, f)})`,
      });
      else first.set(id, i);
    });
  }
  if (issues.length) throw new InputError(frame.source, issues);
  const renormalised = { rows: renormRows, maxGap };
  return { source: frame.source, frame, domains, weightColumns, weights, numRuns: n, renormalised, failed };
}

function formatTol(t: number): string {
  return Number(t.toPrecision(3)).toString();
}

/** A resolved target: one value per run (NaN where the run has none yet). */
export interface Target {
  /** The specification as given (`loss.web`, `mean:loss.a,loss.b`). */
  readonly spec: string;
  /** The columns it is computed from. */
  readonly columns: string[];
  /** One value per run. */
  readonly values: Float64Array;
  /** Per component column, one value per run (for laws fitted per eval domain). */
  readonly components: Float64Array[];
  /** `wmean:` weights of the components, normalised to sum 1 (absent: equal weights). */
  readonly weights?: Float64Array;
}

/**
 * Resolves `--target`: a numeric column, `mean:a,b,…` the mean of several, or
 * `wmean:a=0.3,b=0.7` their weighted mean (weights normalised to sum 1).
 * @param allowMissing when true, runs without a value get NaN (pending runs); else each is an error
 * @throws InputError naming the missing column or every row whose value is missing or not a number
 */
export function resolveTarget(table: RunsTable, spec: string, options: { allowMissing?: boolean } = {}): Target {
  const frame = table.frame;
  const trimmed = spec.trim();
  // wmean:col=w,col=w — a weighted mean (Data Mixing Laws' explicit aggregation); weights normalised.
  let weights: Float64Array | undefined;
  let columns: string[];
  if (trimmed.startsWith("wmean:")) {
    const pairs = trimmed.slice(6).split(",").map((s) => s.trim()).filter((s) => s);
    const bad = pairs.filter(
      (p) => !/^[^=]+=\s*[0-9.eE+-]+$/.test(p) || !(Number(p.slice(p.lastIndexOf("=") + 1)) > 0),
    );
    if (pairs.length === 0 || bad.length) throw new InputError(
      "--target",
      `expected wmean:<col>=<weight>,… with positive weights, got ${showValue(bad[0] ?? spec)}`,
    );
    columns = pairs.map((p) => p.slice(0, p.lastIndexOf("=")).trim());
    const raw = pairs.map((p) => Number(p.slice(p.lastIndexOf("=") + 1)));
    const total = raw.reduce((a, b) => a + b, 0);
    weights = Float64Array.from(raw, (w) => w / total);
  } else
    columns = trimmed.startsWith("mean:")
      ? trimmed.slice(5).split(",").map((s) => s.trim()).filter((s) => s)
      : [trimmed];
  if (columns.length === 0) throw new InputError(
    "--target",
    `expected a column or mean:<col>,<col>…, got ${showValue(spec)}`,
  );
  const dup = columns.find((c, i) => columns.indexOf(c) !== i);
  if (weights && dup !== undefined) throw new InputError(
    "--target",
    `expected each column once in wmean:, got ${showValue(dup)} twice`,
  );
  const missing = columns.filter((c) => !frame.cells.has(c));
  if (missing.length) {
    const candidates = frame.columns.filter((c) => !table.weightColumns.includes(c) && c !== "run_id");
    throw new InputError(
      "--target",
      `expected ${missing.length === 1 ? "a column" : "columns"} ${missing.map((m) => showValue(m)).join(", ")} ` +
        `in ${frame.source}, got no such column; ` +
        `columns there: ${candidates.slice(0, 10).join(", ")}${candidates.length > 10 ? ", …" : ""}`,
    );
  }
  const issues: InputIssue[] = [];
  const components = columns.map((c) => {
    const cells = frame.cells.get(c)!;
    const text = frame.text?.get(c);
    const out = new Float64Array(table.numRuns);
    for (let i = 0; i < table.numRuns; i++) {
      const v = cells[i]!;
      if (typeof v === "number" && Number.isFinite(v)) out[i] = v;
      else if ((v === null || (typeof v === "number" && Number.isNaN(v))) && options.allowMissing) out[i] = NaN;
      else {
        const shown = text?.[i] ?? v;
        issues.push({
          path: `${rowLabel(frame, i)}, column ${showValue(c)}`,
          message:
            "expected a finite number (the target), " +
            `got ${shown === null || shown === "" ? "an empty cell (a run with no result yet?)" : showValue(shown)}`,
        });
      }
    }
    return out;
  });
  if (issues.length) throw new InputError(frame.source, issues);
  const values = new Float64Array(table.numRuns);
  for (let i = 0; i < table.numRuns; i++) {
    let s = 0;
    components.forEach((comp, c) => (s += weights ? weights[c]! * comp[i]! : comp[i]! / components.length));
    values[i] = s;
  }
  return { spec: trimmed, columns, values, components, ...(weights ? { weights } : {}) };
}

/** Row i's proportions as a fresh vector. */
export function runWeights(table: RunsTable, i: number): Float64Array {
  const k = table.domains.length;
  return table.weights.slice(i * k, (i + 1) * k);
}

/**
 * Builds a frame in mixlab's own layout from mixtures: `w.<domain>` columns, then any extra
 * columns given (each an array of cells, one per row).
 */
export function mixturesFrame(
  source: string,
  domains: readonly string[],
  weights: Float64Array,
  extra: ReadonlyArray<readonly [string, Cell[]]> = [],
): Frame {
  const k = domains.length;
  const n = weights.length / k;
  const columns: string[] = [];
  const cells = new Map<string, Cell[]>();
  for (const [name, values] of extra.filter(([c]) => c === "run_id")) {
    columns.push(name);
    cells.set(name, values);
  }
  domains.forEach((d, j) => {
    const name = `w.${d}`;
    columns.push(name);
    const col: Cell[] = new Array(n);
    for (let i = 0; i < n; i++) col[i] = weights[i * k + j]!;
    cells.set(name, col);
  });
  for (const [name, values] of extra.filter(([c]) => c !== "run_id")) {
    columns.push(name);
    cells.set(name, values);
  }
  return { source, columns, cells, numRows: n };
}
