// The public API ("mixlab" = src/index.ts): every runtime export is called here with a small input
// and a known answer, not just checked for its type. A new export without an exercise fails the
// first test, so the list stays complete.
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import * as api from "../src/index.js";
import { ROOT, REGMIX, tmp } from "./helpers.js";

const DOMAINS = ["web", "code", "math"];
const close = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-9) =>
  Array.from(a).every((v, i) => Math.abs(v - b[i]!) <= eps);
const box = (lower: number[], upper: number[]) => ({
  lower: Float64Array.from(lower),
  upper: Float64Array.from(upper),
});
const memoryCorpus = () => ({
  names: ["a", "b"],
  sources: [
    new api.MemorySource(Array.from({ length: 40 }, (_, i) => ({ text: `alpha ${i} `.repeat(8) }))),
    new api.MemorySource(Array.from({ length: 40 }, (_, i) => ({ text: `beta ${i} `.repeat(8) }))),
  ],
});
const runsFrame = () =>
  api.parseFrame(
    new TextEncoder().encode(
      "run_id,w.web,w.code,w.math,loss.web\na,0.2,0.3,0.5,3.1\nb,0.5,0.25,0.25,2.9\nc,0.1,0.1,0.8,3.3\n" +
        "d,0.4,0.4,0.2,3.0\ne,0.3,0.3,0.4,3.05\nf,0.6,0.2,0.2,2.85\n",
    ),
    "csv",
    "runs.csv",
  );
const runsTable = () => api.buildRunsTable(runsFrame());
/** The built package (dist/), for the exports that start compiled worker processes. */
async function builtApi(): Promise<typeof api> {
  if (!existsSync(join(ROOT, "dist", "src", "index.js"))) {
    execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  }
  return (await import(join(ROOT, "dist", "src", "index.js"))) as typeof api;
}
/** The run settings of the run-identity exercises. */
const settings = () =>
  api.resolveSettings({
    model: "tiny",
    config: api.PRESETS.tiny!,
    steps: 20,
    batchSize: 4,
    seed: 0,
    corpusSha256: "c",
  });
let tfCache: Awaited<ReturnType<typeof api.loadTf>> | null = null;
const tf = async () => (tfCache ??= await api.loadTf("wasm", () => {}));
/** What the exercises' tiny proxy runs share: the wasm backend, the tiny model, the memory corpus, 2 rows. */
const tinyRun = async () => {
  const { tf: t, backend } = await tf();
  const c = memoryCorpus();
  const config = { ...api.PRESETS.tiny!, seqLen: 8 };
  return { tf: t, backend, config, train: c, heldout: c, batchSize: 2, evalWindows: 2 };
};

const exercises: Record<string, () => unknown> = {
  // rng
  createRng: () => expect(api.createRng(1).nextUint32()).toBe(api.createRng(1).nextUint32()),
  rngFromState: () => {
    const r = api.createRng(9);
    r.nextUint32();
    const s = r.getState();
    expect(api.rngFromState(s).nextUint32()).toBe(r.nextUint32());
  },
  Rng: () => expect(api.createRng(0)).toBeInstanceOf(api.Rng),
  // errors
  MixError: () => expect(new api.MixError("E_X", "m").code).toBe("E_X"),
  InputError: () =>
    expect(new api.InputError("f.csv", [{ path: "row 2", message: "expected a number, got \"x\"" }]).message).toBe(
      'f.csv: row 2: expected a number, got "x"',
    ),
  FitError: () => expect(new api.FitError("no", { iteration: 3 }).iteration).toBe(3),
  UnsupportedError: () => expect(new api.UnsupportedError("x").code).toBe("E_UNSUPPORTED"),
  // simplex
  normalize: () => expect(Array.from(api.normalize([1, 3]))).toEqual([0.25, 0.75]),
  isOnSimplex: () => expect([api.isOnSimplex([0.5, 0.5]), api.isOnSimplex([0.5, 0.6])]).toEqual([true, false]),
  smooth: () => expect(close(api.smooth([1, 0], 0.5), [0.75, 0.25])).toBe(true),
  softmax: () => expect(close(api.softmax([0, Math.log(3)]), [0.25, 0.75])).toBe(true),
  repairMultiplicative: () => {
    const p = api.repairMultiplicative([0.8, 0.1, 0.1], box([0, 0, 0], [0.5, 1, 1]));
    expect(close(p, [0.5, 0.25, 0.25])).toBe(true);
  },
  repairEuclidean: () =>
    expect(close(api.repairEuclidean([0.8, 0.1, 0.1], box([0, 0, 0], [0.5, 1, 1])), [0.5, 0.25, 0.25])).toBe(true),
  boxInfeasibility: () => {
    expect(api.boxInfeasibility(box([0, 0], [1, 1]))).toBeNull();
    expect(api.boxInfeasibility(box([0, 0], [0.3, 0.3]))).toMatch(/sum to 0\.6/);
  },
  entropy: () => expect(api.entropy([0.5, 0.5])).toBeCloseTo(Math.LN2, 12),
  l1Distance: () => expect(api.l1Distance([0.5, 0.5], [1, 0])).toBeCloseTo(1, 12),
  klDivergence: () => expect(api.klDivergence([0.5, 0.5], [0.5, 0.5])).toBe(0),
  ilr: () => expect(close(api.ilrInverse(api.ilr([0.2, 0.3, 0.5])), [0.2, 0.3, 0.5], 1e-12)).toBe(true),
  ilrInverse: () => expect(close(api.ilrInverse([0, 0]), [1 / 3, 1 / 3, 1 / 3], 1e-12)).toBe(true),
  impliedEpochs: () => expect(Array.from(api.impliedEpochs([0.5, 0.5], [100, 1000], 1000))).toEqual([5, 0.5]),
  // dirichlet
  sampleGamma: () => {
    const r = api.createRng(3);
    let s = 0;
    for (let i = 0; i < 4000; i++) s += api.sampleGamma(2, r);
    expect(s / 4000).toBeCloseTo(2, 1);
  },
  sampleDirichlet: () => expect(api.isOnSimplex(api.sampleDirichlet([1, 2, 3], api.createRng(1)))).toBe(true),
  sampleDirichletMany: () => {
    const d = api.sampleDirichletMany([1, 1], 5, api.createRng(2));
    expect(d).toHaveLength(10);
    for (let i = 0; i < 5; i++) expect(d[2 * i]! + d[2 * i + 1]!).toBeCloseTo(1, 12);
  },
  // stats
  spearman: () => expect(api.spearman([1, 2, 3], [10, 20, 35])).toBeCloseTo(1, 12),
  kendall: () => expect(api.kendall([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12),
  pearson: () => expect(api.pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12),
  pairwiseAccuracy: () => expect(api.pairwiseAccuracy([1, 2, 3], [1, 3, 2])).toBeCloseTo(2 / 3, 12),
  mse: () => expect(api.mse([1, 2], [1, 4])).toBe(2),
  rSquared: () => expect(api.rSquared([1, 2, 3], [1, 2, 3])).toBe(1),
  rank: () => expect(Array.from(api.rank([30, 10, 20]))).toEqual([3, 1, 2]),
  agreement: () => expect(api.agreement([1, 2, 3], [1, 2, 3]).spearman).toBeCloseTo(1, 12),
  // optimisation
  lbfgs: () => {
    const r = api.lbfgs((x, g) => {
      g[0] = 2 * (x[0]! - 3);
      return (x[0]! - 3) ** 2;
    }, Float64Array.of(0));
    expect(r.x[0]).toBeCloseTo(3, 6);
  },
  minimizeOnSimplex: () => {
    const t = [0.2, 0.3, 0.5];
    const r = api.minimizeOnSimplex((p, g) => {
      let v = 0;
      for (let i = 0; i < 3; i++) {
        g[i] = 2 * (p[i]! - t[i]!);
        v += (p[i]! - t[i]!) ** 2;
      }
      return v;
    }, Float64Array.of(1 / 3, 1 / 3, 1 / 3), box([0, 0, 0], [1, 1, 1]));
    expect(close(r.p, t, 1e-6)).toBe(true);
  },
  multiStart: () => {
    const r = api.multiStart((x, g) => {
      g[0] = 2 * (x[0]! + 1);
      return (x[0]! + 1) ** 2;
    }, 1, 3, (_, x, rng) => (x[0] = rng.next() * 10), api.createRng(0));
    expect(r.x[0]).toBeCloseTo(-1, 6);
  },
  smallestK: () => expect(Array.from(api.smallestK([5, 1, 4, 2], 2)).sort()).toEqual([1, 3]),
  huber: () => expect([api.huber(0.5, 1), api.huber(3, 1)]).toEqual([0.125, 2.5]),
  resolveConstraints: () =>
    expect(Array.from(api.resolveConstraints(DOMAINS, { maxShare: { web: 0.5 } }).box.upper)).toEqual([0.5, 1, 1]),
  // tables
  readFrame: () => expect(api.readFrame(join(REGMIX, "test_mixture_1B.csv")).numRows).toBe(64),
  readFrameAsync: async () => expect((await api.readFrameAsync(join(REGMIX, "test_mixture_1B.csv"))).numRows).toBe(64),
  writeFrame: async () => {
    const f = join(tmp(), "t.jsonl");
    await api.writeFrame(runsFrame(), f);
    expect(api.readFrame(f).cells.get("run_id")).toEqual(["a", "b", "c", "d", "e", "f"]);
  },
  serializeFrame: async () =>
    expect(new TextDecoder().decode(await api.serializeFrame(runsFrame(), "csv")).split("\n")[0]).toBe(
      "run_id,w.web,w.code,w.math,loss.web",
    ),
  parseFrame: () => expect(runsFrame().columns).toEqual(["run_id", "w.web", "w.code", "w.math", "loss.web"]),
  formatOf: () => {
    expect(api.formatOf("x.parquet")).toBe("parquet");
    expect(() => api.formatOf("x.xlsx", "--out")).toThrow(/--out: expected a file ending in/);
  },
  buildRunsTable: () => expect(runsTable().domains).toEqual(DOMAINS),
  joinFrames: () => {
    const losses = api.parseFrame(
      new TextEncoder().encode("run_id,extra\na,1\nb,2\nc,3\nd,4\ne,5\nf,6\n"),
      "csv",
      "l.csv",
    );
    expect(api.joinFrames(runsFrame(), losses, "run_id").cells.get("extra")).toEqual([1, 2, 3, 4, 5, 6]);
  },
  applyLossPattern: () => {
    const f = api.parseFrame(new TextEncoder().encode("w.web,w.code,val_web_loss\n0.5,0.5,3\n"), "csv", "x.csv");
    expect(api.applyLossPattern(f, "val_{domain}_loss").columns).toContain("loss.web");
  },
  resolveTarget: () =>
    expect(Array.from(api.resolveTarget(runsTable(), "loss.web").values).slice(0, 2)).toEqual([3.1, 2.9]),
  mixturesFrame: () =>
    expect(api.mixturesFrame("m", ["a", "b"], Float64Array.of(0.25, 0.75)).cells.get("w.b")).toEqual([0.75]),
  runWeights: () => expect(Array.from(api.runWeights(runsTable(), 1))).toEqual([0.5, 0.25, 0.25]),
  // fit
  fitRuns: () =>
    expect(
      api.fitRuns({ table: runsTable(), target: "loss.web", method: "uniform", cvFolds: 0 })
        .recommendation.proportions[0],
    ).toBeCloseTo(1 / 3, 12),
  crossValidate: () => {
    const t = runsTable();
    const input = api.fitInputOf(t, api.resolveTarget(t, "loss.web"), {});
    expect(
      api.crossValidate(
        "regmix-linear",
        input,
        api.laws["regmix-linear"]!.parseOptions({ numCandidates: 100 }),
        2,
        api.createRng(0),
      ).folds,
    ).toBe(2);
  },
  fitInputOf: () => {
    const t = runsTable();
    expect(api.fitInputOf(t, api.resolveTarget(t, "loss.web"), {}).target).toHaveLength(6);
  },
  // proportions files and export
  parseProportions: () =>
    expect(
      api.parseProportions('{"format":"mixlab.proportions/v1","domains":{"b":0.5,"a":0.5}}', "p.json").orderedDomains,
    ).toEqual(["b", "a"]),
  ProportionsSchema: () =>
    expect(api.ProportionsSchema.safeParse({ format: "mixlab.proportions/v1", domains: { a: 1 } }).success).toBe(true),
  PROPORTIONS_FORMAT: () => expect(api.PROPORTIONS_FORMAT).toBe("mixlab.proportions/v1"),
  exportProportions: () => {
    const doc = api.parseProportions('{"format":"mixlab.proportions/v1","domains":{"a":0.25,"b":0.75}}', "p.json");
    expect(api.exportProportions(doc, "megatron", { pathPrefix: "/d/" })).toBe("0.25 /d/a 0.75 /d/b\n");
    // The json form reads back to the same proportions in the same order.
    const back = api.parseProportions(api.exportProportions(doc, "json"), "again.json");
    expect([back.domains, back.orderedDomains]).toEqual([doc.domains, doc.orderedDomains]);
  },
  EXPORT_FORMATS: () => expect(api.EXPORT_FORMATS).toContain("megatron"),
  // plug-ins
  laws: () =>
    expect(
      api.laws.uniform!
        .fit({ domains: ["a", "b"], weights: new Float64Array(2), target: new Float64Array(1) }, {}, api.createRng(0))
        .recommend(api.resolveConstraints(["a", "b"]), api.createRng(0)).proportions[0],
    ).toBe(0.5),
  suggesters: () =>
    expect(
      api.suggesters.dirichlet!.suggest(
        { domains: ["a", "b"], constraints: api.resolveConstraints(["a", "b"]) },
        2,
        api.suggesters.dirichlet!.parseOptions({ oversample: 2 }),
        api.createRng(0),
      ),
    ).toHaveLength(2),
  designSwarm: () =>
    expect(
      api.designSwarm(
        { domains: ["a", "b"], n: 3 },
        api.DirichletSwarmOptionsSchema.parse({ oversample: 2 }),
        api.createRng(0),
      ),
    ).toHaveLength(6),
  DirichletSwarmOptionsSchema: () => expect(api.DirichletSwarmOptionsSchema.parse({}).priorTemperature).toBe(0.5),
  roundToUnits: () => expect(Array.from(api.roundToUnits(Float64Array.of(0.33333, 0.66667), 0.1))).toEqual([0.3, 0.7]),
  dirichletSwarm: () => expect(api.dirichletSwarm.maxN).toBe(api.MAX_SWARM_SIZE),
  MAX_SWARM_SIZE: () =>
    expect(() =>
      api.designSwarm(
        { domains: ["a", "b"], n: api.MAX_SWARM_SIZE + 1 },
        api.DirichletSwarmOptionsSchema.parse({}),
        api.createRng(0),
      ),
    ).toThrow(/--n: expected an integer in \[1, 10000\]/),
  bayesoptSuggester: () =>
    expect(() =>
      api.bayesoptSuggester.suggest(
        { domains: ["a", "b"], constraints: api.resolveConstraints(["a", "b"]) },
        1,
        api.bayesoptSuggester.parseOptions({}),
        api.createRng(0),
      ),
    ).toThrow(/expected the runs so far/),
  MAX_BAYESOPT_BATCH: () => expect(api.bayesoptSuggester.maxN).toBe(api.MAX_BAYESOPT_BATCH),
  suggestBayesOpt: () => {
    const t = runsTable();
    const out = api.suggestBayesOpt(
      { domains: DOMAINS, weights: t.weights, y: api.resolveTarget(t, "loss.web").values, fidelity: null },
      1,
      api.resolveConstraints(DOMAINS),
      { numCandidates: 64, restarts: 0 },
      api.createRng(0),
    );
    expect(api.isOnSimplex(out[0]!.proportions)).toBe(true);
  },
  createBayesOpt: () => {
    const s = api.createBayesOpt({ domains: DOMAINS, options: { numCandidates: 64, restarts: 0 }, seed: 1 });
    expect(typeof s).toBe("object");
    expect(Object.keys(s).length).toBeGreaterThan(0);
  },
  BayesOptOptionsSchema: () => expect(api.BayesOptOptionsSchema.parse({}).acquisition).toBe("logei"),
  fitGp: () => {
    const x = Float64Array.of(0, 0.5, 1, 0.25, 0.75);
    const y = Float64Array.from(x, (v) => Math.sin(3 * v));
    const gp = api.fitGp(x, null, y, 1, api.createRng(0));
    const m = new Float64Array(1);
    const v = new Float64Array(1);
    api.predictGp(gp, Float64Array.of(0.5), null, m, v);
    expect(m[0]).toBeCloseTo(Math.sin(1.5), 2);
  },
  predictGp: () => undefined, // exercised with fitGp above (a GP needs fitting first)
  expectedImprovement: () => expect(api.expectedImprovement(0, 1, 0)).toBeCloseTo(1 / Math.sqrt(2 * Math.PI), 9),
  logExpectedImprovement: () =>
    expect(api.logExpectedImprovement(0, 1, 0)).toBeCloseTo(Math.log(1 / Math.sqrt(2 * Math.PI)), 9),
  lowerConfidenceBound: () => expect(api.lowerConfidenceBound(1, 0.5, 2)).toBe(0),
  // output paths
  checkOutputPath: () =>
    expect(() => api.checkOutputPath(join(ROOT, "no-such-folder", "x.json"), "--out")).toThrow(
      /--out: .*expected a writable file in an existing folder, got no folder/,
    ),
  checkOutputPaths: () =>
    expect(() =>
      api.checkOutputPaths([
        ["-o", join(ROOT, "a.json")],
        ["--save-model", join(ROOT, "a.json")],
      ]),
    ).toThrow(/--save-model: .*expected a different file from -o/),
  writeOutputFile: () => {
    const f = join(tmp(), "o.txt");
    api.writeOutputFile(f, "hello");
    expect(readFileSync(f, "utf8")).toBe("hello");
  },
  writeOutputFiles: () => {
    const d = tmp();
    api.writeOutputFiles([[join(d, "a.json"), "a"], [join(d, "b.json"), "b"]]);
    expect([readFileSync(join(d, "a.json"), "utf8"), readFileSync(join(d, "b.json"), "utf8")]).toEqual(["a", "b"]);
    // One output that cannot be written: neither is, and no temporary file is left.
    expect(() => api.writeOutputFiles([[join(d, "c.json"), "c"], [join(d, "no-such", "d.json"), "d"]])).toThrow();
    expect(readdirSync(d).sort()).toEqual(["a.json", "b.json"]);
  },
  // sampler
  createSampler: async () => {
    const s = await api.createSampler({
      corpus: memoryCorpus(),
      proportions: { a: 0.5, b: 0.5 },
      seed: 1,
      blockSize: 8,
      warn: () => {},
    });
    expect(s).toBeInstanceOf(api.Sampler);
    expect([...s.samples(8)].filter((x) => x.domain === "a")).toHaveLength(4);
    await s.close();
  },
  Sampler: () => undefined, // the class of createSampler's result, checked there
  toTfDataset: async () => {
    const { tf: t } = await tf();
    const s = await api.createSampler({
      corpus: memoryCorpus(),
      proportions: { a: 0.5, b: 0.5 },
      seed: 1,
      blockSize: 8,
      warn: () => {},
    });
    const ds = api.toTfDataset(s, t as never, { batchSize: 2, seqLen: 8, limit: 2 }) as {
      toArray(): Promise<unknown[]>;
    };
    expect(await ds.toArray()).toHaveLength(2); // limit counts batches
    await s.close();
  },
  formatPlanTable: async () => {
    const s = await api.createSampler({
      corpus: memoryCorpus(),
      proportions: { a: 0.25, b: 0.75 },
      seed: 1,
      blockSize: 8,
      warn: () => {},
    });
    expect(api.formatPlanTable(s.table())).toMatch(/^domain/);
    await s.close();
  },
  parseSamplerState: async () => {
    const s = await api.createSampler({
      corpus: memoryCorpus(),
      proportions: { a: 0.5, b: 0.5 },
      seed: 1,
      blockSize: 8,
      warn: () => {},
    });
    expect(api.parseSamplerState(JSON.parse(JSON.stringify(s.state())))).toEqual(s.state());
    expect(() => api.parseSamplerState({ ...s.state(), consumed: -1 }, "ckpt.json")).toThrow(/^ckpt.json: consumed: /);
  },
  SamplerStateSchema: () => expect(api.SamplerStateSchema.safeParse({ format: "x" }).success).toBe(false),
  SOURCE_FORMATS: () => expect(Object.values(api.SOURCE_FORMATS).flatMap((f) => f.extensions)).toContain(".parquet"),
  SyncFdPool: () => {
    const pool = new api.SyncFdPool(1);
    pool.get(join(ROOT, "package.json"));
    pool.get(join(ROOT, "README.md"));
    expect(pool.size).toBe(1);
    pool.closeAll();
  },
  Plan: () => {
    const plan = new api.Plan({
      domains: ["a", "b"],
      recordsPerDomain: Float64Array.of(10, 10),
      tokensPerRecord: Float64Array.of(5, 5),
      stages: [{ proportions: Float64Array.of(0.5, 0.5) } as never],
      seed: 0,
      blockSize: 4,
      unit: "samples",
      order: "shuffle",
    });
    expect(Array.from(plan.samplesPerDomain(8))).toEqual([4, 4]);
  },
  apportion: () => expect(Array.from(api.apportion([0.5, 0.3, 0.2], 7))).toEqual([4, 2, 1]),
  sampleShares: () =>
    expect(
      close(api.sampleShares(Float64Array.of(0.5, 0.5), Float64Array.of(1, 3), "tokens"), [0.75, 0.25]),
    ).toBe(true),
  FeistelPermutation: () => {
    const f = new api.FeistelPermutation(10, Uint32Array.of(1, 2, 3, 4));
    expect(Array.from({ length: 10 }, (_, i) => f.at(i)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  },
  writeTokenShard: async () => {
    const prefix = join(tmp(), "shard");
    await api.writeTokenShard(prefix, [[1, 2, 3], [4, 5]]);
    const s = await api.openShard(`${prefix}.bin`);
    expect(s).toBeInstanceOf(api.TokenShardSource);
    expect(Array.from((await s.read(1)).tokens!)).toEqual([4, 5]);
    await s.close();
  },
  openShard: () => undefined, // exercised with writeTokenShard above
  TokenShardSource: () => undefined, // exercised with writeTokenShard above
  openDomain: async () => {
    const d = tmp();
    writeFileSync(join(d, "x.jsonl"), '{"text":"one"}\n{"text":"two"}\n');
    writeFileSync(join(d, "y.jsonl"), '{"text":"three"}\n');
    const s = await api.openDomain([join(d, "x.jsonl"), join(d, "y.jsonl")]);
    expect(s).toBeInstanceOf(api.ConcatSource);
    expect(s.numRecords).toBe(3);
    expect((await s.read(2)).text).toBe("three");
    await s.close();
  },
  ConcatSource: () => undefined, // openDomain's result for several files, checked there
  JsonlSource: async () => {
    const f = join(tmp(), "x.jsonl");
    writeFileSync(f, '{"text":"one"}\n{"text":"two"}\n');
    const s = await api.JsonlSource.open(f);
    expect((await s.read(1)).text).toBe("two");
  },
  ArrowSource: async () => {
    const f = join(tmp(), "x.arrow");
    await api.writeFrame({ source: "x", columns: ["text"], cells: new Map([["text", ["one", "two"]]]), numRows: 2 }, f);
    const s = await api.ArrowSource.open(f);
    expect((await s.read(0)).text).toBe("one");
    await s.close();
  },
  ParquetSource: async () => {
    const f = join(tmp(), "x.parquet");
    await api.writeFrame({ source: "x", columns: ["text"], cells: new Map([["text", ["one", "two"]]]), numRows: 2 }, f);
    const s = await api.ParquetSource.open(f);
    expect((await s.read(1)).text).toBe("two");
    await s.close();
  },
  MemorySource: async () => expect((await new api.MemorySource([{ text: "x" }]).read(0)).text).toBe("x"),
  FileHandlePool: async () => {
    const pool = new api.FileHandlePool(1);
    const h = await pool.get(join(REGMIX, "token-prior.json"));
    expect((await h.stat()).size).toBeGreaterThan(0);
    await pool.closeAll();
  },
  discoverCorpus: async () =>
    expect(
      (await api.discoverCorpus(join(ROOT, "datasets", "corpus", "train"))).domains.map((d) => d.name),
    ).toContain("code"),
  openCorpus: async () => {
    const c = await api.openCorpus(join(ROOT, "datasets", "corpus", "train"), { cacheDir: join(tmp(), "cache") });
    expect(c.names).toContain("legal");
    await c.close();
  },
  byteTokenizer: () => expect(Array.from(api.byteTokenizer("hé"))).toEqual([104, 195, 169]),
  // proxy
  loadTf: async () => expect((await tf()).backend).toBe("wasm"),
  probeBackend: async () => expect((await api.probeBackend("wasm")).backend).toBe("wasm"),
  BACKENDS: () => expect(api.BACKENDS).toContain("wasm"),
  loadBlas: () => {
    const b = api.loadBlas();
    expect(b.blas !== null || b.why.length > 0).toBe(true);
  },
  PRESETS: () => expect(api.parameterCount(api.PRESETS.ref!)).toBeGreaterThan(0.4e6),
  parameterCount: () =>
    expect(api.parameterCount({ vocab: 4, dModel: 2, nLayers: 0, nHeads: 1, seqLen: 3, dFF: 2 })).toBe(
      4 * 2 + 3 * 2 + 2 * 2,
    ),
  createModel: async () => {
    const { tf: t } = await tf();
    const m = api.createModel(t, { ...api.PRESETS.tiny!, seqLen: 8 }, api.createRng(0));
    const x = t.tensor3d(new Int32Array(8), [1, 1, 8], "int32");
    const losses = api.tokenLosses(m, x, x);
    // An untrained model over 256 bytes: a few nats per token (ln 256 = 5.5 for a uniform guess).
    const l = (losses.dataSync() as Float32Array)[0]!;
    expect(l > 3 && l < 8).toBe(true);
    for (const z of [x, losses]) z.dispose();
    m.dispose();
  },
  tokenLosses: () => undefined, // exercised with createModel above
  createEnsemble: async () => {
    const { tf: t } = await tf();
    const m = api.createEnsemble(t, { ...api.PRESETS.tiny!, seqLen: 8 }, [api.createRng(0), api.createRng(1)]);
    expect(m.members).toBe(2);
    m.dispose();
  },
  trainProxy: async () => {
    const r = await api.trainProxy({ ...(await tinyRun()), proportions: { a: 0.5, b: 0.5 }, steps: 2, seed: 0 });
    expect(Object.keys(r.lossPerDomain).sort()).toEqual(["a", "b"]);
  },
  // online proxy runs (branch online-train)
  domainStats: () =>
    expect(
      api.domainStats(
        ["a", "b"],
        Int32Array.from([1, 1, 0]),
        Float64Array.from([6, 2, 3]),
        Float64Array.from([2, 2, 1]),
      ),
    ).toEqual({
      loss: { a: 3, b: 2 },
      tokens: { a: 1, b: 4 },
    }),
  naturalShares: async () => {
    const c = memoryCorpus();
    const p = await api.naturalShares(c);
    expect(Object.keys(p).sort()).toEqual(["a", "b"]);
    expect(p.a! + p.b!).toBeCloseTo(1, 12);
  },
  trainOnline: async () => {
    const mixer = api.createOnlineMixer("odm", {
      domains: ["a", "b"],
      seed: 0,
      options: { totalSteps: 2, warmupSteps: 0 },
    });
    const r = await api.trainOnline({ ...(await tinyRun()), mixer, steps: 2, seed: 0 });
    expect(r.method).toBe("odm");
    expect(r.trajectory.length).toBeGreaterThan(0);
  },
  skillsGraph: async () => {
    const g = await api.skillsGraph({ ...(await tinyRun()), steps: 1, seed: 0 }, ["a", "b"]);
    expect(g.map((row) => row.length)).toEqual([2, 2]);
  },
  trainWithMethod: async () => {
    const r = await api.trainWithMethod({
      ...(await tinyRun()),
      steps: 2,
      seed: 0,
      method: "odm",
      createMixer: api.createOnlineMixer,
    });
    expect(r.extraSteps).toBe(0);
  },
  trainEnsemble: async () => {
    const r = await api.trainEnsemble({
      ...(await tinyRun()),
      steps: 1,
      members: [
        { proportions: { a: 1 }, seed: 0 },
        { proportions: { b: 1 }, seed: 1 },
      ],
    });
    expect(r).toHaveLength(2);
  },
  learningRate: () => expect(api.learningRate(9, 100, 1e-3, 10, "cosine")).toBeCloseTo(1e-3, 12),
  chooseEnsemble: () => expect(api.chooseEnsemble("wasm", api.PRESETS.tiny!, 16, { freeBytes: 1e9 }).size).toBe(1),
  runSweep: async () => {
    // The sweep's workers are compiled files, so the built package runs it (as the e2e tests do).
    const built = await builtApi();
    expect(built.runSweep.name).toBe(api.runSweep.name);
    const d = tmp();
    const s = await built.runSweep({
      mixtures: [],
      domains: ["code"],
      config: api.PRESETS.tiny!,
      model: "tiny",
      steps: 1,
      batchSize: 1,
      seed: 0,
      train: join(ROOT, "datasets", "corpus", "train"),
      heldout: join(ROOT, "datasets", "corpus", "heldout"),
      runs: join(d, "runs.csv"),
      workers: 1,
      backend: "wasm",
      log: () => {},
    });
    expect(s.finished + s.failed + s.skipped).toBe(0);
    expect(existsSync(join(d, "runs.csv"))).toBe(false);
  },
  // sweep plan, local pool, runs store (branch store)
  resolveSettings: () =>
    expect(settings().warmup).toBe(2),
  runKey: () => {
    const s = settings();
    expect(api.runKey({ a: 0.5, b: 0.5 }, s)).not.toBe(api.runKey({ a: 0.5, b: 0.5 }, { ...s, lr: 1e-3 }));
  },
  planSweep: () => {
    const s = settings();
    const done = new Set([api.runKey({ a: 1 }, s)]);
    expect(api.planSweep({ mixtures: [{ a: 1 }, { b: 1 }, { b: 1 }], settings: s, done })).toMatchObject({
      done: 1,
      repeated: 1,
    });
  },
  settingsCells: () => {
    const s = settings();
    expect(api.settingsCells(s).get("lr")).toBe(3e-3);
  },
  otherSettings: () => {
    const s = settings();
    const f = api.parseFrame(new TextEncoder().encode("run_id,lr\nx,0.01\n"), "csv", "runs.csv");
    expect(api.otherSettings(f, s, [])).toContain("lr: 0.01 in 1 row (here 0.003)");
  },
  corpusSha256: async () => {
    const c = {
      train: join(ROOT, "datasets", "corpus", "train"),
      heldout: join(ROOT, "datasets", "corpus", "heldout"),
    };
    expect(await api.corpusSha256(c)).toMatch(/^[0-9a-f]{64}$/);
  },
  trainChunk: async () => {
    const s = api.resolveSettings({
      model: "tiny",
      config: { ...api.PRESETS.tiny!, seqLen: 8 },
      steps: 1,
      batchSize: 2,
      seed: 0,
      corpusSha256: "c",
      evalWindows: 2,
    });
    const c = {
      train: join(ROOT, "datasets", "corpus", "train"),
      heldout: join(ROOT, "datasets", "corpus", "heldout"),
    };
    const r = await api.trainChunk(
      { id: "k", members: [{ id: "k", proportions: { code: 1 } }], settings: s, ...c, backend: "wasm" },
      tf(),
    );
    expect(r).toHaveLength(1);
  },
  runLocalPool: async () => {
    // No chunk to train: the pool starts a worker, gets null, and ends with it.
    const built = (await import(join(ROOT, "dist", "src", "index.js"))) as typeof api;
    await built.runLocalPool({
      workers: 1,
      next: async () => null,
      done: async () => {},
      train: "",
      heldout: "",
      backend: "wasm",
    });
  },
  SweepInterrupted: () => expect(new api.SweepInterrupted("SIGTERM").code).toBe("E_INTERRUPTED"),
  LockError: () => expect(new api.LockError("held").code).toBe("E_LOCK"),
  appendRuns: async () => {
    const d = tmp();
    const r = await api.appendRuns(join(d, "runs.csv"), [
      new Map([["run_id", "007"], ["w.a", 1]]),
      new Map([["run_id", "007"], ["w.a", 1]]),
    ]);
    expect(r).toEqual({ appended: ["007"], duplicates: ["007"], numRows: 1 });
  },
  withTableLock: async () => expect(await api.withTableLock(join(tmp(), "runs.csv"), () => 7)).toBe(7),
  claimRun: () => {
    const c = api.claimRun(join(tmp(), "runs.csv"), "k");
    expect("key" in c && c.key).toBe("k");
    if ("key" in c) api.releaseClaim(c);
  },
  releaseClaim: () => {
    const d = tmp();
    const c = api.claimRun(join(d, "runs.csv"), "k");
    if ("key" in c) api.releaseClaim(c);
    expect(existsSync(join(d, "runs.csv.claims"))).toBe(false);
  },
  clearDeadClaims: () => expect(api.clearDeadClaims(join(tmp(), "runs.csv"))).toBe(0),
  runIdsOf: () => expect([...api.runIdsOf(runsFrame())]).toEqual(["a", "b", "c", "d", "e", "f"]),
  checkRunsOutput: async () => {
    await expect(api.checkRunsOutput(join(tmp(), "runs.xlsx"), { flag: "--runs", domains: ["a"] })).rejects.toThrow(
      /^--runs: expected a file ending in \.csv/,
    );
  },
  withoutFailedRuns: () => {
    const f = api.parseFrame(
      new TextEncoder().encode("run_id,w.a,w.b,status\nx,0.5,0.5,ok\ny,0.5,0.5,failed\n"),
      "csv",
      "runs.csv",
    );
    expect(api.withoutFailedRuns(f).failed.rows).toEqual([2]);
  },
  failedRunsNote: () => {
    const f = api.parseFrame(
      new TextEncoder().encode("run_id,w.a,w.b,status,error\nx,0.5,0.5,ok,\ny,0.5,0.5,failed,boom\n"),
      "csv",
      "runs.csv",
    );
    expect(api.failedRunsNote(api.buildRunsTable(f))).toBe(
      'note: runs.csv: 1 failed run (status "failed"; row 2) kept in the file and left out: "boom"',
    );
  },
  onlineMixers: () => expect(Object.keys(api.onlineMixers).sort()).toEqual(["aioli", "doremi", "odm", "skillit"]),
  createOnlineMixer: () => {
    const m = api.createOnlineMixer("odm", { domains: ["web", "code"], seed: 1, options: { totalSteps: 100 } });
    expect(api.isOnSimplex(Object.values(m.proportions()))).toBe(true);
    expect(() => m.observe({ kind: "train", step: 0, loss: { nosuch: 1 }, tokens: { nosuch: 1 } })).toThrow(
      api.InputError,
    );
  },
  mergeDomainStats: () =>
    expect(
      api.mergeDomainStats([
        { lossSum: { web: 30 }, tokens: { web: 10 } },
        { loss: { web: 2 }, tokens: { web: 30 } },
      ]),
    ).toEqual({ loss: { web: 2.25 }, tokens: { web: 40 } }),
  // report
  renderSvg: async () =>
    expect(
      api.countMarks(
        await api.renderSvg({
          data: { values: [{ x: 1 }, { x: 2 }] },
          mark: "point",
          encoding: { x: { field: "x", type: "quantitative" } },
        }),
      ),
    ).toBe(2),
  countMarks: () =>
    expect(
      api.countMarks(
        '<svg><g class="mark-symbol role-mark marks"><path d="M0,0"/><path d="M1,1"/></g>' +
          '<g class="mark-rule role-axis-tick"><line/></g></svg>',
      ),
    ).toBe(2),
  domainColors: () => expect(new Set(api.domainColors(Array.from({ length: 20 }, (_, i) => `d${i}`))).size).toBe(20),
  fitSpec: async () => {
    const spec = api.fitSpec({
      title: "t",
      subtitle: "s",
      axis: "loss",
      rows: [
        { predicted: 1, measured: 1.1 },
        { predicted: 2, measured: 1.9 },
      ],
    });
    expect(api.countMarks(await api.renderSvg(spec))).toBe(3); // two runs and the identity line
  },
  recommendationSpec: async () => {
    const spec = api.recommendationSpec({
      domains: ["a", "b"],
      recommended: { a: 0.7, b: 0.3 },
      references: [{ name: "uniform", shares: { a: 0.5, b: 0.5 } }],
    });
    expect(api.countMarks(await api.renderSvg(spec))).toBe(4); // two bars and two reference marks
  },
  weightsOverTokensSpec: async () => {
    const rows = [0, 100].flatMap((tokens) => [
      { tokens, domain: "a", share: 0.6 },
      { tokens, domain: "b", share: 0.4 },
    ]);
    expect(
      api.countMarks(await api.renderSvg(api.weightsOverTokensSpec({ domains: ["a", "b"], method: "odm", rows }))),
    ).toBe(2); // one area per domain
  },
  lossesOverTokensSpec: async () => {
    const rows = [0, 100].flatMap((tokens) => [{ tokens, domain: "a", loss: 3 }, { tokens, domain: "b", loss: 2 }]);
    const spec = api.lossesOverTokensSpec({ domains: ["a", "b"], title: "loss", axis: "loss (nats/token)", rows });
    expect(api.countMarks(await api.renderSvg(spec))).toBe(2 + 4); // a line per domain and its points
  },
  parseReportProportions: () => {
    const doc = {
      format: "mixlab.proportions/v1",
      domains: { a: 0.5, b: 0.5 },
      diagnostics: [{ code: "X", message: "m" }],
    };
    expect(api.parseReportProportions(JSON.stringify(doc), "p.json").diagnostics).toEqual([
      { code: "X", message: "m" },
    ]);
  },
  buildReport: async () => {
    const r = await api.buildReport({ table: runsTable(), methods: ["loglinear"], cvFolds: 0 });
    expect(r.sections.map((s) => s.id)).toEqual(["runs", "notes", "recommendation", "response", "matrix"]);
  },
  reportHtml: async () => {
    const html = api.reportHtml(await api.buildReport({ table: runsTable(), methods: ["loglinear"], cvFolds: 0 }));
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain(`content="default-src 'none';`);
  },
  writeReportFile: async () => {
    const d = tmp();
    writeFileSync(
      join(d, "runs.csv"),
      "run_id,w.web,w.code,w.math,loss.web\na,0.2,0.3,0.5,3.1\nb,0.5,0.25,0.25,2.9\nc,0.1,0.1,0.8,3.3\n" +
        "d,0.4,0.4,0.2,3.0\ne,0.3,0.3,0.4,3.05\n",
    );
    const bytes = await api.writeReportFile({
      runs: join(d, "runs.csv"),
      out: join(d, "r.html"),
      methods: ["loglinear"],
      cvFolds: 0,
    });
    expect(readFileSync(join(d, "r.html")).length).toBe(bytes);
  },
  // The queue (tests/queue and tests/e2e/queue.test.ts run it against a real Redis).
  runWorker: () =>
    expect(api.runWorker({ queue: { url: "http://:pw@host" }, log: () => {} })).rejects.toThrow(
      '--queue: expected redis://[:password@]host:port[/db] or rediss://… (TLS), got scheme "http"',
    ),
  parseQueueUrl: () => expect(api.parseQueueUrl("redis://:pw@h:7000/3").label).toBe("redis://h:7000/3"),
  queueNameFor: () => expect(api.queueNameFor("/x/runs.csv")).toMatch(/^mixlab-[0-9a-f]{16}$/),
  QueueError: () => expect(new api.QueueError("lost Redis").code).toBe("E_QUEUE"),
  // recommendations (fit --method auto, diagnostics, D-CPT, ensembles, synthetic worlds)
  AUTO: () => expect(api.AUTO).toBe("auto"),
  RISK_DEFAULT: () => expect(["mean", "pessimistic"]).toContain(api.RISK_DEFAULT),
  selectionReport: () => {
    // A law that ranks the runs perfectly: ρ = 1 and no regret on its top runs.
    const r = api.selectionReport(Float64Array.from([1, 2, 3, 4, 5]), Float64Array.from([10, 20, 30, 40, 50]));
    expect([r.spearman, r.topDecileRegret, r.firstRegret]).toEqual([1, 0, 0]);
  },
  CRITERION: () => expect(api.CRITERION).toMatch(/within one standard error/),
  chooseByCriterion: () => {
    const good = api.selectionReport(
      Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
      Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    );
    const bad = api.selectionReport(
      Float64Array.from([8, 7, 6, 5, 4, 3, 2, 1]),
      Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    );
    expect(api.chooseByCriterion(new Map([["bad", bad], ["good", good]])).chosen).toBe("good");
  },
  supportDiagnostics: () => {
    // Runs all near (0.5, 0.5); a recommendation at a corner far from them is flagged.
    const weights = Float64Array.from([0.5, 0.5, 0.45, 0.55, 0.55, 0.45, 0.4, 0.6, 0.6, 0.4]);
    const d = api.supportDiagnostics({
      domains: ["a", "b"],
      weights,
      target: Float64Array.from([1, 1.1, 0.9, 1.2, 0.8]),
      recommendation: Float64Array.from([1, 0]),
      predicted: 0.5,
      cvRmse: 0.05,
      cvSpearman: 0.9,
      box: { lower: Float64Array.from([0, 0]), upper: Float64Array.from([1, 1]) },
      nextStep: "",
    });
    expect(d.map((x) => x.code)).toContain("far-from-runs");
  },
  createWorld: () => expect(api.createWorld("bowl", 3, api.createRng(0)).numDomains).toBe(3),
  worldTarget: () => {
    const w = api.createWorld("bowl", 3, api.createRng(0));
    expect(api.worldTarget(w, [1 / 3, 1 / 3, 1 / 3])).toBeCloseTo(
      Array.from(w.losses([1 / 3, 1 / 3, 1 / 3])).reduce((a, b) => a + b, 0) / 3,
      12,
    );
  },
  optimumOf: () => {
    const w = api.createWorld("bowl", 3, api.createRng(0));
    const o = api.optimumOf(w, api.createRng(1));
    expect(o.value).toBeLessThanOrEqual(api.worldTarget(w, [1 / 3, 1 / 3, 1 / 3]) + 1e-12);
  },
  WORLD_FORMS: () => expect(api.WORLD_FORMS).toContain("bowl"),
  dcpt: () => expect(api.dcpt.name).toBe("dcpt"),
  DcptOptionsSchema: () => expect(() => api.DcptOptionsSchema.parse({ nosuch: 1 })).toThrow(),
  EnsembleOptionsSchema: () => expect(api.EnsembleOptionsSchema.parse({}).members).toEqual(["regmix", "dml"]),
  VERSION: () => expect(api.VERSION).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version),
};

describe("public API", () => {
  it("every runtime export has an exercise, and every exercise an export", () => {
    expect(Object.keys(api).filter((k) => !(k in exercises)).sort()).toEqual([]);
    expect(Object.keys(exercises).filter((k) => !(k in api)).sort()).toEqual([]);
  });
  it.each(Object.keys(exercises))("%s", async (name) => {
    await exercises[name]!();
  }, 60_000);
});
