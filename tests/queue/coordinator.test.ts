// The coordinator and the worker through the library API, against a real redis-server, with fake BullMQ
// workers (no training): job ids are run keys, every finished job gives exactly one row, results that
// finished while no coordinator ran are collected, a job whose row is already in the table is removed
// without a second row, and a worker refuses a corpus that differs or a mixture that is wrong.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFileSync, cpSync, existsSync, readdirSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { Queue, Worker } from "bullmq";
import { ROOT, tmp } from "../helpers.js";
import { REDIS_SKIP, startRedis, type TestRedis } from "../redis.js";
import { runSweep, type SweepOptions } from "../../src/sweep/sweep.js";
import { runWorker } from "../../src/sweep/queue/worker.js";
import { corpusSha256 } from "../../src/sweep/corpus-hash.js";
import { resolveSettings, runKey, type RunSettings } from "../../src/sweep/plan.js";
import { JOB_FORMAT, jobIdOf, type SweepJob, type SweepJobResult } from "../../src/sweep/queue/job.js";
import { runRow } from "../../src/proxy/runs-io.js";
import { appendRuns, claimRun, claimsDirOf, releaseClaim, type Claim } from "../../src/runs/store.js";
import { readFrameAsync } from "../../src/runs/frame.js";
import { PRESETS } from "../../src/proxy/model.js";
import { InputError } from "../../src/errors.js";

const CORPUS = join(ROOT, "datasets", "corpus");
const DOMAINS = ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"];
const MIXTURES = [0.1, 0.3, 0.5, 0.7, 0.9].map((x) =>
  Object.fromEntries(DOMAINS.map((d, i) => [d, i === 0 ? x : (1 - x) / 7])),
);

function fakeResult(p: Record<string, number>): SweepJobResult {
  const loss = Object.fromEntries(DOMAINS.map((d) => [d, 4 + (p[d] ?? 0)]));
  return {
    host: "fake-host",
    result: {
      proportions: p, lossPerDomain: loss, bitsPerBytePerDomain: loss, trainLoss: 4,
      params: 1, tokens: 1, steps: 1, seconds: 0, backend: "fake", threads: 1, evalCurve: [],
    },
  };
}

describe.skipIf(REDIS_SKIP !== null)("runSweep({ queue }) and runWorker({ queue })", () => {
  let redis: TestRedis;
  const dirs: string[] = [];
  const dir = (): string => {
    const d = tmp();
    dirs.push(d);
    return d;
  };
  const conn = (): { host: string; port: number; maxRetriesPerRequest: null } => ({
    host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: null,
  });
  const options = (runs: string, name: string, log: string[]): SweepOptions => ({
    mixtures: MIXTURES, domains: DOMAINS, config: PRESETS.tiny!, model: "tiny", steps: 2, batchSize: 4, seed: 0,
    train: join(CORPUS, "train"), heldout: join(CORPUS, "heldout"), runs, backend: "wasm", log: (l) => log.push(l),
    queue: { url: redis.url, name, pollIntervalS: 0.05, reconnectTimeoutS: 2 },
  });
  let settings: RunSettings;
  const keyOf = (p: Record<string, number>): string => runKey(p, settings);
  const corpus = { root: CORPUS, train: "train", heldout: "heldout" };
  const data = (key: string, p: Record<string, number>): SweepJob => ({
    format: JOB_FORMAT, key, domains: DOMAINS, proportions: p, settings, backend: "wasm", corpus,
  });

  beforeAll(async () => {
    redis = await startRedis();
    const corpusHash = await corpusSha256({ train: join(CORPUS, "train"), heldout: join(CORPUS, "heldout") });
    settings = resolveSettings({
      model: "tiny", config: PRESETS.tiny!, steps: 2, batchSize: 4, seed: 0, corpusSha256: corpusHash,
    });
  });
  afterAll(async () => {
    await redis?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("jobs are the plan's runs keyed by run key; each result becomes exactly one row", async () => {
    const d = dir();
    const seen: string[] = [];
    const w = new Worker("lib-a", async (job) => {
      seen.push(job.id!);
      expect((job.data as SweepJob).key).toBe(job.id!.slice(4));
      return fakeResult((job.data as SweepJob).proportions);
    }, { connection: conn() });
    const log: string[] = [];
    try {
      const s = await runSweep(options(join(d, "runs.csv"), "lib-a", log));
      expect(s).toMatchObject({ total: 5, skipped: 0, finished: 5, failed: 0 });
    } finally {
      await w.close();
    }
    expect([...seen].sort()).toEqual(MIXTURES.map((p) => `run-${keyOf(p)}`).sort());
    const f = await readFrameAsync(join(d, "runs.csv"));
    expect(f.numRows).toBe(5);
    expect([...f.cells.get("run_id")!].sort()).toEqual(MIXTURES.map(keyOf).sort());
    expect(new Set(f.cells.get("host"))).toEqual(new Set(["fake-host"]));
    expect(log.at(-1)).toMatch(/^sweep \[█{20}\] 5\/5 /);
  }, 60_000);

  it(
    "on restart: collects results that finished meanwhile, removes a job whose row is already in the table",
    async () => {
      const d = dir();
      const runs = join(d, "runs.csv");
      const [a, b] = [keyOf(MIXTURES[0]!), keyOf(MIXTURES[1]!)];
      // A coordinator appended run a and died before removing its job; run b finished while none ran.
      await appendRuns(runs, [runRow(a, DOMAINS, fakeResult(MIXTURES[0]!).result, settings, { host: "fake-host" })]);
      const q = new Queue("lib-b", { connection: conn() });
      await q.add("run", data(a, MIXTURES[0]!), { jobId: jobIdOf(a) });
      await q.add("run", data(b, MIXTURES[1]!), { jobId: jobIdOf(b) });
      const once = new Worker("lib-b", async (job) => fakeResult((job.data as SweepJob).proportions), {
        connection: conn(),
      });
      while ((await q.getJobCounts("completed")).completed < 2) await new Promise((r) => setTimeout(r, 20));
      await once.close();
      const trained: string[] = [];
      const w = new Worker("lib-b", async (job) => {
        trained.push(job.id!);
        return fakeResult((job.data as SweepJob).proportions);
      }, { connection: conn() });
      const log: string[] = [];
      try {
        const s = await runSweep(options(runs, "lib-b", log));
        expect(s).toMatchObject({ total: 5, skipped: 1, finished: 4, failed: 0 });
      } finally {
        await w.close();
      }
      expect(log[0]).toBe(`sweep: 1 of 5 runs already in ${runs}; 4 to go`);
      expect(trained).not.toContain(jobIdOf(a));
      expect(trained).not.toContain(jobIdOf(b));
      const f = await readFrameAsync(runs);
      expect(f.numRows).toBe(5);
      expect(new Set(f.cells.get("run_id")).size).toBe(5);
      expect(await q.getJob(jobIdOf(a))).toBeUndefined();
      expect(await q.getJob(jobIdOf(b))).toBeUndefined();
      await q.close();
    },
    60_000,
  );

  it("claims what it queues, as the local pool does; a run another live process trains is left to it", async () => {
    const d = dir();
    const runs = join(d, "runs.csv");
    const [held, queued] = [keyOf(MIXTURES[0]!), keyOf(MIXTURES[1]!)];
    const mine = claimRun(runs, held);
    expect("heldBy" in mine).toBe(false);
    const seen: string[] = [];
    const claimedMeanwhile: boolean[] = [];
    const w = new Worker("lib-claims", async (job) => {
      seen.push(job.id!);
      // A local sweep on the same table would find the queued run claimed.
      if (job.id === jobIdOf(queued)) claimedMeanwhile.push("heldBy" in claimRun(runs, queued));
      return fakeResult((job.data as SweepJob).proportions);
    }, { connection: conn() });
    const log: string[] = [];
    try {
      const s = await runSweep(options(runs, "lib-claims", log));
      expect(s).toMatchObject({ total: 5, finished: 4, failed: 0 });
      expect(s.heldElsewhere).toEqual([{ key: held, holder: { pid: process.pid, host: hostname() } }]);
    } finally {
      await w.close();
    }
    expect(claimedMeanwhile).toEqual([true]);
    expect(seen).not.toContain(jobIdOf(held));
    const by = `(pid ${process.pid} on ${hostname()})`;
    expect(log).toContain(`sweep: 1 run was being trained by another process ${by} and left to it: ${held}`);
    // Every claim of the coordinator is gone; the one it left remains until its holder releases it.
    expect(readdirSync(claimsDirOf(runs))).toEqual([held]);
    releaseClaim(mine as Claim);
    expect(existsSync(claimsDirOf(runs))).toBe(false);
  }, 60_000);

  it("Redis lost for longer than reconnectTimeoutS: QueueError naming host and port, nothing appended", async () => {
    const d = dir();
    const log: string[] = [];
    const p = runSweep(options(join(d, "runs.csv"), "lib-c", log));
    while (!log.some((l) => l.includes("runs in queue lib-c"))) await new Promise((r) => setTimeout(r, 20));
    await redis.stop();
    const err = await p.catch((e: Error) => e);
    await redis.start();
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^lost Redis at 127\\.0\\.0\\.1:${redis.port} for [23] s \\(limit 2 s\\); every collected run is in .*runs\\.csv, the rest stay queued`,
      ),
    );
    expect(log).toContainEqual(
      expect.stringMatching(/^sweep: lost Redis at 127\.0\.0\.1:\d+; reconnecting \(up to 2 s\)$/),
    );
  }, 60_000);

  it(
    "a worker whose Redis stays away longer than reconnectTimeoutS exits with a QueueError naming host and port",
    async () => {
      const log: string[] = [];
      const p = runWorker({ queue: { url: redis.url, name: "lib-e", reconnectTimeoutS: 1 }, log: (l) => log.push(l) });
      while (!log.some((l) => l.startsWith("worker: serving queue lib-e"))) await new Promise((r) => setTimeout(r, 20));
      await redis.stop();
      const err = await p.catch((e: Error) => e);
      await redis.start();
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(
        new RegExp(`^lost Redis at 127\\.0\\.0\\.1:${redis.port} for [12] s \\(limit 1 s\\); stopping$`),
      );
      expect(log).toContainEqual(`worker: lost Redis at 127.0.0.1:${redis.port}; reconnecting`);
    },
    60_000,
  );

  it(
    "a worker refuses jobs whose corpus differs (both hashes, its path) and hands them back; a bad mixture fails once",
    async () => {
      const d = dir();
      const other = join(d, "corpus");
      cpSync(CORPUS, other, { recursive: true });
      appendFileSync(join(other, "train", "math.jsonl.br"), "x");
      const q = new Queue("lib-d", { connection: conn() });
      const k1 = keyOf(MIXTURES[0]!);
      await q.add("run", data(k1, MIXTURES[0]!), { jobId: jobIdOf(k1) });
      const log: string[] = [];
      const err = await runWorker({
        queue: { url: redis.url, name: "lib-d" }, corpusRoot: other, log: (l) => log.push(l),
      }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(InputError);
      const local = await corpusSha256({ train: join(other, "train"), heldout: join(other, "heldout") });
      expect((err as Error).message).toBe(
        `--corpus-root: ${other}: expected the sweep's corpus (content hash ${settings.corpusSha256.slice(0, 16)}), got content hash ${local.slice(0, 16)}; refusing the jobs of queue lib-d`,
      );
      expect(await q.getJobState(jobIdOf(k1))).toBe("waiting");
      // A mixture off the simplex: failed for good on the first try, never trained.
      await q.obliterate({ force: true });
      const bad = { ...MIXTURES[0]!, code: 0.9 };
      const k2 = keyOf(bad);
      await q.add("run", data(k2, bad), { jobId: jobIdOf(k2), attempts: 3 });
      const stop = new AbortController();
      const running = runWorker({
        queue: { url: redis.url, name: "lib-d" }, signal: stop.signal, log: (l) => log.push(l),
      });
      while ((await q.getJobState(jobIdOf(k2))) !== "failed") await new Promise((r) => setTimeout(r, 20));
      stop.abort();
      expect(await running).toMatchObject({ completed: 0, failed: 1, interrupted: false });
      const job = (await q.getJob(jobIdOf(k2)))!;
      expect(job.attemptsMade).toBe(1);
      expect(job.failedReason).toMatch(/^mixture: expected shares summing to 1, got 1\.8/);
      expect(log.join("\n")).not.toMatch(/started/);
      await q.obliterate({ force: true });
      await q.close();
    },
    60_000,
  );
});
