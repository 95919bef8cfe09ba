// `mixlab sweep`: many proxy runs on a local pool of worker processes, resumable.

import type { Command } from "commander";
import { cpus, freemem } from "node:os";
import { InputError } from "../../errors.js";
import { readFrameAsync } from "../../runs/frame.js";
import { buildRunsTable } from "../../runs/table.js";
import { positiveInt, positiveNumber, addProxyFlags, proxyConfig, type ProxyFlags } from "../flags.js";
import { PRESETS } from "../../proxy/model.js";
import { runSweep } from "../../sweep/sweep.js";
import { SweepInterrupted } from "../../sweep/pool.js";
import { checkRunsOutput } from "../../runs/check.js";
import { designSwarm, DirichletSwarmOptionsSchema } from "../../../mixers/dirichlet/index.js";
import { createRng } from "../../rng/index.js";
import { openCorpus } from "../../sampler/corpus.js";
import { corpusSplits } from "./train.js";
import { exitSoonAfterward, log } from "../output.js";
import { probeBackend, type BackendName } from "../../proxy/backend.js";
import { chooseEnsemble } from "../../proxy/ensemble-size.js";
import { parseQueueUrl, checkQueueName } from "../../sweep/queue/url.js";

export function sweepCommand(program: Command): void {
  const cmd = program
    .command("sweep")
    .summary("train many proxies (a table of mixtures, or a RegMix swarm of K) on a local worker pool; resumable")
    .option("--mixtures <file>", "a table with w.<domain> columns (e.g. from mixlab suggest)")
    .option("--n <k>", "design a RegMix swarm of K mixtures around the natural shares instead", positiveInt)
    .option("--workers <w>", "worker processes (default: one per core)", positiveInt)
    .option(
      "--ensemble <k>",
      "mixtures trained together in one batched step (default: 1 on the CPU backends, where it pays little; " +
        "on GPU backends as many as the binding limit and free memory allow, up to 32)",
      positiveInt,
    )
    .requiredOption("--runs <file>", "the runs table to append to (.csv, .jsonl, .arrow, .parquet)")
    .option(
      "--queue <url>",
      "coordinate through BullMQ on Redis: redis://[:password@]host:port[/db] or rediss:// (TLS); workers train",
    )
    .option("--queue-name <name>", "queue name (default: mixlab- + a hash of the runs table's absolute path)")
    .option(
      "--redis-timeout <s>",
      "with --queue: seconds Redis may be away mid-sweep before exit 1 (default 60; at start: 5 s)",
      positiveNumber,
    )
    .option("--attempts <n>", "with --queue: tries of a run failing for a reason that may pass (3)", positiveInt);
  addProxyFlags(cmd, Object.keys(PRESETS))
    .addHelpText(
      "after",
      "\nExamples:\n  $ mixlab sweep --n 32 --steps 100 --runs runs.arrow\n" +
        "  $ mixlab sweep --mixtures next.csv --runs runs.arrow --workers 2   # rerun the same command to resume",
    )
    .action(async (f: ProxyFlags & SweepFlags & QueueFlags) => {
      const config = proxyConfig(f);
      const queue = queueFlags(f);
      if ((f.mixtures ? 1 : 0) + (f.n ? 1 : 0) !== 1) throw new InputError(
        "--mixtures",
        "expected exactly one of --mixtures or --n",
      );
      const splits = corpusSplits(f.corpus, f.heldout);
      const corpus = await openCorpus(splits.train);
      const domains = corpus.names;
      let mixtures: Record<string, number>[];
      if (f.mixtures) {
        const t = buildRunsTable(await readFrameAsync(f.mixtures));
        const unknown = t.domains.filter((d) => !domains.includes(d));
        if (unknown.length) throw new InputError(
          f.mixtures,
          `expected domains of the corpus (${domains.join(", ")}), got unknown ${unknown.join(", ")}`,
        );
        mixtures = Array.from(
          { length: t.numRuns },
          (_, i) => Object.fromEntries(t.domains.map((d, j) => [d, t.weights[i * t.domains.length + j]!])),
        );
      } else {
        const bytes = corpus.sources.map((s) => s.totalBytes);
        const total = bytes.reduce((a, b) => a + b, 0);
        const w = designSwarm(
          { domains, n: f.n!, prior: Float64Array.from(bytes, (b) => b / total) },
          DirichletSwarmOptionsSchema.parse({}),
          createRng(f.seed).derive("sweep-swarm"),
        );
        mixtures = Array.from(
          { length: f.n! },
          (_, i) => Object.fromEntries(domains.map((d, j) => [d, w[i * domains.length + j]!])),
        );
      }
      await corpus.close();
      await checkRunsOutput(f.runs, { flag: "--runs", domains });
      const workers = f.workers ?? cpus().length;
      let ensemble = f.ensemble;
      if (ensemble === undefined && !queue) {
        const probe = await probeBackend(f.backend as BackendName);
        const choice = chooseEnsemble(probe.backend, config, f.batchSize, {
          ...(probe.maxBindingBytes !== undefined ? { maxBindingBytes: probe.maxBindingBytes } : {}),
          freeBytes: freemem(),
        });
        ensemble = Math.min(choice.size, Math.max(1, Math.ceil(mixtures.length / workers)));
        log(
          `ensemble: ${ensemble} mixture${ensemble === 1 ? "" : "s"} per batched step ` +
            `(${choice.why}${ensemble < choice.size ? `; fewer, to keep every worker busy` : ""}; ` +
            `--ensemble K to choose)`,
        );
      }
      // SIGINT/SIGTERM stop the workers (with --queue: the coordinator; queued runs stay queued), keep every
      // finished row and release the claims; a second one exits at once.
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        if (stop.signal.aborted) process.exit(sig === "SIGINT" ? 130 : 143);
        log(`sweep: ${sig}: stopping the workers; finished runs are kept`);
        stop.abort(sig);
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        const { model, steps, batchSize, seed, lr } = f;
        const { train, heldout } = splits;
        const backend = f.backend as BackendName;
        const runs = f.runs;
        const withQueue = queue ? { queue } : {};
        const withEnsemble = ensemble !== undefined ? { ensemble } : {};
        const pool = { workers, ...withEnsemble, backend, log, signal: stop.signal, ...withQueue };
        const s = await runSweep({
          mixtures,
          domains,
          config,
          model,
          steps,
          batchSize,
          seed,
          train,
          heldout,
          runs,
          lr,
          ...pool,
        });
        const left = s.heldElsewhere.length ? `, ${s.heldElsewhere.length} left to another sweep` : "";
        const took = `in ${s.seconds.toFixed(1)} s → ${f.runs}`;
        log(`sweep: ${s.finished} finished, ${s.failed} failed, ${s.skipped} already done${left}, ${took}`);
        log(`plots of these runs: mixlab report ${f.runs} -o report.html`);
        if (s.failed) process.exitCode = 1;
      } catch (e) {
        if (!(e instanceof SweepInterrupted)) throw e;
        log(`error: ${e.message}`);
        process.exitCode = e.reason === "SIGINT" ? 130 : 143;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        if (queue) exitSoonAfterward();
      }
    });
}

/** The queue flags as runSweep's `queue` option (checked before any work), or undefined without --queue. */
interface SweepFlags {
  mixtures?: string;
  n?: number;
  workers?: number;
  ensemble?: number;
  runs: string;
}

interface QueueFlags {
  queue?: string;
  queueName?: string;
  redisTimeout?: number;
  attempts?: number;
}

function queueFlags(f: QueueFlags & { ensemble?: number }) {
  if (f.queue === undefined) {
    for (const flag of ["queueName", "redisTimeout", "attempts"] as const) {
      const name = `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      if (f[flag] !== undefined) throw new InputError(name, "expected --queue <url> with it, got no --queue");
    }
    return undefined;
  }
  parseQueueUrl(f.queue);
  if (f.queueName !== undefined) checkQueueName(f.queueName);
  if (f.ensemble !== undefined && f.ensemble !== 1) {
    const why = `expected 1 (or none) with --queue: each queued job trains one mixture, got ${f.ensemble}`;
    throw new InputError("--ensemble", why);
  }
  return {
    url: f.queue,
    ...(f.queueName !== undefined ? { name: f.queueName } : {}),
    ...(f.redisTimeout !== undefined ? { reconnectTimeoutS: f.redisTimeout } : {}),
    ...(f.attempts !== undefined ? { attempts: f.attempts } : {}),
  };
}
