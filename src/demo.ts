// `mixlab demo`: the whole loop on the embedded corpus, in minutes on a laptop. Design a RegMix
// swarm around the natural token shares, train a tiny proxy on each mixture, cross-validate every
// law on the mean held-out loss and keep the one `fit --method auto` chooses, recommend, then
// train one more proxy on the recommendation, on the uniform and natural mixtures and (labelled as
// a comparison, not an answer) on the best law auto did not choose, and compare with the measures.

import { join } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import { createRng } from "./rng/index.js";
import { designSwarm, DirichletSwarmOptionsSchema } from "../mixers/dirichlet/index.js";
import { fitRuns } from "./fit.js";
import { buildRunsTable, mixturesFrame } from "./runs/table.js";
import type { Diagnostic } from "./core/diagnostics.js";
import { probeBackend, type BackendName } from "./proxy/backend.js";
import { PRESETS, parameterCount, type ProxyConfig } from "./proxy/model.js";
import { runSweep } from "./sweep/sweep.js";
import { readFrameAsync } from "./runs/frame.js";
import { cpus } from "node:os";
import { writeFileAtomic } from "./io/atomic.js";
import { PROPORTIONS_FORMAT } from "./export/proportions.js";
import { VERSION } from "./version.js";
import { InputError, FitError } from "./errors.js";
import { writeReportFile } from "./report/write.js";

/** Options of the demo. */
export interface DemoOptions {
  readonly out: string;
  readonly quick: boolean;
  readonly corpus: string;
  readonly seed: number;
  readonly backend: BackendName;
  readonly log: (line: string) => void;
}

/** One measured mixture of the demo. */
export interface DemoRow {
  readonly name: string;
  /** "answer": auto's recommendation; "baseline": uniform or natural; "comparison": a law auto did not choose. */
  readonly role: "answer" | "baseline" | "comparison";
  readonly proportions: Record<string, number>;
  /** The chosen law's prediction for it. */
  readonly predicted: number;
  readonly measured: number;
}

/** What the demo measured. */
export interface DemoResult {
  readonly rows: DemoRow[];
  /** The law (or ensemble) auto chose, and every candidate's cross-validated quality. */
  readonly chosen: string;
  readonly laws: { law: string; spearman: number; topDecileRegret: number; kept: boolean; chosen: boolean }[];
  readonly diagnostics: readonly Diagnostic[];
  readonly seconds: number;
  /** The HTML report written next to proportions.json. */
  readonly report: string;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const manifest = JSON.parse(readFileSync(join(o.corpus, "manifest.json"), "utf8")) as {
    domains: { name: string; bytes: { train: number } }[];
  };
  const domains = manifest.domains.map((d) => d.name);
  if (domains.length < 2) throw new InputError(o.corpus, "expected a built corpus with at least two domains");
  const tokens = manifest.domains.map((d) => d.bytes.train); // byte-level tokens
  const total = tokens.reduce((a, b) => a + b, 0);
  const natural = Object.fromEntries(domains.map((d, i) => [d, tokens[i]! / total]));
  const uniform = Object.fromEntries(domains.map((d) => [d, 1 / domains.length]));
  const n = o.quick ? 10 : 14;
  const config: ProxyConfig = o.quick ? { ...PRESETS.tiny!, seqLen: 32 } : PRESETS.tiny!;
  const steps = o.quick ? 30 : 80;
  const batchSize = o.quick ? 8 : 16;
  mkdirSync(o.out, { recursive: true });
  const runsPath = join(o.out, "runs.arrow");
  const probe = await probeBackend(o.backend);
  o.log(
    `mixlab demo${o.quick ? " --quick" : ""}: ${domains.length} domains (${domains.join(", ")}), ` +
      `proxy ${parameterCount(config).toLocaleString("en")} parameters, ` +
      `${steps} steps × ${batchSize} × ${config.seqLen} tokens per run, ` +
      `${cpus().length} workers on the ${probe.backend} backend`,
  );
  const keyOf = new Map<Record<string, number>, string>(); // each mixture's run key, from its sweep
  const sweep = async (mixtures: Record<string, number>[], role: string) =>
    (
      await runSweep({
        mixtures,
        domains,
        config,
        model: o.quick ? "tiny-32" : "tiny",
        steps,
        batchSize,
        seed: o.seed,
        train: join(o.corpus, "train"),
        heldout: join(o.corpus, "heldout"),
        runs: runsPath,
        workers: cpus().length,
        backend: o.backend,
        log: o.log,
        extra: { role },
      })
    ).keys.forEach((k, i) => keyOf.set(mixtures[i]!, k));
  const lossesOf = async (mixtures: Record<string, number>[]): Promise<Map<string, number>[]> => {
    const f = await readFrameAsync(runsPath);
    const ids = f.cells.get("run_id")!.map(String);
    return mixtures.map((p) => {
      const row = ids.indexOf(keyOf.get(p)!);
      if (row < 0 || f.cells.get("status")![row] !== "ok") throw new FitError(
        `the demo run for ${JSON.stringify(p)} did not finish (see ${runsPath})`,
      );
      return new Map(domains.map((d) => [d, f.cells.get(`loss.${d}`)![row] as number]));
    });
  };
  // 1. Swarm.
  const swarm = designSwarm(
    { domains, n, prior: Float64Array.from(tokens, (t) => t / total) },
    DirichletSwarmOptionsSchema.parse({}),
    createRng(o.seed).derive("demo-swarm"),
  );
  const swarmMixtures = Array.from({ length: n }, (_, i) =>
    Object.fromEntries(domains.map((d, j) => [d, swarm[i * domains.length + j]!])),
  );
  o.log(`1/3 training the swarm of ${n} mixtures`);
  await sweep(swarmMixtures, "swarm");
  // 2. Fit: every law that applies, cross-validated; auto keeps the one that ranks held-out runs best.
  o.log(
    "2/3 cross-validating every law on the mean held-out loss (fit --method auto); " +
      "recommending with at most 0.5 per domain",
  );
  const k = domains.length;
  const swarmLosses = await lossesOf(swarmMixtures);
  const weights = new Float64Array(n * k);
  swarmLosses.forEach((_, i) => domains.forEach((_d, j) => (weights[i * k + j] = swarm[i * k + j]!)));
  const lossColumns = domains.map((d) => [`loss.${d}`, swarmLosses.map((l) => l.get(d)!)] as const);
  const table = buildRunsTable(mixturesFrame(runsPath, domains, weights, lossColumns));
  const target = `mean:${domains.map((d) => `loss.${d}`).join(",")}`;
  const tokensPerDomain = Object.fromEntries(domains.map((d, i) => [d, tokens[i]!]));
  // A cap of half the tokens per domain: monotone laws put everything on one domain otherwise
  // (ALGORITHMS.md §2.1–2.2: caps are part of the optimisation, not an afterthought).
  const request = {
    table,
    target,
    seed: o.seed,
    tokensPerDomain,
    constraints: { maxShare: 0.5 },
    options: { regmix: { earlyStoppingRounds: 0, numRounds: 300, numCandidates: 200_000, topK: 32 } },
  };
  const fit = fitRuns({ ...request, method: "auto" });
  const sel = fit.selection!;
  for (const c of sel.candidates) o.log(
    `  ${c.law.padEnd(40)} CV Spearman ${c.report.spearman.toFixed(3)}, ` +
      `top-decile regret ${c.report.topDecileRegret.toFixed(3)} sd` +
      `${c.chosen ? "  ← chosen" : c.kept ? "" : "  (rejected: ranks clearly worse)"}`,
  );
  o.log(`  chose ${sel.reason}`);
  for (const d of fit.diagnostics) o.log(`  warning [${d.code}]: ${d.message}`);
  // For comparison only: the best single law auto did not choose, measured like the answer.
  const runnerUp = sel.candidates
    .filter((c) => !c.chosen && !c.law.startsWith("ensemble("))
    .sort((a, b) => a.report.topDecileRegret - b.report.topDecileRegret)[0];
  const other = runnerUp
    ? fitRuns({
        ...request,
        method: runnerUp.law,
        options: request.options.regmix && runnerUp.law === "regmix" ? request.options.regmix : {},
        cvFolds: 0,
        bootstrap: 0,
      })
    : null;
  const asRecord = (p: Float64Array) => Object.fromEntries(domains.map((d, j) => [d, p[j]!]));
  // 3. Measure the recommendation against the baselines.
  o.log(
    "3/3 training one more proxy on the recommendation, the uniform and natural mixtures " +
      "(and, for comparison, the runner-up law's answer)",
  );
  const candidates: { name: string; p: Record<string, number>; role: DemoRow["role"] }[] = [
    { name: `recommendation (${sel.chosen})`, p: asRecord(fit.recommendation.proportions), role: "answer" },
    { name: "uniform", p: uniform, role: "baseline" },
    { name: "natural", p: natural, role: "baseline" },
    ...(other
      ? [
          {
            name: `${runnerUp!.law}, not chosen`,
            p: asRecord(other.recommendation.proportions),
            role: "comparison" as const,
          },
        ]
      : []),
  ];
  await sweep(candidates.map((c) => c.p), "evaluation");
  const measured = await lossesOf(candidates.map((c) => c.p));
  const result: DemoRow[] = candidates.map((c, i) => {
    const vec = Float64Array.from(domains, (d) => c.p[d] ?? 0);
    return {
      name: c.name,
      role: c.role,
      proportions: c.p,
      predicted: fit.law.predict(vec)[0]!,
      measured: [...measured[i]!.values()].reduce((a, b) => a + b, 0) / k,
    };
  });
  const doc = {
    format: PROPORTIONS_FORMAT,
    unit: "tokens",
    domains: asRecord(fit.recommendation.proportions),
    order: domains,
    method: fit.method,
    chosenBy: "auto",
    target,
    predicted: { target: fit.recommendation.predicted, ...(fit.uncertainty ? { sd: fit.uncertainty.sd } : {}) },
    ...(fit.uncertainty ? { uncertainty: fit.uncertainty } : {}),
    risk: fit.risk,
    diagnostics: fit.diagnostics,
    fitQuality: { crossValidated: fit.crossValidation, auto: sel },
    details: {
      demo: {
        measured: result[0]!.measured,
        uniformMeasured: result[1]!.measured,
        naturalMeasured: result[2]!.measured,
        ...(other
          ? { comparison: { law: runnerUp!.law, domains: result[3]!.proportions, measured: result[3]!.measured } }
          : {}),
      },
    },
    provenance: { runs: runsPath, numRuns: n, seed: o.seed, model: config, steps, batchSize, mixlab: VERSION },
  };
  writeFileAtomic(join(o.out, "proportions.json"), `${JSON.stringify(doc, null, 2)}\n`);
  // The report cross-validates the single laws auto compared, with the demo's options.
  const report = join(o.out, "report.html");
  const methods = sel.candidates.map((c) => c.law).filter((l) => !l.startsWith("ensemble("));
  await writeReportFile({
    runs: runsPath,
    proportions: join(o.out, "proportions.json"),
    out: report,
    seed: o.seed,
    methods,
    optionsByMethod: { regmix: { ...request.options.regmix, minDataInLeaf: 2 }, dml: { numStarts: 12 } },
  });
  const laws = sel.candidates.map((c) => ({
    law: c.law,
    spearman: c.report.spearman,
    topDecileRegret: c.report.topDecileRegret,
    kept: c.kept,
    chosen: c.chosen,
  }));
  return {
    rows: result,
    chosen: sel.chosen,
    laws,
    diagnostics: fit.diagnostics,
    seconds: (performance.now() - t0) / 1000,
    report,
  };
}
