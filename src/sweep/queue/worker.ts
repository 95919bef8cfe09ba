// `mixlab worker`: takes sweep jobs from BullMQ queues on Redis and trains them with the local sweep's trainer.
// BullMQ does the queueing, the locks, the retries and the stalled-job detection; this file checks each job
// (format, mixture, corpus hash), trains it in a child process and returns the result, which BullMQ keeps in
// Redis until the coordinator has appended it to the runs table.

import { hostname } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { Worker, UnrecoverableError, WaitingError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { InputError, ZOD_MESSAGES } from "../../errors.js";
import { connectRedis, isConnectionLoss, watchConnection } from "./connection.js";
import { parseQueueUrl, redact, QueueError, QUEUE_REGISTRY, checkQueueName } from "./url.js";
import { corpusSha256 } from "../corpus-hash.js";
import { runKey } from "../plan.js";
import type { BackendName } from "../../proxy/backend.js";
import { SweepJobSchema, keyOfJobId, mixtureProblem, type SweepJob, type SweepJobResult } from "./job.js";
import { TrainerPool } from "./trainer-pool.js";
import { closeWorker } from "./close-worker.js";

/** Options of a queue worker. */
export interface WorkerQueueOptions {
  /** `redis://[:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** Serve only this queue (default: every sweep registered in Redis, found as they appear). */
  readonly name?: string;
  /** How long Redis may stay unreachable before the worker gives up, in seconds (default 60). */
  readonly reconnectTimeoutS?: number;
  /** How long a job's lock lasts without renewal, in seconds (default 30): a worker silent this long is lost. */
  readonly lockDurationS?: number;
  /** How often workers look for jobs whose lock expired, in seconds (default 30). */
  readonly stalledIntervalS?: number;
  /** How many times a job may stall (its worker lost) before it is recorded as failed (default 2). */
  readonly maxStalledCount?: number;
}

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  readonly queue: WorkerQueueOptions;
  /** Runs trained at once over every queue served, each in its own process (default 1). */
  readonly concurrency?: number;
  /** Backend for every run (default: the one the sweep asked for). */
  readonly backend?: string;
  /** This machine's copy of the corpus (default: the coordinator's path, e.g. on a shared file system). */
  readonly corpusRoot?: string;
  /** Abort to stop after the current jobs. */
  readonly signal?: AbortSignal;
  /** Abort to stop at once: the current jobs go back to the queue for another worker. */
  readonly stopNow?: AbortSignal;
  readonly log: (line: string) => void;
}

/** What a worker did. */
export interface WorkerSummary {
  readonly completed: number;
  readonly failed: number;
  /** Queues whose corpus differs from this machine's (their jobs were handed back). */
  readonly refused: readonly string[];
  /** True when stopped by `stopNow`. */
  readonly interrupted: boolean;
}

/**
 * Serves sweep queues until `signal` (after the current jobs) or `stopNow` (at once) is aborted.
 * @throws InputError (exit 2) when the only queue it serves has another corpus than `corpusRoot`
 * @throws QueueError (exit 1) when Redis cannot be reached at start or stays away longer than allowed
 * @example
 *   const stop = new AbortController();
 *   process.once("SIGTERM", () => stop.abort());
 *   await runWorker({ queue: { url: "redis://127.0.0.1:6379" }, signal: stop.signal, log: console.error });
 */
export async function runWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const target = parseQueueUrl(o.queue.url);
  if (o.queue.name !== undefined) checkQueueName(o.queue.name);
  const concurrency = o.concurrency ?? 1;
  const lockMs = (o.queue.lockDurationS ?? 30) * 1000;
  const stalledMs = (o.queue.stalledIntervalS ?? 30) * 1000;
  const maxStalledCount = o.queue.maxStalledCount ?? 2;
  const redis = await connectRedis(target);
  const pool = new TrainerPool(concurrency);
  const host = hostname();
  const served = new Map<string, Served>();
  // Workers of queues gone from the registry, closing; every worker ever made is closed before this returns.
  const retiring = new Set<Served>();
  const closing = new Map<Served, Promise<void>>();
  const refused = new Map<string, InputError>();
  const hashes = new Map<string, Promise<string>>();
  let completed = 0;
  let failed = 0;
  let stopping = false;
  let interrupted = false;
  let fatal: Error | null = null;
  let wake: () => void = () => {};
  // Settles when the loop must end (a signal, Redis given up): a registry read waiting for Redis gives way.
  let halt: () => void = () => {};
  const halted = new Promise<null>((r) => (halt = () => r(null)));
  const log = (line: string): void => o.log(redact(line, target));
  log(`worker: connected to ${target.label} on ${host}; ${concurrency} run${concurrency === 1 ? "" : "s"} at a time`);

  const localHash = (root: string, job: SweepJob): Promise<string> => {
    const k = `${root}\0${job.corpus.train}\0${job.corpus.heldout}`;
    const splits = { train: join(root, job.corpus.train), heldout: join(root, job.corpus.heldout) };
    if (!hashes.has(k)) hashes.set(k, corpusSha256(splits));
    return hashes.get(k)!;
  };

  const handle = async (name: string, job: Job, token: string | undefined): Promise<SweepJobResult> => {
    const parsed = SweepJobSchema.safeParse(job.data, ZOD_MESSAGES);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new UnrecoverableError(`job data: ${issue.path.join(".") || "document"}: ${issue.message}`);
    }
    const data = parsed.data as SweepJob;
    const s = data.settings;
    const root = o.corpusRoot !== undefined ? resolve(o.corpusRoot) : data.corpus.root;
    let local: string;
    try {
      local = await localHash(root, data);
    } catch (e) {
      local = `no corpus (${(e as Error).message})`;
    }
    if (local !== s.corpusSha256 || refused.has(name)) {
      if (!refused.has(name)) {
        const got = local.startsWith("no corpus") ? local : `content hash ${local.slice(0, 16)}`;
        const source = o.corpusRoot !== undefined ? "--corpus-root" : "corpus";
        const want = `content hash ${s.corpusSha256.slice(0, 16)}`;
        const why = `${root}: expected the sweep's corpus (${want}), got ${got}; refusing the jobs of queue ${name}`;
        const err = new InputError(source, why);
        refused.set(name, err);
        log(`worker: ${err.message}`);
        const queue = served.get(name);
        if (queue) void close(queue).then(() => wake());
      }
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (runKey(data.proportions, s) !== data.key) {
      const why = "is not the run key of its mixture and settings (another mixlab version?)";
      throw new UnrecoverableError(`job data: key ${data.key} ${why}`);
    }
    const problem = mixtureProblem(data);
    if (problem) throw new UnrecoverableError(problem);
    log(`worker: ${name}: run ${data.key} started (try ${job.attemptsMade + 1})`);
    const rel = (p: string): string => (isAbsolute(p) ? p : join(root, p));
    const outcome = await pool.train({
      id: data.key,
      proportions: data.proportions,
      settings: s,
      train: rel(data.corpus.train),
      heldout: rel(data.corpus.heldout),
      backend: (o.backend ?? data.backend) as BackendName,
    });
    // A trainer error (non-finite loss, …) repeats on every try: fail the job for good, recorded once.
    if (!outcome.ok) throw new UnrecoverableError(outcome.error);
    return { result: outcome.result, host };
  };

  const serve = (name: string): void => {
    if (served.has(name) || refused.has(name) || stopping) return;
    const connection = redis.duplicate();
    const inHand = new Set<string>();
    const take = async (job: Job, token: string | undefined): Promise<SweepJobResult> => {
      inHand.add(job.id ?? "");
      try {
        return await handle(name, job, token);
      } catch (e) {
        // Handed back to the queue: nothing of it is left to record.
        if (e instanceof WaitingError) inHand.delete(job.id ?? "");
        throw e;
      }
    };
    const w = new Worker(name, take, {
      connection,
      concurrency,
      lockDuration: lockMs,
      stalledInterval: stalledMs,
      maxStalledCount,
      autorun: true,
    });
    w.on("completed", (job) => {
      inHand.delete(job.id ?? "");
      completed++;
      log(`worker: ${name}: run ${keyOfJobId(job.id) ?? job.id} done (${completed} done, ${failed} failed)`);
    });
    w.on("failed", (job, err) => {
      inHand.delete(job?.id ?? "");
      if (err instanceof WaitingError || err.name === "WaitingError") return;
      failed++;
      log(`worker: ${name}: run ${keyOfJobId(job?.id) ?? job?.id ?? "?"} failed: ${err.message}`);
    });
    w.on("error", (err) => {
      // Each reconnect attempt fails while Redis is away: the watchdog's "lost Redis" line says it once.
      if (!isConnectionLoss(err)) log(`worker: ${name}: ${err.message}`);
    });
    served.set(name, { worker: w, connection, inHand });
    log(`worker: serving queue ${name}`);
  };

  const stopWatching = watchConnection(redis, {
    timeoutMs: (o.queue.reconnectTimeoutS ?? 60) * 1000,
    onLost: () => log(`worker: lost Redis at ${target.host}:${target.port}; reconnecting`),
    onBack: () => log(`worker: Redis at ${target.host}:${target.port} is back`),
    onGiveUp: (ms) => {
      const limit = o.queue.reconnectTimeoutS ?? 60;
      const at = `${target.host}:${target.port}`;
      fatal = new QueueError(`lost Redis at ${at} for ${(ms / 1000).toFixed(0)} s (limit ${limit} s); stopping`);
      wake();
      halt();
      hardStop();
    },
  });
  redis.on("error", () => {});

  const stopGently = (): void => {
    if (stopping) return;
    stopping = true;
    log("worker: stopping after the current run (signal again to stop at once)");
    wake();
    halt();
  };
  let hardStop: () => void = () => {};
  const hard = new Promise<void>((r) => (hardStop = r));
  const close = (s: Served): Promise<void> => {
    if (!closing.has(s)) closing.set(s, closeWorker(s.worker, { inHand: s.inHand, now: hard }));
    return closing.get(s)!;
  };
  const stopHard = (): void => {
    interrupted = true;
    stopping = true;
    wake();
    halt();
    hardStop();
  };
  o.signal?.addEventListener("abort", stopGently, { once: true });
  o.stopNow?.addEventListener("abort", stopHard, { once: true });
  if (o.signal?.aborted) stopGently();
  if (o.stopNow?.aborted) stopHard();

  try {
    if (o.queue.name !== undefined) serve(o.queue.name);
    while (!stopping && fatal === null) {
      if (o.queue.name === undefined) {
        try {
          const read = await Promise.race([redis.smembers(QUEUE_REGISTRY), halted]);
          if (read === null) break;
          const names = read.sort();
          for (const name of names) serve(name);
          // A sweep that finished (its coordinator removed it from the registry): stop serving it once idle.
          for (const [name, s] of served) {
            if (!names.includes(name)) {
              served.delete(name);
              retiring.add(s);
              void close(s).then(() => {
                s.connection.disconnect();
                retiring.delete(s);
                log(`worker: queue ${name} is gone from ${target.label}; no longer serving it`);
              });
            }
          }
        } catch {
          // Redis away: the watchdog decides when to give up.
        }
      } else if (refused.has(o.queue.name)) {
        break;
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 1_000);
      });
    }
  } finally {
    // Gently: the runs in progress finish and are recorded, unless a second signal (or losing Redis) comes
    // meanwhile. At once: stop taking jobs, then kill the trainers (workers first, so a killed trainer is not
    // recorded as a failed try); the jobs in progress keep their locks until those expire, and stalled-job
    // detection hands them to another worker.
    if (interrupted || fatal !== null) hardStop();
    const all = [...served.values(), ...retiring];
    await Promise.all(all.map(close));
    stopWatching();
    for (const s of all) s.connection.disconnect();
    await pool.close(interrupted || fatal !== null);
    redis.disconnect();
  }
  if (fatal !== null) throw fatal;
  if (o.queue.name !== undefined && refused.has(o.queue.name)) throw refused.get(o.queue.name)!;
  const back = interrupted ? "; the runs in progress go back to the queue" : "";
  log(`worker: stopped; ${completed} runs done, ${failed} failed${back}`);
  return { completed, failed, refused: [...refused.keys()], interrupted };
}

/** A queue's BullMQ worker, its connection (BullMQ leaves a connection it was given open) and its jobs taken. */
interface Served {
  readonly worker: Worker;
  readonly connection: Redis;
  /** Jobs taken whose outcome BullMQ has not yet recorded (closing waits for them unless stopped at once). */
  readonly inHand: Set<string>;
}
