// bench/report.ts — `mixlab report` on RegMix's 512 released runs (regmix, 5-fold cross-validation,
// the capped recommendation of tests/report/fixtures/regmix-capped.json): wall and CPU time, file
// size, and the ratio to a baseline measured in the same run — the fit and cross-validation alone
// (what any report of this table must compute), so the ratio is the cost of the plots and the page.
// Prints against the targets (10 s on 2 cores, 2 MB). Run: npm run bench:report

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { readFrame } from "../src/runs/frame.js";
import { buildRunsTable, joinFrames, resolveTarget } from "../src/runs/table.js";
import { crossValidate, fitInputOf } from "../src/fit.js";
import { laws } from "../mixers/index.js";
import { createRng } from "../src/rng/index.js";
import { buildReport, reportHtml, parseReportProportions } from "../src/report/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const D = join(ROOT, "datasets", "regmix");
const TARGET_S = 10;
const TARGET_MB = 2;

const clock = () => ({
  wall: performance.now() / 1000,
  cpu: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
});
const since = (t: { wall: number; cpu: number }) => {
  const n = clock();
  return { wall: n.wall - t.wall, cpu: n.cpu - t.cpu };
};

async function main(): Promise<void> {
  const t0 = clock();
  const table = buildRunsTable(
    joinFrames(readFrame(join(D, "train_mixture_1m.csv")), readFrame(join(D, "train_pile_loss_1m.csv")), "index"),
    {
      weightsPrefix: "train_the_pile_",
      lossPattern: "metric/the_pile_{domain}_val_loss",
    },
  );
  const proportions = parseReportProportions(
    readFileSync(join(ROOT, "tests", "report", "fixtures", "regmix-capped.json"), "utf8"),
    "regmix-capped.json",
  );
  const read = since(t0);

  // Baseline: fit + 5-fold cross-validation, nothing drawn.
  const t1 = clock();
  const target = resolveTarget(table, "loss.pile_cc");
  const input = fitInputOf(table, target, {});
  const options = laws.regmix!.parseOptions({});
  laws.regmix!.fit(input, options, createRng(0).derive("fit"));
  crossValidate("regmix", input, options, 5, createRng(0).derive("cv"), new Float64Array(table.numRuns));
  const base = since(t1);

  const t2 = clock();
  const report = await buildReport({ table, proportions, methods: ["regmix"] });
  const html = reportHtml(report);
  const full = since(t2);
  const mb = Buffer.byteLength(html) / 1e6;

  console.log(
    `mixlab report, 512 RegMix runs × 17 domains, regmix + 5-fold CV,` +
      ` ${report.sections.reduce((a, s) => a + s.figures.length, 0)} plots`,
  );
  console.log(`  read tables:                  ${read.wall.toFixed(2)} s`);
  console.log(`  baseline fit + CV (no plots): ${base.wall.toFixed(2)} s wall, ${base.cpu.toFixed(2)} s CPU`);
  console.log(
    `  report (fit + CV + plots):    ${full.wall.toFixed(2)} s wall, ${full.cpu.toFixed(2)} s CPU` +
      ` (fit ${report.seconds.fit.toFixed(2)} s, plots ${report.seconds.render.toFixed(2)} s)`,
  );
  console.log(
    `  ratio report / baseline:      ${(full.wall / base.wall).toFixed(2)}× wall,` +
      ` ${(full.cpu / base.cpu).toFixed(2)}× CPU`,
  );
  console.log(
    `  total with reading:           ${(read.wall + full.wall).toFixed(2)} s` +
      ` (target < ${TARGET_S} s: ${read.wall + full.wall < TARGET_S ? "met" : "MISSED"})`,
  );
  console.log(
    `  machine: ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}` +
      ` (wall ≈ CPU on an idle machine: the report is single-threaded)`,
  );
  console.log(
    `  file:                         ${mb.toFixed(2)} MB` +
      ` (target < ${TARGET_MB} MB: ${mb < TARGET_MB ? "met" : "MISSED"})`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
