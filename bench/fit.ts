// bench/fit.ts — RegMix fit + recommendation over 1,000,000 candidates on the 512-run table.
// Prints wall time and peak memory, and ratios: against the target (4.5 s on 2 cores),
// against the Python reference pipeline (LightGBM fit, predict 1M, top-k: ~23 s on a 2-core
// machine of this kind, measured outside this repository), and against a baseline measured in
// the same run: the same fitted trees predicting every candidate (no early exit).
// Then `fit --method auto` against `fit --method regmix` on the same table (ratio printed).
// Run: npm run bench:fit   (not part of the test gate)

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { readFrame } from "../src/runs/frame.js";
import { buildRunsTable, joinFrames, resolveTarget } from "../src/runs/table.js";
import { regmix } from "../mixers/regmix/index.js";
import { predictGbdt, fitGbdt } from "../mixers/regmix/gbdt.js";
import { resolveConstraints } from "../src/core/constraints.js";
import { sampleDirichletMany } from "../src/core/dirichlet.js";
import { smallestK } from "../src/core/optimize.js";
import { createRng } from "../src/rng/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const D = join(ROOT, "datasets", "regmix");
const NUM_CANDIDATES = Number(process.env.MIXLAB_BENCH_CANDIDATES ?? 1_000_000);
const PYTHON_REFERENCE_S = 23;
const TARGET_S = 4.5;

const table = buildRunsTable(
  joinFrames(readFrame(join(D, "train_mixture_1m.csv")), readFrame(join(D, "train_pile_loss_1m.csv")), "index"),
  {
    weightsPrefix: "train_the_pile_",
    lossPattern: "metric/the_pile_{domain}_val_loss",
  },
);
const prior = JSON.parse(readFileSync(join(D, "token-prior.json"), "utf8")).domains as Record<string, number>;
const input = {
  domains: table.domains,
  weights: table.weights,
  target: resolveTarget(table, "loss.pile_cc").values,
  prior: Float64Array.from(table.domains.map((d) => prior[d]!)),
};

const now = () => performance.now() / 1000;
const t0 = now();
const law = regmix.fit(input, regmix.parseOptions({ numCandidates: NUM_CANDIDATES, topK: 128 }), createRng(0));
const t1 = now();
const rec = law.recommend(resolveConstraints(table.domains), createRng(0).derive("recommend"));
const t2 = now();
const total = t2 - t0;
const peakMb = process.resourceUsage().maxRSS / 1024;

// Same-run baseline: draw the same number of candidates and predict every one with the trees.
const k = table.domains.length;
const model = fitGbdt(input.weights, input.target, k, {}, createRng(0).derive("gbdt-early-stopping"));
const b0 = now();
const cands = sampleDirichletMany(input.prior, NUM_CANDIDATES, createRng(0).derive("baseline"));
const b1 = now();
const pred = predictGbdt(model, cands);
smallestK(pred, 128);
const b2 = now();
const baseline = (b1 - b0) + (b2 - b1) + (t1 - t0);

const pile = table.domains.indexOf("pile_cc");
console.log(
  `RegMix fit + recommend, ${table.numRuns} runs × ${k} domains,` +
    ` ${NUM_CANDIDATES.toLocaleString("en")} candidates, top 128`,
);
console.log(`  fit (GBDT, ${law.info.trees} trees)        ${(t1 - t0).toFixed(2)} s`);
console.log(`  recommend (draw + early-exit top-k)  ${(t2 - t1).toFixed(2)} s`);
console.log(`  total                                ${total.toFixed(2)} s   peak RSS ${peakMb.toFixed(0)} MB`);
console.log(
  `  recommended pile_cc share            ${rec.proportions[pile]!.toFixed(3)}` +
    `   predicted loss ${rec.predicted.toFixed(4)}`,
);
console.log(
  `baseline in this run (same trees, every candidate predicted): draw ${(b1 - b0).toFixed(2)} s` +
    ` + predict ${(b2 - b1).toFixed(2)} s + fit = ${baseline.toFixed(2)} s`,
);
console.log(
  `ratio total / baseline            ${(total / baseline).toFixed(3)}  (${(baseline / total).toFixed(1)}× faster)`,
);
console.log(
  `ratio total / target ${TARGET_S} s         ${(total / TARGET_S).toFixed(3)}` +
    `  (${total <= TARGET_S ? "meets" : "misses"} the target)`,
);
console.log(
  `ratio total / Python reference ${PYTHON_REFERENCE_S} s ${(total / PYTHON_REFERENCE_S).toFixed(3)}` +
    `  (${(PYTHON_REFERENCE_S / total).toFixed(1)}× faster)`,
);

// `fit --method auto` against `fit --method regmix`, the whole library call each (5-fold
// cross-validation, 8 bootstrap replicates, 1,000,000 candidates), alternating twice; wall and
// CPU seconds (the CPU ratio is the fair one on a shared machine).
const { fitRuns } = await import("../src/fit.js");
const priorMap = Object.fromEntries(table.domains.map((d, i) => [d, input.prior[i]!]));
const timeFit = (method: string) => {
  const w0 = now();
  const c0 = process.cpuUsage();
  const r = fitRuns({ table, target: "loss.pile_cc", method, prior: priorMap, seed: 0 });
  const c = process.cpuUsage(c0);
  return { wall: now() - w0, cpu: (c.user + c.system) / 1e6, chosen: r.selection?.chosen ?? method };
};
const runs = [timeFit("regmix"), timeFit("auto"), timeFit("regmix"), timeFit("auto")];
const med = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rm = { wall: med([runs[0]!.wall, runs[2]!.wall]), cpu: med([runs[0]!.cpu, runs[2]!.cpu]) };
const au = { wall: med([runs[1]!.wall, runs[3]!.wall]), cpu: med([runs[1]!.cpu, runs[3]!.cpu]) };
console.log(
  `fit --method regmix (CV + bootstrap + recommend)  wall ${rm.wall.toFixed(2)} s  cpu ${rm.cpu.toFixed(2)} s`,
);
console.log(`fit --method auto (chose ${runs[1]!.chosen})  wall ${au.wall.toFixed(2)} s  cpu ${au.cpu.toFixed(2)} s`);
console.log(
  `ratio auto / regmix: wall ${(au.wall / rm.wall).toFixed(2)}, cpu ${(au.cpu / rm.cpu).toFixed(2)}` +
    `  (${au.cpu / rm.cpu <= 4 ? "within" : "over"} the 4× budget)`,
);
