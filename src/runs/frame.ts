// A Frame is an untyped table read from CSV, JSONL, Arrow IPC or Parquet (chosen by extension):
// named columns of cells, each a finite or non-finite number, a string, or null (empty). The runs
// table (table.ts) is built and validated on top of it. A CSV frame keeps every cell's text as
// written, and writing a frame as CSV writes that text back, so user cells (`007`, `1e3`,
// `12345678901234567890`) survive byte for byte; run ids are text in every format.

import { writeFileAtomic } from "../io/atomic.js";
import { readInputFile } from "../io/read.js";
import { extname } from "node:path";
import { tableFromIPC, tableToIPC, Table, vectorFromArray, Float64, Utf8, type Vector } from "apache-arrow";
import { parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { InputError, showValue, UnsupportedError } from "../errors.js";
import { formatCsv, parseCsv } from "./csv.js";

/** One cell: a number, a string, or null for an empty cell. */
export type Cell = number | string | null;

/** A table of named columns; every column has `numRows` cells. */
export interface Frame {
  /** Where it came from, for error messages (a file name). */
  readonly source: string;
  /** Column names in file order. */
  readonly columns: string[];
  /** Cells per column. */
  readonly cells: Map<string, Cell[]>;
  readonly numRows: number;
  /** CSV only: each cell exactly as written (unquoted, untrimmed); written back verbatim as CSV. */
  readonly text?: Map<string, string[]>;
  /** Each row's 1-based data row in the file, when rows were left out (failed runs); default i + 1. */
  readonly rowNumbers?: number[];
}

/** File formats mixlab reads and writes. */
export type TableFormat = "csv" | "jsonl" | "arrow" | "parquet";

/**
 * The format of a path by its extension (`.csv`, `.jsonl`/`.ndjson`, `.arrow`/`.feather`/
 * `.ipc`, `.parquet`).
 * @throws InputError for any other extension
 */
export function formatOf(path: string, flag = "file"): TableFormat {
  const ext = extname(path).toLowerCase();
  switch (ext) {
    case ".csv":
      return "csv";
    case ".jsonl":
    case ".ndjson":
      return "jsonl";
    case ".arrow":
    case ".feather":
    case ".ipc":
      return "arrow";
    case ".parquet":
      return "parquet";
    default:
      throw new InputError(
        flag === "file" ? path : flag,
        `expected a file ending in .csv, .jsonl, .arrow or .parquet, got ${showValue(ext || path)}`,
      );
  }
}

/** Columns that are text in every format, even when a cell looks like a number (`007`, `1e3`). */
export const TEXT_COLUMNS: ReadonlySet<string> = new Set(["run_id"]);

/** Parses a CSV cell: empty → null, a number → number, else the string. */
function csvCell(raw: string): Cell {
  const t = raw.trim();
  if (t === "") return null;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^nan$/i.test(t)) return NaN;
  return raw;
}

/** Reads a table from a file, by extension. @throws InputError naming the file and the problem */
export function readFrame(path: string): Frame {
  const format = formatOf(path);
  const buf = readInputFile(path);
  return parseFrame(buf, format, path);
}

/** Parses a table from bytes in the given format. */
export function parseFrame(buf: Uint8Array, format: TableFormat, source: string): Frame {
  switch (format) {
    case "csv":
      return frameFromCsv(new TextDecoder("utf-8", { fatal: false }).decode(buf), source);
    case "jsonl":
      return frameFromJsonl(new TextDecoder().decode(buf), source);
    case "arrow":
      return frameFromArrow(buf, source);
    case "parquet":
      throw new UnsupportedError("parseFrame: Parquet is read asynchronously; use readFrameAsync");
  }
}

/** Reads any supported format, Parquet included. */
export async function readFrameAsync(path: string): Promise<Frame> {
  if (formatOf(path) !== "parquet") return readFrame(path);
  const buf = readInputFile(path);
  let rows: Record<string, unknown>[];
  let columns: string[];
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    const { parquetMetadata, parquetSchema } = await import("hyparquet");
    const meta = parquetMetadata(ab);
    columns = parquetSchema(meta).children.map((c) => c.element.name);
    rows = (await parquetReadObjects({ file: ab })) as Record<string, unknown>[];
  } catch (e) {
    throw new InputError(path, `expected a Parquet file, got unreadable content (${(e as Error).message})`);
  }
  const cells = new Map<string, Cell[]>();
  for (const c of columns) cells.set(c, rows.map((r) => toCell(r[c], c)));
  return { source: path, columns, cells, numRows: rows.length };
}

/** A value read from JSONL, Arrow or Parquet as a cell; ids stay text, big integers keep every digit as text. */
function toCell(v: unknown, column: string): Cell {
  if (v === null || v === undefined) return null;
  if (TEXT_COLUMNS.has(column) && (typeof v === "number" || typeof v === "bigint")) return String(v);
  if (typeof v === "number" || typeof v === "string") return v;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  return JSON.stringify(v);
}

function frameFromCsv(text: string, source: string): Frame {
  const { header, rows } = parseCsv(text, source);
  const cells = new Map<string, Cell[]>();
  const raw = new Map<string, string[]>();
  header.forEach((h, j) => {
    const asText = TEXT_COLUMNS.has(h);
    cells.set(h, rows.map((r) => (asText ? (r[j]! === "" ? null : r[j]!) : csvCell(r[j]!))));
    raw.set(h, rows.map((r) => r[j]!));
  });
  return { source, columns: header, cells, numRows: rows.length, text: raw };
}

function frameFromJsonl(text: string, source: string): Frame {
  const columns: string[] = [];
  const seen = new Set<string>();
  const objects: Record<string, unknown>[] = [];
  const lines = text.split("\n");
  const issues: { path: string; message: string }[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      issues.push({
        path: `line ${i + 1}`,
        message: `expected a JSON object, got invalid JSON (${(e as Error).message})`,
      });
      return;
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      issues.push({ path: `line ${i + 1}`, message: `expected a JSON object, got ${showValue(obj)}` });
      return;
    }
    for (const k of Object.keys(obj)) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
    }
    objects.push(obj as Record<string, unknown>);
  });
  if (issues.length > 0) throw new InputError(source, issues);
  const cells = new Map<string, Cell[]>();
  for (const c of columns) cells.set(c, objects.map((o) => toCell(o[c], c)));
  return { source, columns, cells, numRows: objects.length };
}

function frameFromArrow(buf: Uint8Array, source: string): Frame {
  let table: Table;
  try {
    table = tableFromIPC(buf);
  } catch (e) {
    throw new InputError(source, `expected an Arrow IPC file, got unreadable content (${(e as Error).message})`);
  }
  const columns = table.schema.fields.map((f) => f.name);
  const cells = new Map<string, Cell[]>();
  for (const c of columns) {
    const vec = table.getChild(c)!;
    const out: Cell[] = new Array(table.numRows);
    for (let i = 0; i < table.numRows; i++) out[i] = toCell(vec.get(i), c);
    cells.set(c, out);
  }
  return { source, columns, cells, numRows: table.numRows };
}

/** True when every non-null cell of the column is a number. */
function isNumericColumn(values: readonly Cell[]): boolean {
  return values.every((v) => v === null || typeof v === "number");
}

/** Serialises a frame in the given format. */
export async function serializeFrame(frame: Frame, format: TableFormat): Promise<Uint8Array> {
  const { columns, numRows } = frame;
  const cells = format === "csv" || !frame.text ? frame.cells : exactCells(frame);
  switch (format) {
    case "csv": {
      // A cell read from CSV is written back as it was written; other cells in their shortest exact form.
      const texts = columns.map((c) => frame.text?.get(c));
      const rows: string[][] = [];
      for (let i = 0; i < numRows; i++)
        rows.push(columns.map((c, j) => texts[j]?.[i] ?? formatCell(cells.get(c)![i]!)));
      return Buffer.from(formatCsv(columns, rows));
    }
    case "jsonl": {
      const lines: string[] = [];
      for (let i = 0; i < numRows; i++) {
        const o: Record<string, Cell> = {};
        for (const c of columns) {
          const v = cells.get(c)![i]!;
          o[c] = typeof v === "number" && !Number.isFinite(v) ? null : v;
        }
        lines.push(JSON.stringify(o));
      }
      return Buffer.from(lines.length ? `${lines.join("\n")}\n` : "");
    }
    case "arrow": {
      const vectors: Record<string, Vector> = {};
      for (const c of columns) {
        const v = cells.get(c)!;
        vectors[c] = isNumericColumn(v)
          ? vectorFromArray(v as (number | null)[], new Float64())
          : vectorFromArray(v.map((x) => (x === null ? null : String(x))), new Utf8());
      }
      return tableToIPC(new Table(vectors), "file");
    }
    case "parquet": {
      const columnData = columns.map((c) => {
        const v = cells.get(c)!;
        return isNumericColumn(v)
          ? { name: c, data: v as (number | null)[], type: "DOUBLE" as const }
          : { name: c, data: v.map((x) => (x === null ? null : String(x))), type: "STRING" as const };
      });
      return new Uint8Array(parquetWriteBuffer({ columnData }));
    }
  }
}

/** Writes a frame to a path (format by extension), atomically (temporary file + rename). */
export async function writeFrame(frame: Frame, path: string): Promise<void> {
  writeFileAtomic(path, await serializeFrame(frame, formatOf(path)));
}

/**
 * The cells of a CSV frame for a typed format: a numeric cell whose text a number cannot hold
 * exactly (`007`, `12345678901234567890`, `+5`) stays the text, so no digit is lost.
 */
function exactCells(frame: Frame): Map<string, Cell[]> {
  const out = new Map<string, Cell[]>();
  for (const c of frame.columns) {
    const col = frame.cells.get(c)!;
    const text = frame.text!.get(c);
    out.set(c, text ? col.map((v, i) => (typeof v === "number" && !numberHoldsText(v, text[i]!) ? text[i]! : v)) : col);
  }
  return out;
}

/** True when the number is the cell's text exactly: the same digits and no sign or zero padding. */
function numberHoldsText(v: number, text: string): boolean {
  const t = text.trim();
  if (!Number.isFinite(v)) return true;
  const m = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return false;
  const digits = `${m[2]}${m[3] ?? ""}`.replace(/^0+/, "").replace(/0+$/, "");
  const shortest = String(Math.abs(v)).replace(/e[+-]?\d+$/, "").replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
  return digits === shortest;
}

/** A cell as CSV text; numbers use the shortest representation that reads back exactly. */
export function formatCell(v: Cell): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v);
  return v;
}
