// Output helpers: results to stdout or -o (atomically), logs to stderr, aligned tables.

import { writeOutputFile } from "../io/output.js";

/** Writes a result to a file (atomically, signals held off) or to stdout. */
export function writeResult(text: string | Uint8Array, out: string | undefined): void {
  if (out) writeOutputFile(out, text);
  else process.stdout.write(text);
}

/** A line on stderr. */
export function log(line = ""): void {
  process.stderr.write(`${line}\n`);
}

/** Formats rows as an aligned text table (first column left, others right-aligned). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const fmt = (r: string[]): string =>
    r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  ");
  return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(fmt)].join("\n");
}

/** A number with 4 significant decimals for tables. */
export function f4(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}

/**
 * Ends the process `ms` after a command has finished if something still keeps it alive: a library timer that
 * cannot be cancelled, such as BullMQ's 5 s wait after a lost connection. The timer is unref'd, so a process
 * with nothing left to do exits as usual; either way the exit code is the command's.
 */
export function exitSoonAfterward(ms = 1_000): void {
  setTimeout(() => process.exit(), ms).unref();
}
