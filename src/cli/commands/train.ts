// `mixlab train`: one proxy run on a mixture; appends its row to a runs table.

import { readInputText } from "../../io/read.js";
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { domainMapFlag, addProxyFlags, proxyConfig, positiveInt, type ProxyFlags } from "../flags.js";
import { InputError } from "../../errors.js";
import { parseProportions } from "../../export/proportions.js";
import { loadTf, type BackendName } from "../../proxy/backend.js";
import { trainProxy } from "../../proxy/train.js";
import { PRESETS, parameterCount } from "../../proxy/model.js";
import { runRow } from "../../proxy/runs-io.js";
import { discoverCorpus } from "../../sampler/corpus.js";
import { checkRunsOutput } from "../../runs/check.js";
import { appendRuns, claimRun, releaseClaim, runIdsOf, type Claim } from "../../runs/store.js";
import { resolveSettings, runKey } from "../../sweep/plan.js";
import { corpusSha256 } from "../../sweep/corpus-hash.js";
import { log, table, f4 } from "../output.js";
import { jsonObjectFlag } from "../flags.js";
import { createOnlineMixer } from "../../../mixers/online.js";
import { trainOnlineCli, type TrainOnlineFlags } from "./train-online.js";

/** A built corpus folder (train/ + heldout/) or a train directory with --heldout. */
export function corpusSplits(corpus: string, heldout?: string): { train: string; heldout: string } {
  if (heldout) return { train: corpus, heldout };
  if (existsSync(join(corpus, "train")) && existsSync(join(corpus, "heldout"))) return {
    train: join(corpus, "train"),
    heldout: join(corpus, "heldout"),
  };
  throw new InputError(
    "--corpus",
    "expected a built corpus folder with train/ and heldout/ (mixlab datasets build), or --heldout DIR, " +
      `got ${JSON.stringify(corpus)}`,
  );
}

export function trainCommand(program: Command): void {
  const cmd = program
    .command("train")
    .summary("train one proxy model on a mixture; append its per-domain losses to a runs table")
    .option("--mixture <file>", "proportions JSON (mixlab.proportions/v1)")
    .option(
      "--weights <map>",
      "weights as domain=value pairs, normalised to proportions (a note says so when they do not sum to 1), " +
        "e.g. code=0.3,legal=0.7",
      domainMapFlag,
    )
    .option("--runs <file>", "append the run's row to this runs table (.csv, .jsonl, .arrow, .parquet)")
    .option("--eval-every <n>", "also evaluate every domain's held-out split every N steps (printed)", positiveInt)
    .option(
      "--threads <n>",
      "data-parallel threads for the step on the CPU backends (1.4–1.9× on 2 cores, measured); " +
        "results depend on the count, so it is recorded in the row (default 1)",
      positiveInt,
    )
    .option(
      "--online <method>",
      "train while an online mixer steers the sampler: odm, aioli, skillit or doremi (README \"Online mixing\")",
    )
    .option(
      "--online-options <json>",
      "with --online: the method's options as a JSON object (mixers/<method>/README.md)",
      jsonObjectFlag,
    )
    .option(
      "--online-answer <kind>",
      "with --online odm|aioli|skillit: the static answer in -o, final (last mixture) or average " +
        "(token-weighted over the run); doremi answers its time average",
    )
    .option(
      "-o, --out <file>",
      "with --online: write the schedule used, the static answer and the trajectory (mixlab.proportions/v1)",
    )
    .option(
      "--checkpoint <file>",
      "with --online: checkpoint file (weights, optimizer, sampler + mixer state); resumed from when it exists",
    )
    .option("--checkpoint-every <n>", "with --checkpoint: steps between checkpoints (default steps/10)", positiveInt)
    .option(
      "--rounds <n>",
      "with --online doremi: iterated DoReMi rounds, each round's average the next reference (default 1)",
      positiveInt,
    )
    .option(
      "--graph-steps <n>",
      "with --online skillit: steps of each single-domain run of the skills graph (default steps/10, at least 5)",
      positiveInt,
    );
  addProxyFlags(cmd, Object.keys(PRESETS))
    .addHelpText("after", "\nExample:\n  $ mixlab train --weights code=0.5,speeches=0.5 --steps 50 --runs runs.arrow")
    .action(async (f: ProxyFlags & {
      mixture?: string;
      weights?: Record<string, number>;
      runs?: string;
      evalEvery?: number;
      threads?: number;
      online?: string;
    }) => {
      if (f.online !== undefined) return trainOnlineCli(f as TrainOnlineFlags, createOnlineMixer);
      const onlineOnly: [string, string][] = [
        ["out", "-o"],
        ["checkpoint", "--checkpoint"],
        ["checkpointEvery", "--checkpoint-every"],
        ["rounds", "--rounds"],
        ["graphSteps", "--graph-steps"],
        ["onlineOptions", "--online-options"],
        ["onlineAnswer", "--online-answer"],
      ];
      for (const [key, flag] of onlineOnly)
        if ((f as unknown as Record<string, unknown>)[key] !== undefined)
          throw new InputError(flag, "expected it only with --online, got it without");
      const config = proxyConfig(f);
      if ((f.mixture ? 1 : 0) + (f.weights ? 1 : 0) !== 1) throw new InputError(
        "--mixture",
        "expected exactly one of --mixture or --weights",
      );
      let proportions: Record<string, number>;
      if (f.mixture) {
        const text = readInputText(f.mixture);
        proportions = parseProportions(text, f.mixture).domains;
      } else {
        const w = f.weights!;
        const s = Object.values(w).reduce((a, b) => a + b, 0);
        if (Object.values(w).some((v) => v < 0) || !(s > 0)) throw new InputError(
          "--weights",
          `expected shares ≥ 0 with a positive sum, got ${JSON.stringify(w)}`,
        );
        proportions = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, v / s]));
        // Weights are unnormalised by definition; a sum away from 1 is said, never hidden.
        if (Math.abs(s - 1) > 1e-9) {
          const shown = Object.entries(proportions).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(",");
          process.stderr.write(`note: --weights sum to ${s}; trained on the proportions ${shown}\n`);
        }
      }
      const splits = corpusSplits(f.corpus, f.heldout);
      // Everything that could make the finished run unusable is checked before training.
      const domains = (await discoverCorpus(splits.train)).domains.map((d) => d.name);
      const unknown = Object.keys(proportions).filter((d) => !domains.includes(d));
      if (unknown.length) {
        const got = unknown.map((d) => JSON.stringify(d)).join(", ");
        const where = f.mixture ?? "--weights";
        throw new InputError(where, `expected domains of the corpus (${domains.join(", ")}), got unknown ${got}`);
      }
      const existing = f.runs ? await checkRunsOutput(f.runs, { flag: "--runs", domains }) : null;
      const { model, steps, batchSize, seed, lr } = f;
      const corpus = await corpusSha256(splits);
      const settings = resolveSettings({ model, config, steps, batchSize, seed, lr, corpusSha256: corpus });
      const id = runKey(proportions, settings);
      let claim: Claim | null = null;
      if (f.runs) {
        if (runIdsOf(existing).has(id)) {
          log(`run ${id} (this mixture with these settings) is already in ${f.runs}; not training it again`);
          return;
        }
        const c = claimRun(f.runs, id);
        if ("heldBy" in c) {
          const who = `pid ${c.heldBy.pid} on ${c.heldBy.host}`;
          log(`run ${id} is being trained by ${who}, which will append it to ${f.runs}; not training it twice`);
          return;
        }
        claim = c;
      }
      const release = (sig: NodeJS.Signals): void => {
        if (claim) releaseClaim(claim);
        process.exit(sig === "SIGINT" ? 130 : 143);
      };
      process.on("SIGINT", release);
      process.on("SIGTERM", release);
      try {
        const { tf, backend } = await loadTf(f.backend as BackendName);
        log(
          `training ${f.model} (${parameterCount(config).toLocaleString("en")} parameters) for ${f.steps} steps ` +
            `of ${f.batchSize} × ${config.seqLen} tokens`,
        );
        const onEval = (s: number, l: Record<string, number>[]): void =>
          log(`  step ${s}: held-out ${Object.entries(l[0]!).map(([d, v]) => `${d} ${v.toFixed(3)}`).join(", ")}`);
        const r = await trainProxy({
          tf,
          backend,
          config,
          train: splits.train,
          heldout: splits.heldout,
          proportions,
          steps: f.steps,
          batchSize: f.batchSize,
          seed: f.seed,
          lr: settings.lr,
          warmup: settings.warmup,
          schedule: settings.schedule,
          weightDecay: settings.weightDecay,
          clip: settings.clip,
          evalWindows: settings.evalWindows,
          threads: f.threads ?? 1,
          onStep: (s, l) => log(`  step ${s}: loss ${l.toFixed(3)}`),
          logEvery: Math.max(1, Math.round(f.steps / 5)),
          ...(f.evalEvery ? { evalEvery: f.evalEvery, onEval } : {}),
        });
        log(table(
          ["domain", "share", "loss (nats/token)", "bits/byte"],
          domains.map((d) => [
            d,
            f4(proportions[d] ?? 0),
            f4(r.lossPerDomain[d]!),
            f4(r.bitsPerBytePerDomain[d]!),
          ]),
        ));
        log(
          `${r.tokens.toLocaleString("en")} tokens in ${r.seconds.toFixed(1)} s ` +
            `(${Math.round(r.tokens / r.seconds).toLocaleString("en")} tokens/s, ${backend}` +
            `${r.threads > 1 ? `, ${r.threads} threads` : ""})`,
        );
        const row = runRow(id, domains, r, settings);
        if (f.runs) {
          const a = await appendRuns(f.runs, [row]);
          const meanwhile = `run ${id} was appended to ${f.runs} by another process meanwhile; not written twice`;
          log(a.appended.length ? `appended run ${id} to ${f.runs}` : meanwhile);
        } else process.stdout.write(`${JSON.stringify(Object.fromEntries(row))}\n`);
      } finally {
        if (claim) releaseClaim(claim);
        process.off("SIGINT", release);
        process.off("SIGTERM", release);
      }
    });
}
