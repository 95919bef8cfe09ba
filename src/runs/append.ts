// Appending rows to the bytes of a table file without changing a cell already there. CSV and
// JSONL keep the old bytes and add lines after them (a CSV that gains a column is rewritten with
// every old cell's text unchanged); Arrow and Parquet are rewritten with each existing column's
// own type and values, so what a user wrote reads back exactly. Pure: bytes in, bytes out.

import { tableFromIPC, tableToIPC, Table, vectorFromArray, Float64, Utf8, DataType, type Vector } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import type { BasicType } from "hyparquet-writer";
import { InputError, showValue, UnsupportedError } from "../errors.js";
import { formatCsv, formatCsvRow, parseCsv } from "./csv.js";
import { formatCell, parseFrame, TEXT_COLUMNS, type Cell, type TableFormat } from "./frame.js";

/** Rows to append: each maps column names to cells; a column missing from a row is an empty cell. */
export interface AppendOptions {
  /** The file, for error messages. */
  readonly source: string;
  readonly format: TableFormat;
  readonly rows: readonly ReadonlyMap<string, Cell>[];
  /** Columns created as text even when every new cell is empty or a number (default: run_id). */
  readonly textColumns?: ReadonlySet<string>;
}

/** Columns of the rows in first-seen order. */
function rowColumns(rows: readonly ReadonlyMap<string, Cell>[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) for (const c of r.keys()) if (!seen.has(c)) (seen.add(c), out.push(c));
  return out;
}

/**
 * The bytes of a table file with `rows` appended; `old` null or empty starts a new table.
 * @throws InputError when the existing file does not parse, or a new cell does not fit its column's type
 * @throws UnsupportedError for Arrow or Parquet columns of a type mixlab cannot rewrite exactly (nested, temporal…)
 */
export async function appendToTableBytes(old: Uint8Array | null, o: AppendOptions): Promise<Uint8Array> {
  const empty = old === null || old.byteLength === 0;
  switch (o.format) {
    case "csv":
      return empty ? newCsv(o) : appendCsv(old, o);
    case "jsonl":
      return appendJsonl(empty ? new Uint8Array(0) : old, o);
    case "arrow":
      return appendArrow(empty ? null : old, o);
    case "parquet":
      return appendParquet(empty ? null : old, o);
  }
}

/** Each row's cells in `columns` order, as CSV text. */
function csvCells(o: AppendOptions, columns: readonly string[]): string[][] {
  return o.rows.map((r) => columns.map((c) => formatCell(r.get(c) ?? null)));
}

function newCsv(o: AppendOptions): Uint8Array {
  const columns = rowColumns(o.rows);
  return Buffer.from(formatCsv(columns, csvCells(o, columns)));
}

function appendCsv(old: Uint8Array, o: AppendOptions): Uint8Array {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(old);
  const { header, rows } = parseCsv(text, o.source);
  const added = rowColumns(o.rows).filter((c) => !header.includes(c));
  if (added.length > 0) {
    // A new column: the header changes, so the file is rewritten; every old cell keeps its text.
    const cols = [...header, ...added];
    const oldRows = rows.map((r) => [...r, ...added.map(() => "")]);
    return Buffer.from(formatCsv(cols, [...oldRows, ...csvCells(o, cols)]));
  }
  const eol = /\r\n/.test(text.slice(0, text.search(/\n|$/) + 1)) ? "\r\n" : "\n";
  const body = csvCells(o, header).map((r) => formatCsvRow(r) + eol).join("");
  const sep = text.endsWith("\n") || text.endsWith("\r") ? "" : eol;
  return Buffer.concat([old, Buffer.from(sep + body)]);
}

function appendJsonl(old: Uint8Array, o: AppendOptions): Uint8Array {
  if (old.byteLength > 0) parseFrame(old, "jsonl", o.source); // the old lines must parse
  const lines = o.rows.map((r) => {
    const obj: Record<string, Cell> = {};
    for (const [c, v] of r) obj[c] = typeof v === "number" && !Number.isFinite(v) ? null : v;
    return `${JSON.stringify(obj)}\n`;
  });
  const last = old.byteLength > 0 ? old[old.byteLength - 1] : 10;
  return Buffer.concat([old, Buffer.from((last === 10 ? "" : "\n") + lines.join(""))]);
}

/** The type a new column gets: text when named so or when any new cell is a string, else float64. */
function newColumnIsText(name: string, values: readonly Cell[], o: AppendOptions): boolean {
  const named = (o.textColumns ?? TEXT_COLUMNS).has(name) || TEXT_COLUMNS.has(name);
  return named || values.some((v) => typeof v === "string");
}

/** A new cell converted to an existing column's kind, or an InputError naming the column. */
type Kind = "text" | "float" | "int32" | "int64" | "bool";

function convert(v: Cell, kind: Kind, column: string, o: AppendOptions): unknown {
  if (v === null) return null;
  if (kind === "text") return typeof v === "number" ? formatCell(v) : v;
  const bad = (what: string, got: string): never => {
    throw new InputError(o.source, `column ${showValue(column)}: expected ${what}, got ${got} in a new row`);
  };
  if (typeof v !== "number") return bad("a number (the column's type in the file)", showValue(v));
  if (kind === "float") return v;
  if (kind === "bool") return v === 0 || v === 1 ? v === 1 : bad("0 or 1 (a boolean column)", String(v));
  if (!Number.isInteger(v)) return bad("an integer (the column's type in the file)", String(v));
  return kind === "int64" ? BigInt(v) : v;
}

function cannotRewrite(o: AppendOptions, column: string, type: string): UnsupportedError {
  return new UnsupportedError(
    `${o.source}: column ${showValue(column)} has ${type}, which mixlab cannot append to exactly; ` +
      "keep runs in CSV or JSONL, or drop the column",
  );
}

function arrowKind(t: DataType): Kind | null {
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t)) return "text";
  if (DataType.isFloat(t)) return "float";
  if (DataType.isBool(t)) return "bool";
  if (DataType.isInt(t)) return t.bitWidth === 64 ? "int64" : "int32";
  return null;
}

function appendArrow(old: Uint8Array | null, o: AppendOptions): Uint8Array {
  let table: Table | null = null;
  if (old) {
    try {
      table = tableFromIPC(old);
    } catch (e) {
      throw new InputError(o.source, `expected an Arrow IPC file, got unreadable content (${(e as Error).message})`);
    }
  }
  const oldRows = table?.numRows ?? 0;
  const oldCols = table ? table.schema.fields.map((f) => f.name) : [];
  const columns = [...oldCols, ...rowColumns(o.rows).filter((c) => !oldCols.includes(c))];
  const vectors: Record<string, Vector> = {};
  for (const c of columns) {
    const values = o.rows.map((r) => r.get(c) ?? null);
    const existing = table?.getChild(c) ?? null;
    if (existing) {
      const kind = arrowKind(existing.type);
      if (kind === null) throw cannotRewrite(o, c, `Arrow type ${String(existing.type)}`);
      // One contiguous vector of the column's own type (chunks would pile up, one per append).
      const all = [...(Array.from(existing) as unknown[]), ...values.map((v) => convert(v, kind, c, o))];
      vectors[c] = vectorFromArray(all, existing.type) as Vector;
    } else {
      const type = newColumnIsText(c, values, o) ? new Utf8() : new Float64();
      const kind = type instanceof Utf8 ? "text" : "float";
      const all = [...new Array<null>(oldRows).fill(null), ...values.map((v) => convert(v, kind, c, o))];
      vectors[c] = vectorFromArray(all, type) as Vector;
    }
  }
  return tableToIPC(new Table(vectors), "file");
}

const PARQUET_KIND: Partial<Record<BasicType, Kind>> = {
  STRING: "text",
  INT64: "int64",
  INT32: "int32",
  BOOLEAN: "bool",
};

async function appendParquet(old: Uint8Array | null, o: AppendOptions): Promise<Uint8Array> {
  const columnData: { name: string; data: unknown[]; type: BasicType; nullable: boolean }[] = [];
  let oldRows = 0;
  if (old) {
    const ab = old.buffer.slice(old.byteOffset, old.byteOffset + old.byteLength) as ArrayBuffer;
    const { parquetMetadata, parquetSchema, parquetReadObjects } = await import("hyparquet");
    let rows: Record<string, unknown>[];
    let fields: { name: string; type: BasicType | null; detail: string }[];
    try {
      const schema = parquetSchema(parquetMetadata(ab));
      fields = schema.children.map((ch) => {
        const e = ch.element;
        const detail = [e.type ?? "group", e.converted_type, e.logical_type?.type].filter((x) => x).join("/");
        if (ch.children.length > 0) return { name: e.name, type: null, detail };
        const logical = e.logical_type?.type;
        const plain = e.converted_type === undefined && logical === undefined;
        const text = e.converted_type === "UTF8" || logical === "STRING";
        const numeric = e.type === "DOUBLE" || e.type === "FLOAT" || e.type === "INT32" || e.type === "INT64";
        const flat = plain && (numeric || e.type === "BOOLEAN") ? (e.type as BasicType) : null;
        const type: BasicType | null = e.type === "BYTE_ARRAY" && text ? "STRING" : flat;
        return { name: e.name, type, detail };
      });
      rows = (await parquetReadObjects({ file: ab })) as Record<string, unknown>[];
    } catch (e) {
      throw new InputError(o.source, `expected a Parquet file, got unreadable content (${(e as Error).message})`);
    }
    oldRows = rows.length;
    for (const f of fields) {
      if (f.type === null) throw cannotRewrite(o, f.name, `Parquet type ${f.detail}`);
      const kind = PARQUET_KIND[f.type] ?? "float";
      const fresh = o.rows.map((r) => convert(r.get(f.name) ?? null, kind, f.name, o));
      const data = [...rows.map((r) => r[f.name] ?? null), ...fresh];
      columnData.push({ name: f.name, data, type: f.type, nullable: true });
    }
  }
  for (const c of rowColumns(o.rows)) {
    if (columnData.some((d) => d.name === c)) continue;
    const values = o.rows.map((r) => r.get(c) ?? null);
    const text = newColumnIsText(c, values, o);
    const fresh = values.map((v) => convert(v, text ? "text" : "float", c, o));
    const data = [...new Array<null>(oldRows).fill(null), ...fresh];
    columnData.push({ name: c, data, type: text ? "STRING" : "DOUBLE", nullable: true });
  }
  type Columns = Parameters<typeof parquetWriteBuffer>[0]["columnData"];
  return new Uint8Array(parquetWriteBuffer({ columnData: columnData as Columns }));
}
