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
import { loadTf, type BackendName } from "./proxy/backend.js";
import { trainProxy } from "./proxy/train.js";
import { PRESETS, parameterCount, type ProxyConfig } from "./proxy/model.js";
import { appendRows, runKey, runRow } from "./proxy/runs-io.js";
import { writeFileAtomic } from "./io/atomic.js";
import { PROPORTIONS_FORMAT } from "./export/proportions.js";
import { VERSION } from "./version.js";
import { InputError } from "./errors.js";
import type { Cell } from "./runs/frame.js";

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
  const { tf, backend } = await loadTf(o.backend, o.log);
  o.log(`mixlab demo${o.quick ? " --quick" : ""}: ${domains.length} domains (${domains.join(", ")}), proxy ${parameterCount(config).toLocaleString("en")} parameters, ${steps} steps × ${batchSize} × ${config.seqLen} tokens per run`);
  // 1. Swarm.
  const swarm = designSwarm({ domains, n, prior: Float64Array.from(tokens, (t) => t / total) }, DirichletSwarmOptionsSchema.parse({}), createRng(o.seed).derive("demo-swarm"));
  const rows: Map<string, Cell>[] = [];
  const train = async (p: Record<string, number>, role: string, i: number, of: number): Promise<Record<string, number>> => {
    const t = performance.now();
    const r = await trainProxy({ tf, backend, config, train: join(o.corpus, "train"), heldout: join(o.corpus, "heldout"), proportions: p, steps, batchSize, seed: o.seed, evalWindows: 16 });
    const mean = Object.values(r.lossPerDomain).reduce((a, b) => a + b, 0) / domains.length;
    const elapsed = (performance.now() - t0) / 1000;
    o.log(`  [${role} ${i}/${of}] mean held-out loss ${mean.toFixed(4)} nats/byte (${((performance.now() - t) / 1000).toFixed(1)} s; ${elapsed.toFixed(0)} s so far)`);
    rows.push(runRow(runKey(p, config, steps, batchSize, o.seed), domains, r, { seed: o.seed, role }));
    return r.lossPerDomain;
  };
  o.log(`1/3 training the swarm of ${n} mixtures`);
  for (let i = 0; i < n; i++) {
    const p = Object.fromEntries(domains.map((d, j) => [d, swarm[i * domains.length + j]!]));
    await train(p, "swarm", i + 1, n);
  }
  // 2. Fit.
  o.log("2/3 fitting RegMix and the Data Mixing Law to the mean held-out loss");
  const k = domains.length;
  const weights = new Float64Array(n * k);
  const target = new Float64Array(n);
  const comps = domains.map(() => new Float64Array(n));
  rows.slice(0, n).forEach((r, i) => {
    domains.forEach((d, j) => {
      weights[i * k + j] = r.get(`w.${d}`) as number;
      comps[j]![i] = r.get(`loss.${d}`) as number;
    });
    target[i] = r.get("loss.mean") as number;
  });
  const input = { domains, weights, target, components: { names: domains.map((d) => `loss.${d}`), values: comps }, tokensPerDomain: Float64Array.from(tokens) };
  const cons = resolveConstraints(domains);
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
  const result: DemoResult["rows"] = [];
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    const losses = await train(c.p, "evaluation", i + 1, candidates.length);
    const vec = Float64Array.from(domains, (d) => c.p[d] ?? 0);
    result.push({ name: c.name, proportions: c.p, predictedRegmix: rm.predict(vec)[0]!, predictedDml: dml.predict(vec)[0]!, measured: Object.values(losses).reduce((a, b) => a + b, 0) / k });
  }
  await appendRows(runsPath, rows);
  const doc = {
    format: PROPORTIONS_FORMAT,
    unit: "tokens",
    domains: asRecord(recRm.proportions),
    order: domains,
    method: "regmix",
    target: "loss.mean",
    predicted: { target: recRm.predicted },
    details: { demo: { measured: result[0]!.measured, uniformMeasured: result[2]!.measured, naturalMeasured: result[3]!.measured, dml: { domains: asRecord(recDml.proportions), predicted: recDml.predicted, measured: result[1]!.measured } } },
    provenance: { runs: runsPath, numRuns: n, seed: o.seed, model: config, steps, batchSize, backend, mixlab: VERSION },
  };
  writeFileAtomic(join(o.out, "proportions.json"), `${JSON.stringify(doc, null, 2)}\n`);
  return { rows: result, seconds: (performance.now() - t0) / 1000 };
}
