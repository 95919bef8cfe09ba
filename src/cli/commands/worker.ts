// `mixlab worker`: takes sweep jobs from a BullMQ queue on Redis and trains them, on any machine. The first
// SIGTERM/SIGINT stops it after the runs in progress; a second stops it at once, handing those runs back.

import type { Command } from "commander";
import { InputError } from "../../errors.js";
import { BACKENDS, type BackendName } from "../../proxy/backend.js";
import { positiveInt, positiveNumber, nonNegativeInt } from "../flags.js";
import { exitSoonAfterward, log } from "../output.js";
import { parseQueueUrl, checkQueueName } from "../../sweep/queue/url.js";

interface WorkerFlags {
  queue: string;
  queueName?: string;
  concurrency: number;
  backend?: string;
  corpusRoot?: string;
  lockDuration: number;
  stalledInterval: number;
  maxStalled: number;
  redisTimeout: number;
}

export function workerCommand(program: Command): void {
  program
    .command("worker")
    .summary("train the runs of `mixlab sweep --queue` sweeps, on this machine")
    .requiredOption("--queue <url>", "Redis of the sweep: redis://[:password@]host:port[/db] or rediss:// (TLS)")
    .option("--queue-name <name>", "serve only this queue (default: every sweep registered in that Redis)")
    .option("--concurrency <n>", "runs trained at once, over every queue served, one process each", positiveInt, 1)
    .option("--backend <name>", `backend for every run: ${BACKENDS.join(", ")} (default: the sweep's --backend)`)
    .option(
      "--corpus-root <dir>",
      "this machine's copy of the sweep's corpus (default: the coordinator's path); its content hash must match",
    )
    .option(
      "--lock-duration <s>",
      "a run's lock lasts this long without renewal; a worker silent longer is taken as lost",
      positiveNumber,
      30,
    )
    .option("--stalled-interval <s>", "how often to look for runs whose worker was lost", positiveNumber, 30)
    .option("--max-stalled <n>", "times a run may lose its worker before it is recorded as failed", nonNegativeInt, 2)
    .option(
      "--redis-timeout <s>",
      "how long Redis may stay unreachable mid-run before the worker exits 1 (at start: 5 s)",
      positiveNumber,
      60,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ mixlab worker --queue redis://:secret@10.0.0.5:6379 --concurrency 2\n" +
        "  $ mixlab worker --queue redis://10.0.0.5:6379 --corpus-root /data/corpus --backend wasm",
    )
    .action(async (f: WorkerFlags) => {
      parseQueueUrl(f.queue);
      if (f.queueName !== undefined) checkQueueName(f.queueName);
      if (f.backend !== undefined && !BACKENDS.includes(f.backend as BackendName)) {
        throw new InputError("--backend", `expected one of ${BACKENDS.join(", ")}, got ${JSON.stringify(f.backend)}`);
      }
      const gentle = new AbortController();
      const now = new AbortController();
      // Once the worker has stopped, a signal while the connections close ends the process at once, with the
      // worker's exit code (set by then), rather than killing it (143) after it said it stopped. The handler
      // stays installed throughout: removing it, even for a moment, would let a signal kill the process.
      let stopped = false;
      const onSignal = (): void => {
        if (stopped) setImmediate(() => process.exit(process.exitCode ?? 0));
        else if (gentle.signal.aborted) now.abort();
        else gentle.abort();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      try {
        // BullMQ is loaded only when a worker runs, not for every mixlab command.
        const { runWorker } = await import("../../sweep/queue/worker.js");
        const s = await runWorker({
          queue: {
            url: f.queue,
            ...(f.queueName !== undefined ? { name: f.queueName } : {}),
            lockDurationS: f.lockDuration,
            stalledIntervalS: f.stalledInterval,
            maxStalledCount: f.maxStalled,
            reconnectTimeoutS: f.redisTimeout,
          },
          concurrency: f.concurrency,
          ...(f.backend !== undefined ? { backend: f.backend } : {}),
          ...(f.corpusRoot !== undefined ? { corpusRoot: f.corpusRoot } : {}),
          signal: gentle.signal,
          stopNow: now.signal,
          log,
        });
        if (s.interrupted) process.exitCode = 1;
      } finally {
        stopped = true;
        exitSoonAfterward();
      }
    });
}
