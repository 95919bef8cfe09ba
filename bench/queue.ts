// bench/queue.ts — the distributed sweep's cost, as ratios and per-job figures measured in the same run:
//  1. a sweep of tiny proxies through the queue (coordinator + 2 `mixlab worker`s) against the local pool
//     (`--workers 2`), wall time of the same sweep, alternating the two sides (target ≤ 1.1×);
//  2. per-job overhead of the queue: no-op jobs through the real coordinator and one fake worker, one at a time;
//  3. many fake workers (100 BullMQ workers in a child process) against a local Redis: the coordinator's
//     throughput in jobs/s, and Redis memory per queued job and per finished job awaiting collection
//     (INFO memory), extrapolated to 100 workers × 10,000 runs.
// Run: npm run bench:queue   (not part of the test gate; needs redis-server)

import { spawn, spawnSync, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { startRedis } from "../tests/redis.js";
import { runSweep } from "../src/sweep/sweep.js";
import { resolveSettings, runKey } from "../src/sweep/plan.js";
import { corpusSha256 } from "../src/sweep/corpus-hash.js";
import { JOB_FORMAT, jobIdOf, type SweepJob, type SweepJobResult } from "../src/sweep/queue/job.js";
import { PRESETS } from "../src/proxy/model.js";
import { createRng } from "../src/rng/index.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const BIN = join(ROOT, "bin", "mixlab.js");
const CORPUS = join(ROOT, "datasets", "corpus");
const DOMAINS = ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"];

function fakeResult(p: Record<string, number>): SweepJobResult {
  const loss = Object.fromEntries(DOMAINS.map((d) => [d, 4 + (p[d] ?? 0)]));
  return {
    host: "fake",
    result: {
      proportions: p,
      lossPerDomain: loss,
      bitsPerBytePerDomain: loss,
      trainLoss: 4,
      params: 1,
      tokens: 1,
      steps: 1,
      seconds: 0,
      backend: "fake",
      threads: 1,
      evalCurve: [],
    },
  };
}

/** Child mode: `count` BullMQ workers with no-op processors on one queue until killed. */
async function fakeWorkers(port: number, name: string, count: number): Promise<void> {
  const workers: Worker[] = [];
  for (let i = 0; i < count; i++) {
    workers.push(
      new Worker(name, async (job) => fakeResult((job.data as SweepJob).proportions), {
        connection: { host: "127.0.0.1", port, maxRetriesPerRequest: null },
        concurrency: 1,
      }),
    );
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  process.send!("ready");
}

function mixtures(n: number): Record<string, number>[] {
  const rng = createRng(7);
  return Array.from({ length: n }, () => {
    const w = DOMAINS.map(() => rng.next() + 1e-3);
    const s = w.reduce((a, b) => a + b, 0);
    return Object.fromEntries(DOMAINS.map((d, i) => [d, w[i]! / s]));
  });
}

async function coordinate(port: number, name: string, n: number, dir: string): Promise<number> {
  const t0 = performance.now();
  await runSweep({
    mixtures: mixtures(n), domains: DOMAINS, config: PRESETS.tiny!, model: "tiny", steps: 1, batchSize: 1, seed: 0,
    train: join(CORPUS, "train"), heldout: join(CORPUS, "heldout"), runs: join(dir, `${name}.csv`), backend: "wasm",
    log: () => {}, queue: { url: `redis://127.0.0.1:${port}`, name, pollIntervalS: 0.05 },
  });
  return (performance.now() - t0) / 1000;
}

async function withFakeWorkers<T>(port: number, name: string, count: number, f: () => Promise<T>): Promise<T> {
  const child = fork(fileURLToPath(import.meta.url), ["fake-workers", String(port), name, String(count)], {
    stdio: "inherit",
  });
  await new Promise((r) => child.once("message", r));
  try {
    return await f();
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
  }
}

function sweepWall(args: string[], cwd: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`sweep failed: ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), "mixlab-bench-queue-"));
  const url = redis.url;
  try {
    // 1. Local pool against the queue, same sweep, alternating.
    const K = Number(process.env.BENCH_K ?? 8);
    const sweep = [
      "sweep", "--corpus", CORPUS, "--n", String(K), "--steps", "5", "--batch-size", "8", "--backend", "wasm",
    ];
    const local: number[] = [];
    const queued: number[] = [];
    for (let round = 0; round < 2; round++) {
      local.push(sweepWall([...sweep, "--workers", "2", "--runs", `local-${round}.csv`], dir));
      const ws = [0, 1].map(() =>
        spawn(process.execPath, [BIN, "worker", "--queue", url, "--backend", "wasm"], { cwd: dir, stdio: "ignore" }),
      );
      queued.push(sweepWall([...sweep, "--queue", url, "--runs", `queue-${round}.csv`], dir));
      for (const w of ws) w.kill("SIGTERM");
      await Promise.all(ws.map((w) => new Promise((r) => w.once("exit", r))));
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `1. ${K} tiny proxies (5 steps), 2 processes: local pool ${local.map((x) => x.toFixed(1)).join(", ")} s;` +
        ` queue ${queued.map((x) => x.toFixed(1)).join(", ")} s;` +
        ` ratio queue/local ${(med(queued) / med(local)).toFixed(2)}×` +
        ` (per round: ${queued.map((q, i) => (q / local[i]!).toFixed(2)).join(", ")})`,
    );

    // 2. Per-job overhead: no-op jobs, one worker, one at a time.
    const n2 = 300;
    const serial = await withFakeWorkers(redis.port, "overhead", 1, () => coordinate(redis.port, "overhead", n2, dir));
    console.log(
      `2. per-job overhead of the queue (enqueue → worker → result → row appended → job removed, one at a time):` +
        ` ${((serial / n2) * 1000).toFixed(1)} ms (${n2} no-op jobs in ${serial.toFixed(2)} s)`,
    );

    // 3. Throughput with 100 fake workers, and Redis memory per job.
    const n3 = Number(process.env.BENCH_N ?? 5000);
    const wide = await withFakeWorkers(redis.port, "wide", 100, () => coordinate(redis.port, "wide", n3, dir));
    console.log(
      `3. coordinator with 100 fake workers: ${n3} jobs in ${wide.toFixed(1)} s = ${(n3 / wide).toFixed(0)} jobs/s`,
    );
    const client = new Redis({ host: "127.0.0.1", port: redis.port });
    const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await client.info("memory"))![1]);
    const q = new Queue("memory", { connection: { host: "127.0.0.1", port: redis.port } });
    const before = await used();
    const nMem = 10_000;
    const settings = resolveSettings({
      model: "tiny",
      config: PRESETS.tiny!,
      steps: 100,
      batchSize: 16,
      seed: 0,
      corpusSha256: await corpusSha256({ train: join(CORPUS, "train"), heldout: join(CORPUS, "heldout") }),
    });
    const corpus = { root: CORPUS, train: "train", heldout: "heldout" };
    const ms = mixtures(nMem);
    for (let i = 0; i < nMem; i += 500) {
      await q.addBulk(ms.slice(i, i + 500).map((p) => {
        const key = runKey(p, settings);
        const data: SweepJob = {
          format: JOB_FORMAT,
          key,
          domains: DOMAINS,
          proportions: p,
          settings,
          backend: "auto",
          corpus,
        };
        return {
          name: "run",
          data,
          opts: { jobId: jobIdOf(key), attempts: 3, backoff: { type: "exponential", delay: 1000 } },
        };
      }));
    }
    const queuedBytes = (await used()) - before;
    await withFakeWorkers(redis.port, "memory", 100, async () => {
      while ((await q.getJobCounts("completed")).completed < nMem) await new Promise((r) => setTimeout(r, 200));
    });
    const finishedBytes = (await used()) - before;
    console.log(
      `3. Redis memory: ${(queuedBytes / nMem).toFixed(0)} B per queued job,` +
        ` ${(finishedBytes / nMem).toFixed(0)} B per finished job awaiting collection` +
        ` (${nMem} jobs, INFO used_memory)`,
    );
    console.log(
      `   → 10,000 runs need ≈ ${((Math.max(queuedBytes, finishedBytes) / nMem) * 10_000 / 2 ** 20).toFixed(0)} MiB` +
        ` of Redis at most; 100 workers hold ~${100 * 2} connections (a worker and its blocking client)` +
        ` and, at one tiny proxy per ~60 s each, ask ≈ 1.7 jobs/s of a coordinator that collects` +
        ` ${(n3 / wide).toFixed(0)}/s`,
    );
    await q.obliterate({ force: true });
    await q.close();
    client.disconnect();
  } finally {
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "fake-workers") {
  void fakeWorkers(Number(process.argv[3]), process.argv[4]!, Number(process.argv[5]));
} else {
  await main();
}
