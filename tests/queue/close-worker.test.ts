// closeWorker against a real redis-server: while Redis is there it lets the job in progress finish and be
// recorded; with Redis stopped under the worker, it waits for Redis when jobs are in hand and closes at once
// when none are, or once told to stop now.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Queue, Worker } from "bullmq";
import { REDIS_SKIP, startRedis, type TestRedis } from "../redis.js";
import { closeWorker } from "../../src/sweep/queue/close-worker.js";

/** Whether `p` settles within `ms`. */
const settled = async (p: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
};

describe.skipIf(REDIS_SKIP !== null)("closeWorker", () => {
  let redis: TestRedis;
  const workers: Worker[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await redis.start();
    for (const w of workers.splice(0)) await w.close(true);
  });
  afterAll(async () => {
    await redis?.close();
  });

  // A worker of an empty queue whose Redis has just gone: its blocking connection is waiting to reconnect.
  const orphaned = async (): Promise<Worker> => {
    const connection = { host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: null };
    const w = new Worker("close-test", async () => 1, { connection, drainDelay: 1 });
    w.on("error", () => {});
    workers.push(w);
    await w.waitUntilReady();
    const blocking = (await w.getBackend().blockingClient)!;
    await redis.stop();
    while (blocking.status !== "reconnecting") await new Promise((r) => setTimeout(r, 20));
    return w;
  };
  const never = new Promise<void>(() => {});

  it("while Redis is there, lets the job in progress finish and be recorded", async () => {
    const connection = { host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: null };
    const queue = new Queue("gentle-test", { connection });
    let finish: () => void = () => {};
    const started = new Promise<void>((began) => {
      const run = (): Promise<number> => (began(), new Promise<number>((r) => (finish = () => r(7))));
      workers.push(new Worker("gentle-test", run, { connection }));
    });
    await queue.add("run", {}, { jobId: "j1" });
    await started;
    const closing = closeWorker(workers[0]!, { inHand: new Set(["j1"]), now: never });
    expect(await settled(closing, 500)).toBe(false);
    finish();
    expect(await settled(closing, 10_000)).toBe(true);
    const job = await queue.getJob("j1");
    expect([await job!.getState(), job!.returnvalue]).toEqual(["completed", 7]);
    await queue.obliterate({ force: true });
    await queue.close();
  }, 30_000);

  it("with a job in hand, waits for Redis, then closes gently", async () => {
    const w = await orphaned();
    const closing = closeWorker(w, { inHand: new Set(["run-1"]), now: never });
    expect(await settled(closing, 1_500)).toBe(false);
    await redis.start();
    expect(await settled(closing, 10_000)).toBe(true);
  }, 30_000);

  it("with none, closes at once though Redis is away", async () => {
    const w = await orphaned();
    expect(await settled(closeWorker(w, { inHand: new Set(), now: never }), 5_000)).toBe(true);
  }, 30_000);

  it("with a job in hand, closes at once when told to stop now", async () => {
    const w = await orphaned();
    let stopNow: () => void = () => {};
    const now = new Promise<void>((r) => (stopNow = r));
    const closing = closeWorker(w, { inHand: new Set(["run-1"]), now });
    expect(await settled(closing, 1_000)).toBe(false);
    stopNow();
    expect(await settled(closing, 5_000)).toBe(true);
  }, 30_000);
});
