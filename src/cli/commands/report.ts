// `mixlab report RUNS`: one self-contained HTML page with the runs, fit quality, the
// recommendation, the law's response, the per-domain matrix and an online run's trajectory.
// Inputs and the output folder are checked before any fit starts.

import type { Command } from "commander";
import { readFileSync } from "node:fs";
import {
  addRunsFlags,
  loadRuns,
  seedFlag,
  domainMapFlag,
  jsonObjectFlag,
  listFlag,
  nonNegativeInt,
  type RunsFlags,
} from "../flags.js";
import { laws } from "../../../mixers/index.js";
import { InputError } from "../../errors.js";
import { buildReport, reportHtml, parseReportProportions, parseSavedLaw } from "../../report/index.js";
import { checkOutputPaths, writeOutputFile } from "../../io/output.js";
import { log } from "../output.js";

interface ReportFlags extends RunsFlags {
  target?: string;
  method?: string[];
  law?: string;
  proportions?: string;
  out: string;
  options?: Record<string, unknown>;
  tokens?: Record<string, number>;
  seed: number;
  cvFolds: number;
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new InputError(flag, `expected a readable file, got ${JSON.stringify(path)} (${why})`);
  }
}

export function reportCommand(program: Command): void {
  const cmd = program
    .command("report")
    .argument("<runs>", "runs table (.csv, .jsonl, .arrow, .parquet)")
    .summary(
      "write one self-contained HTML page of plots: runs, fit quality, recommendation, response, matrix, online run",
    )
    .description(
      "Fit (or load) a law on a runs table and write one offline HTML file: every style and figure inside, " +
        "no script, no network request when opened.",
    )
    .option(
      "-t, --target <spec>",
      "a numeric column (loss.web) or mean:loss.a,loss.b (default: the proportions' target, else loss.mean, " +
        "else the mean of the loss.* columns)",
    )
    .option(
      "-m, --method <names>",
      `laws to fit and compare, comma-separated, the first one recommends: ${Object.keys(laws).join(", ")} ` +
        "(default: the proportions' method, else regmix)",
      listFlag,
    )
    .option("--law <file>", "a law saved by `mixlab fit --save-model`, used instead of fitting")
    .option(
      "--proportions <file>",
      "a proportions JSON (mixlab fit, mixlab demo, mixlab train --online): " +
        "recommendation, constraints, diagnostics, online trajectory",
    )
    .option("-o, --out <file>", "the HTML file to write", "report.html")
    .option("--options <json>", "options of the (single) --method as a JSON object", jsonObjectFlag)
    .option(
      "--tokens <map>",
      "tokens available per domain, for the natural mixture (default: the proportions' constraints)",
      domainMapFlag,
    )
    .option("--seed <n>", "seed of the fits and the cross-validation", seedFlag, 0)
    .option("--cv-folds <k>", "folds of the cross-validation (0 to skip)", nonNegativeInt, 5);
  addRunsFlags(cmd);
  cmd.addHelpText(
    "after",
    "\nExamples:\n" +
      "  $ mixlab report mixlab-demo/runs.arrow --proportions mixlab-demo/proportions.json -o report.html\n" +
      "  $ mixlab report runs.csv --method regmix,dml,loglinear --target loss.web",
  );
  cmd.action(async (runs: string, f: ReportFlags) => {
    const t0 = performance.now();
    if (f.law && f.method) throw new InputError("--law", "expected either --law or --method, got both");
    const numMethods = f.method?.length ?? 0;
    if (f.options && numMethods !== 1) throw new InputError(
      "--options",
      `expected exactly one --method to apply them to, got ${numMethods}`,
    );
    for (const m of f.method ?? []) {
      if (!laws[m]) throw new InputError(
        "--method",
        `expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(m)}`,
      );
    }
    // The page must not land on an input (report runs.csv -o runs.csv) or where it cannot be written.
    checkOutputPaths([["--out", f.out]], [runs, f.losses, f.law, f.proportions]);
    const law = f.law ? parseSavedLaw(readText(f.law, "--law"), f.law) : undefined;
    const proportions = f.proportions
      ? parseReportProportions(readText(f.proportions, "--proportions"), f.proportions)
      : undefined;
    const { table } = await loadRuns(runs, f);
    const report = await buildReport({
      table,
      runsName: runs,
      seed: f.seed,
      cvFolds: f.cvFolds,
      ...(f.target ? { target: f.target } : {}),
      ...(f.method ? { methods: f.method } : {}),
      ...(f.options ? { optionsByMethod: { [f.method![0]!]: f.options } } : {}),
      ...(law ? { law } : {}),
      ...(proportions ? { proportions, proportionsName: f.proportions! } : {}),
      ...(f.tokens ? { tokensPerDomain: f.tokens } : {}),
    });
    const html = reportHtml(report);
    writeOutputFile(f.out, html);
    const plots = report.sections.reduce((a, s) => a + s.figures.length, 0);
    const mb = (Buffer.byteLength(html) / 1e6).toFixed(2);
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    const parts = `fit ${report.seconds.fit.toFixed(1)} s, plots ${report.seconds.render.toFixed(1)} s`;
    log(`report: ${report.sections.length} sections, ${plots} plots, ${mb} MB in ${seconds} s (${parts}) → ${f.out}`);
  });
}
