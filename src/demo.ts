// `mixlab demo`: the whole loop on the embedded corpus, in minutes on a laptop. Design a RegMix
// swarm around the natural token shares, train a tiny proxy on each mixture, fit RegMix (trees)
// and the Data Mixing Law on the mean held-out loss, recommend, then train one more proxy on each
// recommendation and on the uniform and natural mixtures, and compare predicted with measured loss.

import { join } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import { createRng } from "./rng/index.js";
import { designSwarm, DirichletSwarmOptionsSchema } from "../mixers/dirichlet/index.js";
import { laws } from "../mixers/index.js";
import { resolveConstraints } from "./core/constraints.js";
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

/** What the demo measured. */
export interface DemoResult {
  readonly rows: { name: string; proportions: Record<string, number>; predictedRegmix: number; predictedDml: number; measured: number }[];
  readonly seconds: number;
  /** The HTML report written next to proportions.json. */
  readonly report: string;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const manifest = JSON.parse(readFileSync(join(o.corpus, "manifest.json"), "utf8")) as { domains: { name: string; bytes: { train: number } }[] };
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
  o.log(`mixlab demo${o.quick ? " --quick" : ""}: ${domains.length} domains (${domains.join(", ")}), proxy ${parameterCount(config).toLocaleString("en")} parameters, ${steps} steps × ${batchSize} × ${config.seqLen} tokens per run, ${cpus().length} workers on the ${probe.backend} backend`);
  const keyOf = new Map<Record<string, number>, string>(); // each mixture's run key, from its sweep
  const sweep = async (mixtures: Record<string, number>[], role: string) =>
    (await runSweep({ mixtures, domains, config, model: o.quick ? "tiny-32" : "tiny", steps, batchSize, seed: o.seed, train: join(o.corpus, "train"), heldout: join(o.corpus, "heldout"), runs: runsPath, workers: cpus().length, backend: o.backend, log: o.log, extra: { role } })).keys.forEach((k, i) => keyOf.set(mixtures[i]!, k));
  const lossesOf = async (mixtures: Record<string, number>[]): Promise<Map<string, number>[]> => {
    const f = await readFrameAsync(runsPath);
    const ids = f.cells.get("run_id")!.map(String);
    return mixtures.map((p) => {
      const row = ids.indexOf(keyOf.get(p)!);
      if (row < 0 || f.cells.get("status")![row] !== "ok") throw new FitError(`the demo run for ${JSON.stringify(p)} did not finish (see ${runsPath})`);
      return new Map(domains.map((d) => [d, f.cells.get(`loss.${d}`)![row] as number]));
    });
  };
  // 1. Swarm.
  const swarm = designSwarm({ domains, n, prior: Float64Array.from(tokens, (t) => t / total) }, DirichletSwarmOptionsSchema.parse({}), createRng(o.seed).derive("demo-swarm"));
  const swarmMixtures = Array.from({ length: n }, (_, i) => Object.fromEntries(domains.map((d, j) => [d, swarm[i * domains.length + j]!])));
  o.log(`1/3 training the swarm of ${n} mixtures`);
  await sweep(swarmMixtures, "swarm");
  // 2. Fit.
  o.log("2/3 fitting RegMix and the Data Mixing Law to the mean held-out loss; recommending with at most 0.5 per domain");
  const k = domains.length;
  const swarmLosses = await lossesOf(swarmMixtures);
  const weights = new Float64Array(n * k);
  const target = new Float64Array(n);
  const comps = domains.map(() => new Float64Array(n));
  swarmLosses.forEach((l, i) => {
    domains.forEach((d, j) => {
      weights[i * k + j] = swarm[i * k + j]!;
      comps[j]![i] = l.get(d)!;
      target[i] += l.get(d)! / k;
    });
  });
  const input = { domains, weights, target, components: { names: domains.map((d) => `loss.${d}`), values: comps }, tokensPerDomain: Float64Array.from(tokens) };
  // A cap of half the tokens per domain: monotone laws put everything on one domain otherwise
  // (ALGORITHMS.md §2.1–2.2: caps are part of the optimisation, not an afterthought).
  const cons = resolveConstraints(domains, { maxShare: 0.5 });
  const rm = laws.regmix!.fit(input, laws.regmix!.parseOptions({ minDataInLeaf: 2, earlyStoppingRounds: 0, numRounds: 300, numCandidates: 200_000, topK: 32 }), createRng(o.seed).derive("fit-regmix"));
  const dml = laws.dml!.fit(input, laws.dml!.parseOptions({ numStarts: 12 }), createRng(o.seed).derive("fit-dml"));
  const recRm = rm.recommend(cons, createRng(o.seed).derive("rec-regmix"));
  const recDml = dml.recommend(cons, createRng(o.seed).derive("rec-dml"));
  const asRecord = (p: Float64Array) => Object.fromEntries(domains.map((d, j) => [d, p[j]!]));
  // 3. Measure the recommendations against the baselines.
  o.log("3/3 training one more proxy on each recommendation and on the uniform and natural mixtures");
  const candidates: { name: string; p: Record<string, number> }[] = [
    { name: "RegMix recommendation", p: asRecord(recRm.proportions) },
    { name: "DML recommendation", p: asRecord(recDml.proportions) },
    { name: "uniform", p: uniform },
    { name: "natural", p: natural },
  ];
  await sweep(candidates.map((c) => c.p), "evaluation");
  const measured = await lossesOf(candidates.map((c) => c.p));
  const result: DemoResult["rows"] = candidates.map((c, i) => {
    const vec = Float64Array.from(domains, (d) => c.p[d] ?? 0);
    return { name: c.name, proportions: c.p, predictedRegmix: rm.predict(vec)[0]!, predictedDml: dml.predict(vec)[0]!, measured: [...measured[i]!.values()].reduce((a, b) => a + b, 0) / k };
  });
  const doc = {
    format: PROPORTIONS_FORMAT,
    unit: "tokens",
    domains: asRecord(recRm.proportions),
    order: domains,
    method: "regmix",
    target: "loss.mean",
    predicted: { target: recRm.predicted },
    details: { demo: { measured: result[0]!.measured, uniformMeasured: result[2]!.measured, naturalMeasured: result[3]!.measured, dml: { domains: asRecord(recDml.proportions), predicted: recDml.predicted, measured: result[1]!.measured } } },
    provenance: { runs: runsPath, numRuns: n, seed: o.seed, model: config, steps, batchSize, mixlab: VERSION },
  };
  writeFileAtomic(join(o.out, "proportions.json"), `${JSON.stringify(doc, null, 2)}\n`);
  const report = join(o.out, "report.html");
  await writeReportFile({ runs: runsPath, proportions: join(o.out, "proportions.json"), out: report, seed: o.seed, methods: ["regmix", "dml"], optionsByMethod: { regmix: { minDataInLeaf: 2, earlyStoppingRounds: 0, numRounds: 300, numCandidates: 200_000, topK: 32 }, dml: { numStarts: 12 } } });
  return { rows: result, seconds: (performance.now() - t0) / 1000, report };
}
