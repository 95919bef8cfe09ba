// The coordinator of a sweep through BullMQ on Redis (`mixlab sweep --queue URL`): it enqueues every run of
// the sweep plan that is not yet in the runs table as a job whose id is `run-` + the run key (adding it again
// adds nothing), collects finished jobs — BullMQ keeps each result in Redis until then — appends their rows
// through the table's store (under its lock; a key already there is never written twice), and only then
// removes the jobs. Stopped at any point and started again, it appends nothing twice and loses nothing. It
// claims each run it queues (as the local pool claims what it trains) until the run's row is in the table.

import { dirname, relative, resolve } from "node:path";
import { Queue, QueueEvents, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Cell } from "../../runs/frame.js";
import { appendRuns, claimRun, readRunsFile, releaseClaim, runIdsOf } from "../../runs/store.js";
import type { Claim, Holder } from "../../runs/store.js";
import { failedRunRow, runRow } from "../../proxy/runs-io.js";
import type { RunSettings, SweepPlan } from "../plan.js";
import { SweepInterrupted } from "../pool.js";
import { othersLines, progressLine, type SweepOptions, type SweepSummary } from "../sweep.js";
import { connectRedis, watchConnection } from "./connection.js";
import { checkQueueName, parseQueueUrl, queueNameFor, redact, QueueError, QUEUE_REGISTRY } from "./url.js";
import { JOB_FORMAT, jobIdOf, keyOfJobId, type SweepJob, type SweepJobResult } from "./job.js";

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

/** What runSweep hands the coordinator: the options, and the plan it made (shared with the local pool). */
export interface QueueSweepInput {
  readonly sweep: SweepOptions;
  readonly queue: SweepQueueOptions;
  readonly plan: SweepPlan;
  readonly settings: RunSettings;
  readonly skipped: number;
  readonly otherSettings: readonly string[];
  /** performance.now() when the sweep began. */
  readonly t0: number;
}

const PAGE = 500;

/**
 * Runs a planned sweep through the queue (called by runSweep when its `queue` option is set).
 * @throws QueueError (exit 1) when Redis cannot be reached at start, or is lost for longer than allowed
 * @throws SweepInterrupted when the sweep's signal aborts (queued runs stay queued; results stay in Redis)
 */
export async function runQueueSweep(input: QueueSweepInput): Promise<SweepSummary> {
  const { sweep: o, plan, settings, t0 } = input;
  const q = input.queue;
  const target = parseQueueUrl(q.url);
  const name = q.name !== undefined ? checkQueueName(q.name) : queueNameFor(o.runs);
  const log = (line: string): void => o.log(redact(line, target));
  const train = resolve(o.train);
  const root = dirname(train);
  const corpus = { root, train: relative(root, train), heldout: relative(root, resolve(o.heldout)) };
  const pending = new Map(plan.todo.map((s) => [s.key, s.proportions]));
  const done = new Set(plan.keys.filter((k) => !pending.has(k)));
  const appended = new Set<string>();
  // Each queued run is claimed, as the local pool claims what it trains: a local sweep or train on the
  // same table leaves these runs alone, and runs a live one is training are left to it (not queued).
  const claims = new Map<string, Claim>();
  const heldElsewhere: { key: string; holder: Holder }[] = [];
  let alsoDone = 0;
  const summary = (): SweepSummary => ({
    total: o.mixtures.length,
    skipped: input.skipped + alsoDone,
    finished,
    failed,
    heldElsewhere,
    keys: plan.keys,
    settings,
    otherSettings: input.otherSettings,
    seconds: (performance.now() - t0) / 1000,
  });
  let finished = 0;
  let failed = 0;
  const release = (key: string): void => {
    const c = claims.get(key);
    if (c) releaseClaim(c);
    claims.delete(key);
  };
  for (const key of [...pending.keys()]) {
    const c = claimRun(o.runs, key);
    if ("heldBy" in c) {
      heldElsewhere.push({ key, holder: c.heldBy });
      pending.delete(key);
    } else claims.set(key, c);
  }
  // Finished by another process between the plan and the claims: nothing to queue.
  const now = runIdsOf(await readRunsFile(o.runs));
  for (const key of [...pending.keys()]) {
    if (!now.has(key)) continue;
    release(key);
    pending.delete(key);
    done.add(key);
    alsoDone++;
  }
  const ended = (): SweepSummary => {
    for (const key of [...claims.keys()]) release(key);
    for (const line of othersLines(alsoDone, heldElsewhere)) log(line);
    return summary();
  };
  if (pending.size === 0) return ended();

  let redis: Redis;
  try {
    redis = await connectRedis(target);
  } catch (e) {
    for (const key of [...claims.keys()]) release(key);
    throw e;
  }
  redis.on("error", () => {});
  const eventsConnection: Redis = redis.duplicate();
  const queue = new Queue(name, { connection: redis });
  const events = new QueueEvents(name, { connection: eventsConnection });
  events.on("error", () => {});
  queue.on("error", () => {});
  let lastMeanLoss: number | undefined;
  let fatal: Error | null = null;
  let wake: () => void = () => {};
  let needEnqueue = false;
  const reported = new Set<string>();

  const jobOf = (key: string, p: Readonly<Record<string, number>>): SweepJob => {
    const domains = [...o.domains];
    return { format: JOB_FORMAT, key, domains, proportions: { ...p }, settings, backend: o.backend, corpus };
  };
  const enqueue = async (): Promise<void> => {
    await redis.sadd(QUEUE_REGISTRY, name);
    const keys = [...pending.keys()].filter((k) => !appended.has(k));
    for (let i = 0; i < keys.length; i += PAGE) {
      await queue.addBulk(
        keys.slice(i, i + PAGE).map((key) => ({
          name: "run",
          data: jobOf(key, pending.get(key)!),
          opts: { jobId: jobIdOf(key), attempts: q.attempts ?? 3, backoff: { type: "exponential", delay: 1_000 } },
        })),
      );
    }
  };
  const keyOf = (job: Job): string => keyOfJobId(job.id) ?? "";
  const rowOf = (job: Job, state: "completed" | "failed"): Map<string, Cell> => {
    const key = keyOf(job);
    if (state === "completed") {
      const r = job.returnvalue as SweepJobResult;
      const row = runRow(key, o.domains, r.result, settings, o.extra);
      row.set("host", r.host);
      return row;
    }
    const reason = redact(job.failedReason || "failed without a reason", target);
    return failedRunRow(key, o.domains, pending.get(key)!, settings, reason, o.extra);
  };
  // Appends every finished job of this sweep, then removes those jobs. Jobs of runs already in the table
  // (appended by a coordinator stopped before it could remove them) are removed without a second row.
  const collect = async (): Promise<void> => {
    for (const state of ["completed", "failed"] as const) {
      for (;;) {
        const jobs = (await queue.getJobs([state], 0, PAGE - 1)).filter((j): j is Job => Boolean(j?.id));
        const mine = jobs.filter((j) => pending.has(keyOf(j)) || done.has(keyOf(j)));
        if (mine.length === 0) break;
        const fresh = mine.filter((j) => pending.has(keyOf(j)) && !appended.has(keyOf(j)));
        if (fresh.length) {
          const rows = fresh.map((j) => rowOf(j, state));
          const onWait = (h: Holder | null): void => {
            log(`sweep: waiting for the lock of ${o.runs}${h ? ` (held by pid ${h.pid} on ${h.host})` : ""}`);
          };
          const r = await appendRuns(o.runs, rows, { onWait });
          if (r.duplicates.length) {
            log(`sweep: runs ${r.duplicates.join(", ")} were already in ${o.runs}; not written twice`);
          }
          for (const [k, j] of fresh.entries()) {
            appended.add(keyOf(j));
            release(keyOf(j));
            if (state === "completed") {
              finished++;
              lastMeanLoss = rows[k]!.get("loss.mean") as number;
            } else {
              failed++;
              log(`sweep: run ${keyOf(j)} failed: ${redact(j.failedReason, target)}`);
            }
            const last = lastMeanLoss !== undefined ? { lastMeanLoss } : {};
            const seconds = (performance.now() - t0) / 1000;
            log(progressLine({ finished, failed, total: pending.size, seconds, ...last }));
            o.afterRun?.(finished + failed);
          }
        }
        for (const j of mine) await j.remove();
        if (jobs.length < PAGE) break;
      }
    }
  };
  const explain = async (jobId: string, what: string): Promise<void> => {
    const key = keyOfJobId(jobId);
    if (key === null || !pending.has(key)) return;
    const job = await queue.getJob(jobId);
    if (!job) return;
    const k = `${jobId}:${job.attemptsMade}:${job.stalledCounter}:${what}`;
    if (reported.has(k)) return;
    reported.add(k);
    const tries = `try ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1}`;
    const reason = redact(job.failedReason ?? "", target);
    const stalled = "stalled (its worker stopped renewing the lock: lost or killed); back in the queue";
    if (what === "stalled") log(`sweep: run ${key} ${stalled}`);
    else if (job.attemptsMade > 0 && job.failedReason) log(`sweep: run ${key} will be retried (${tries}): ${reason}`);
    // A stalled job also comes back from active: its "stalled" line says why.
    else if (what === "handed back" && job.stalledCounter === 0) {
      log(`sweep: run ${key} handed back to the queue by a worker`);
    }
  };
  events.on("completed", () => wake());
  events.on("failed", () => wake());
  events.on("stalled", ({ jobId }) => void explain(jobId, "stalled").catch(() => {}));
  events.on("delayed", ({ jobId }) => void explain(jobId, "delayed").catch(() => {}));
  events.on("waiting", ({ jobId, prev }) => {
    const what = prev === "failed" ? "retried" : prev === "active" ? "handed back" : "waiting";
    void explain(jobId, what).catch(() => {});
  });

  const limitS = q.reconnectTimeoutS ?? 60;
  const stopWatching = watchConnection(redis, {
    timeoutMs: limitS * 1000,
    onLost: () => log(`sweep: lost Redis at ${target.host}:${target.port}; reconnecting (up to ${limitS} s)`),
    onBack: () => {
      log(`sweep: Redis at ${target.host}:${target.port} is back; re-adding any job it lost`);
      needEnqueue = true;
      wake();
    },
    onGiveUp: (ms) => {
      const lost = `lost Redis at ${target.host}:${target.port} for ${(ms / 1000).toFixed(0)} s (limit ${limitS} s)`;
      const rest = "the rest stay queued — run the same command again to resume";
      fatal = new QueueError(`${lost}; every collected run is in ${o.runs}, ${rest}`);
      wake();
    },
  });
  const onAbort = (): void => {
    fatal = new SweepInterrupted(String(o.signal?.reason ?? "aborted"));
    wake();
  };
  o.signal?.addEventListener("abort", onAbort, { once: true });
  if (o.signal?.aborted) onAbort();
  const guard = <T>(work: Promise<T>): Promise<T> => untilFatal(work, () => fatal);

  try {
    await guard(collect());
    await guard(enqueue());
    const queued = pending.size - appended.size;
    log(`sweep: ${queued} runs in queue ${name} on ${target.label}; workers: mixlab worker --queue ${target.label}`);
    const pollMs = (q.pollIntervalS ?? 1) * 1000;
    let lastEnqueue = performance.now();
    while (appended.size < pending.size) {
      const fatalNow = fatal as Error | null;
      if (fatalNow) throw fatalNow;
      if (needEnqueue || performance.now() - lastEnqueue > 30_000) {
        needEnqueue = false;
        lastEnqueue = performance.now();
        await guard(enqueue());
      }
      await guard(collect());
      if (appended.size >= pending.size) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, pollMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    await guard(
      (async () => {
        const counts = await queue.getJobCounts();
        if (Object.values(counts).every((n) => n === 0)) {
          await redis.srem(QUEUE_REGISTRY, name);
          await queue.obliterate({ force: true });
        }
      })(),
    );
  } finally {
    for (const key of [...claims.keys()]) release(key);
    stopWatching();
    o.signal?.removeEventListener("abort", onAbort);
    const closing = Promise.all([events.close(), queue.close()]);
    await Promise.race([closing, new Promise((r) => setTimeout(r, 1_000).unref())]);
    eventsConnection.disconnect();
    redis.disconnect();
  }
  return ended();
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
