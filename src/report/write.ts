// One call from files to a written report, for commands that finish with a runs table and a
// proportions file (`mixlab demo`): reads both, builds the report, writes the HTML atomically.

import { readFileSync } from "node:fs";
import { readFrameAsync } from "../runs/frame.js";
import { buildRunsTable } from "../runs/table.js";
import { writeFileAtomic } from "../io/atomic.js";
import { buildReport, type ReportOptions } from "./build.js";
import { reportHtml } from "./html.js";
import { parseReportProportions } from "./inputs.js";

/** Files in and out, and the report's other options. */
export type ReportFileOptions = { runs: string; proportions?: string; out: string } & Omit<
  ReportOptions,
  "table" | "proportions" | "runsName" | "proportionsName"
>;

/**
 * Reads a runs table in mixlab's own layout (and a proportions file), writes the report.
 * @param o.runs runs table path; o.proportions proportions JSON path; o.out the HTML path
 * @returns the number of bytes written
 * @throws InputError for unreadable or invalid inputs (see buildReport)
 */
export async function writeReportFile(o: ReportFileOptions): Promise<number> {
  const { runs, proportions, out, ...rest } = o;
  const table = buildRunsTable(await readFrameAsync(runs));
  const props = proportions ? parseReportProportions(readFileSync(proportions, "utf8"), proportions) : undefined;
  const named = props ? { proportions: props, proportionsName: proportions! } : {};
  const html = reportHtml(await buildReport({ ...rest, table, runsName: runs, ...named }));
  writeFileAtomic(out, html);
  return Buffer.byteLength(html);
}
