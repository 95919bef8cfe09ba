// The coordinator of a sweep through BullMQ on Redis (`mixlab sweep --queue URL`): it enqueues every run of
// the sweep plan that is not yet in the runs table as a job whose id is the run key (adding it again adds
// nothing), collects finished jobs — BullMQ keeps each result in Redis until then — appends their rows, and
// only then removes the jobs. A coordinator stopped at any point and started again appends nothing twice
// and loses nothing: rows already in the table are skipped, results that finished meanwhile are collected.

import { dirname, relative, resolve } from "node:path";
import { Queue, QueueEvents, type Job } from "bullmq";
import type { Cell } from "../../runs/frame.js";
import { appendRows, runRow } from "../../proxy/runs-io.js";
import { planSweep, progressLine, failedRow, type SweepOptions, type SweepSummary } from "../sweep.js";
import { checkQueueName, connectRedis, parseQueueUrl, queueNameFor, redact, watchConnection, QueueError, QUEUE_REGISTRY } from "./connection.js";
import { corpusContentHash } from "./corpus-hash.js";
import { JOB_FORMAT, type SweepJob, type SweepJobResult } from "./job.js";

/** Where and how a sweep is queued. */
export interface SweepQueueOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS). */
  readonly url: string;
  /** Queue name (default: `mixlab-` + a hash of the runs table's absolute path, so sweeps can share a Redis). */
  readonly name?: string;
  /** How long Redis may stay unreachable mid-sweep before the coordinator exits, in seconds (default 60). */
  readonly reconnectTimeoutS?: number;
  /** Tries of a job that fails for a reason that may pass (a trainer process that died…) (default 3). */
  readonly attempts?: number;
  /** How often the coordinator looks for finished jobs besides Redis's events, in seconds (default 1). */
  readonly pollIntervalS?: number;
}

const PAGE = 500;

/**
 * Runs a sweep through the queue: the plan, the progress line and the row store are the local sweep's.
 * @throws QueueError (exit 1) when Redis cannot be reached at start, or is lost for longer than allowed
 */
export async function runQueueSweep(o: SweepOptions & { readonly queue: SweepQueueOptions }): Promise<SweepSummary> {
  const t0 = performance.now();
  const target = parseQueueUrl(o.queue.url);
  const name = o.queue.name !== undefined ? checkQueueName(o.queue.name) : queueNameFor(o.runs);
  const log = (line: string): void => o.log(redact(line, target));
  const { queue: todo, skipped, done } = await planSweep(o);
  const train = resolve(o.train);
  const heldout = resolve(o.heldout);
  const root = dirname(train);
  const corpus = { hash: await corpusContentHash({ train, heldout }), root, train: relative(root, train), heldout: relative(root, heldout) };
  const redis = await connectRedis(target);
  redis.on("error", () => {});
  const queue = new Queue(name, { connection: redis });
  const eventsConnection = redis.duplicate();
  const events = new QueueEvents(name, { connection: eventsConnection });
  events.on("error", () => {});
  queue.on("error", () => {});

  const pending = new Map(todo.map((j) => [j.id, j.p]));
  const appended = new Set<string>();
  let finished = 0;
  let failed = 0;
  let lastMeanLoss: number | undefined;
  let fatal: Error | null = null;
  let wake: () => void = () => {};
  let needEnqueue = false;
  const reported = new Set<string>();

  const jobOf = (id: string, p: Record<string, number>): SweepJob => ({
    format: JOB_FORMAT,
    key: id,
    domains: [...o.domains],
    proportions: p,
    config: o.config,
    steps: o.steps,
    batchSize: o.batchSize,
    seed: o.seed,
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    backend: o.backend,
    corpus,
  });
  const enqueue = async (): Promise<void> => {
    await redis.sadd(QUEUE_REGISTRY, name);
    const ids = [...pending.keys()].filter((id) => !appended.has(id));
    for (let i = 0; i < ids.length; i += PAGE) {
      await queue.addBulk(
        ids.slice(i, i + PAGE).map((id) => ({
          name: "run",
          data: jobOf(id, pending.get(id)!),
          opts: { jobId: id, attempts: o.queue.attempts ?? 3, backoff: { type: "exponential", delay: 1_000 } },
        })),
      );
    }
  };
  const rowOf = (job: Job, state: "completed" | "failed"): Map<string, Cell> => {
    const p = pending.get(job.id!)!;
    if (state === "completed") {
      const r = job.returnvalue as SweepJobResult;
      const row = runRow(job.id!, o.domains, r.result, { seed: o.seed, model: o.model, status: "ok", error: null, ...o.extra });
      row.set("host", r.host);
      return row;
    }
    return failedRow(o, job.id!, p, redact(job.failedReason || "failed without a reason", target));
  };
  // Appends every finished job of this sweep, then removes those jobs; jobs of runs already in the table
  // (appended by a coordinator stopped before it could remove them) are removed without a second row.
  const collect = async (): Promise<void> => {
    for (const state of ["completed", "failed"] as const) {
      for (;;) {
        const jobs = (await queue.getJobs([state], 0, PAGE - 1)).filter((j): j is Job => Boolean(j?.id));
        const mine = jobs.filter((j) => (pending.has(j.id!) && !appended.has(j.id!)) || done.has(j.id!) || appended.has(j.id!));
        if (mine.length === 0) break;
        const fresh = mine.filter((j) => pending.has(j.id!) && !appended.has(j.id!));
        if (fresh.length) {
          const rows = fresh.map((j) => rowOf(j, state));
          await appendRows(o.runs, rows);
          for (const [k, j] of fresh.entries()) {
            appended.add(j.id!);
            if (state === "completed") {
              finished++;
              lastMeanLoss = rows[k]!.get("loss.mean") as number;
            } else {
              failed++;
              log(`sweep: run ${j.id} failed: ${redact(j.failedReason, target)}`);
            }
            log(progressLine({ finished, failed, total: pending.size, seconds: (performance.now() - t0) / 1000, ...(lastMeanLoss !== undefined ? { lastMeanLoss } : {}) }));
            o.afterRun?.(finished + failed);
          }
        }
        for (const j of mine) await j.remove();
        if (jobs.length < PAGE) break;
      }
    }
  };
  const explain = async (jobId: string, what: string): Promise<void> => {
    if (!pending.has(jobId)) return;
    const job = await queue.getJob(jobId);
    if (!job) return;
    const k = `${jobId}:${job.attemptsMade}:${job.stalledCounter}:${what}`;
    if (reported.has(k)) return;
    reported.add(k);
    if (what === "stalled") log(`sweep: run ${jobId} stalled (its worker stopped renewing the lock: lost or killed); back in the queue`);
    else if (job.attemptsMade > 0 && job.failedReason) log(`sweep: run ${jobId} will be retried (try ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1}): ${redact(job.failedReason, target)}`);
    else if (what === "handed back") log(`sweep: run ${jobId} handed back to the queue by a worker`);
  };
  events.on("completed", () => wake());
  events.on("failed", () => wake());
  events.on("stalled", ({ jobId }) => void explain(jobId, "stalled").catch(() => {}));
  events.on("delayed", ({ jobId }) => void explain(jobId, "delayed").catch(() => {}));
  events.on("waiting", ({ jobId, prev }) => void explain(jobId, prev === "failed" ? "retried" : prev === "active" ? "handed back" : "waiting").catch(() => {}));

  const stopWatching = watchConnection(redis, {
    timeoutMs: (o.queue.reconnectTimeoutS ?? 60) * 1000,
    onLost: () => log(`sweep: lost Redis at ${target.host}:${target.port}; reconnecting (up to ${o.queue.reconnectTimeoutS ?? 60} s)`),
    onBack: () => {
      log(`sweep: Redis at ${target.host}:${target.port} is back; re-adding any job it lost`);
      needEnqueue = true;
      wake();
    },
    onGiveUp: (ms) => {
      fatal = new QueueError(`lost Redis at ${target.host}:${target.port} for ${(ms / 1000).toFixed(0)} s (limit ${o.queue.reconnectTimeoutS ?? 60} s); every collected run is in ${o.runs}, the rest stay queued — run the same command again to resume`);
      wake();
    },
  });

  try {
    await collect();
    await enqueue();
    log(`sweep: ${pending.size - appended.size} runs in queue ${name} on ${target.label}; workers: mixlab worker --queue ${target.label}`);
    const pollMs = (o.queue.pollIntervalS ?? 1) * 1000;
    let lastEnqueue = performance.now();
    while (appended.size < pending.size) {
      const fatalNow = fatal as Error | null;
      if (fatalNow) throw fatalNow;
      if (needEnqueue || performance.now() - lastEnqueue > 30_000) {
        needEnqueue = false;
        lastEnqueue = performance.now();
        await untilFatal(enqueue(), () => fatal);
      }
      await untilFatal(collect(), () => fatal);
      if (appended.size >= pending.size) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, pollMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    await untilFatal(
      (async () => {
        const counts = await queue.getJobCounts();
        if (Object.values(counts).every((n) => n === 0)) {
          await redis.srem(QUEUE_REGISTRY, name);
          await queue.obliterate({ force: true });
        }
      })(),
      () => fatal,
    );
  } finally {
    stopWatching();
    await Promise.race([Promise.all([events.close(), queue.close()]), new Promise((r) => setTimeout(r, 1_000).unref())]);
    eventsConnection.disconnect();
    redis.disconnect();
  }
  return { total: o.mixtures.length, skipped, finished, failed, seconds: (performance.now() - t0) / 1000 };
}

/** Waits for `work`, but rejects with the fatal error as soon as one is set (checked every 200 ms). */
async function untilFatal<T>(work: Promise<T>, fatal: () => Error | null): Promise<T> {
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        const check = (): void => {
          const f = fatal();
          if (f) reject(f);
          else timer = setTimeout(check, 200);
        };
        check();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
