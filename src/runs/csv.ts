// RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF line ends, a header row. Cells stay
// strings here; typing happens in frame.ts so that error messages can quote the original text.

import { InputError, type InputIssue } from "../errors.js";

/** A parsed CSV: header and rows of raw cell text (1-based data row r is rows[r − 1]). */
export interface CsvData {
  readonly header: string[];
  readonly rows: string[][];
}

/**
 * Parses CSV text. Every row must have as many cells as the header; all ragged rows are listed
 * in one InputError.
 * @param source the file name used in error messages
 */
export function parseCsv(text: string, source: string): CsvData {
  const records: string[][] = [];
  const lineOfRecord: number[] = [];
  let field = "";
  let record: string[] = [];
  let inQuotes = false;
  let line = 1;
  let recordLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // skip a UTF-8 BOM
  const n = text.length;
  for (; i < n; i++) {
    const ch = text[i]!;
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field.length === 0) inQuotes = true;
    else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      field = "";
      if (!(record.length === 1 && record[0] === "")) {
        records.push(record);
        lineOfRecord.push(recordLine);
      }
      record = [];
      line++;
      recordLine = line;
    } else field += ch;
  }
  if (inQuotes) throw new InputError(source, [
    { path: `line ${recordLine}`, message: "expected a closing quote, got the end of the file" },
  ]);
  if (field.length > 0 || record.length > 0) {
    record.push(field);
    records.push(record);
    lineOfRecord.push(recordLine);
  }
  if (records.length === 0) throw new InputError(source, "expected a header row, got an empty file");
  const header = records[0]!.map((h) => h.trim());
  const issues: InputIssue[] = [];
  const seen = new Set<string>();
  header.forEach((h, j) => {
    if (h === "") issues.push({
      path: `header, column ${j + 1}`,
      message: "expected a column name, got an empty cell",
    });
    else if (seen.has(h)) issues.push({
      path: `header, column ${j + 1}`,
      message: `expected unique column names, got ${JSON.stringify(h)} twice`,
    });
    seen.add(h);
  });
  const rows = records.slice(1);
  rows.forEach((r, k) => {
    if (r.length !== header.length) {
      issues.push({
        path: `row ${k + 1} (line ${lineOfRecord[k + 1]})`,
        message: `expected ${header.length} cells, got ${r.length}`,
      });
    }
  });
  if (issues.length > 0) throw new InputError(source, issues);
  return { header, rows };
}

/** Quotes a cell when it holds a comma, quote or line break. */
function quote(cell: string): string {
  return /[",\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** One CSV record (no line end): cells quoted where needed, joined by commas. */
export function formatCsvRow(cells: readonly string[]): string {
  return cells.map(quote).join(",");
}

/** Serialises a header and rows as CSV with LF line ends and a final newline. */
export function formatCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const out: string[] = [header.map(quote).join(",")];
  for (const r of rows) out.push(r.map(quote).join(","));
  return `${out.join("\n")}\n`;
}
