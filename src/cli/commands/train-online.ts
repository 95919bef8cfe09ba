// `mixlab train --online M`: one proxy trained while an online mixer steers its sampler (or, for
// DoReMi, its loss weights); appends the run's row (the realised token shares and the method) and
// writes the schedule actually used, the method's static answer and the trajectory with -o.
// `train.ts` declares the flags and delegates here.

import { createHash } from "node:crypto";
import { InputError } from "../../errors.js";
import { readInputText } from "../../io/read.js";
import { checkOutputPaths } from "../../io/output.js";
import { parseProportions, PROPORTIONS_FORMAT } from "../../export/proportions.js";
import { loadTf, type BackendName } from "../../proxy/backend.js";
import { parameterCount } from "../../proxy/model.js";
import { trainWithMethod, type CreateMixer, type MethodRunResult } from "../../proxy/online.js";
import { runRow } from "../../proxy/runs-io.js";
import { discoverCorpus } from "../../sampler/corpus.js";
import { checkRunsOutput } from "../../runs/check.js";
import { appendRuns } from "../../runs/store.js";
import { resolveSettings } from "../../sweep/plan.js";
import { corpusSha256 } from "../../sweep/corpus-hash.js";
import type { RunResult } from "../../proxy/train.js";
import { VERSION } from "../../version.js";
import { proxyConfig, type ProxyFlags } from "../flags.js";
import { f4, log, table, writeResult } from "../output.js";
import { corpusSplits } from "./train.js";

/** The flags `mixlab train --online` reads. */
export interface TrainOnlineFlags extends ProxyFlags {
  online: string;
  onlineOptions?: Record<string, unknown>;
  onlineAnswer?: string;
  mixture?: string;
  weights?: Record<string, number>;
  runs?: string;
  out?: string;
  evalEvery?: number;
  threads?: number;
  checkpoint?: string;
  checkpointEvery?: number;
  rounds?: number;
  graphSteps?: number;
}

/** The token-weighted average of the mixtures trained with, over the trajectory. */
export function tokenWeightedAverage(r: MethodRunResult["run"]): Record<string, number> {
  const out: Record<string, number> = {};
  let prev = 0;
  for (const p of r.trajectory.slice(1)) {
    const w = p.tokens - prev;
    prev = p.tokens;
    for (const [d, v] of Object.entries(p.proportions)) out[d] = (out[d] ?? 0) + w * v;
  }
  const total = Object.values(out).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(out).map(([d, v]) => [d, v / total]));
}

/** Runs `mixlab train --online`. */
export async function trainOnlineCli(f: TrainOnlineFlags, createMixer: CreateMixer): Promise<void> {
  const config = proxyConfig(f);
  const method = f.online;
  const answer = f.onlineAnswer ?? "final";
  if (answer !== "final" && answer !== "average") throw new InputError(
    "--online-answer",
    `expected final or average, got ${JSON.stringify(answer)}`,
  );
  if (method === "doremi" && f.onlineAnswer !== undefined) throw new InputError(
    "--online-answer",
    "expected no --online-answer with doremi (its answer is the time average of its weights), got one",
  );
  if (f.threads !== undefined && f.threads !== 1) throw new InputError(
    "--threads",
    `expected 1 with --online (the online step runs on one thread), got ${f.threads}`,
  );
  if (f.checkpointEvery !== undefined && f.checkpoint === undefined) throw new InputError(
    "--checkpoint-every",
    "expected --checkpoint FILE with it, got none",
  );
  if (f.rounds !== undefined && method !== "doremi") throw new InputError(
    "--rounds",
    `expected --rounds only with doremi (iterated DoReMi), got --online ${method}`,
  );
  if (f.graphSteps !== undefined && method !== "skillit") throw new InputError(
    "--graph-steps",
    `expected --graph-steps only with skillit, got --online ${method}`,
  );
  // --mixture / --weights: DoReMi's reference mixture (the others take `initial` in --online-options).
  let reference: Record<string, number> | undefined;
  if (f.mixture || f.weights) {
    if (method !== "doremi") throw new InputError(
      f.mixture ? "--mixture" : "--weights",
      `expected no mixture with --online ${method} ` +
        `(give its starting mixture as "initial" in --online-options), got one`,
    );
    if (f.mixture && f.weights) throw new InputError("--mixture", "expected one of --mixture or --weights, got both");
    if (f.mixture) reference = parseProportions(readInputText(f.mixture), f.mixture).domains;
    else {
      const s = Object.values(f.weights!).reduce((a, b) => a + b, 0);
      if (Object.values(f.weights!).some((v) => v < 0) || !(s > 0)) throw new InputError(
        "--weights",
        `expected shares ≥ 0 with a positive sum, got ${JSON.stringify(f.weights)}`,
      );
      reference = Object.fromEntries(Object.entries(f.weights!).map(([k, v]) => [k, v / s]));
    }
  }
  // Before any training: -o is writable and none of the files this run reads or keeps (nothing trained is lost).
  checkOutputPaths([["-o", f.out]], [f.mixture, f.runs, f.checkpoint]);
  const splits = corpusSplits(f.corpus, f.heldout);
  const corpusDomains = (await discoverCorpus(splits.train)).domains.map((d) => d.name);
  if (reference) {
    const unknown = Object.keys(reference).filter((d) => !corpusDomains.includes(d));
    if (unknown.length) throw new InputError(
      f.mixture ?? "--weights",
      `expected domains of the corpus (${corpusDomains.join(", ")}), ` +
        `got unknown ${unknown.map((d) => JSON.stringify(d)).join(", ")}`,
    );
  }
  if (f.runs) await checkRunsOutput(f.runs, { flag: "--runs", domains: corpusDomains });
  const settings = resolveSettings({
    model: f.model,
    config,
    steps: f.steps,
    batchSize: f.batchSize,
    seed: f.seed,
    lr: f.lr,
    corpusSha256: await corpusSha256(splits),
  });
  const { tf, backend } = await loadTf(f.backend as BackendName);
  log(
    `training ${f.model} (${parameterCount(config).toLocaleString("en")} parameters) for ${f.steps} steps ` +
      `of ${f.batchSize} × ${config.seqLen} tokens, steered by ${method}`,
  );
  const res = await trainWithMethod({
    tf,
    backend,
    config,
    train: splits.train,
    heldout: splits.heldout,
    steps: f.steps,
    batchSize: f.batchSize,
    lr: settings.lr,
    warmup: settings.warmup,
    schedule: settings.schedule,
    weightDecay: settings.weightDecay,
    clip: settings.clip,
    evalWindows: settings.evalWindows,
    seed: f.seed,
    method,
    mixerOptions: f.onlineOptions ?? {},
    createMixer,
    ...(f.rounds !== undefined ? { rounds: f.rounds } : {}),
    ...(f.graphSteps !== undefined ? { graphSteps: f.graphSteps } : {}),
    ...(reference ? { referenceProportions: reference } : {}),
    ...(f.evalEvery !== undefined ? { evalEvery: f.evalEvery } : {}),
    ...(f.checkpoint !== undefined
      ? { checkpoint: f.checkpoint, checkpointEvery: f.checkpointEvery ?? Math.max(1, Math.round(f.steps / 10)) }
      : {}),
    log,
    onStep: (s, l) => log(`  step ${s}: loss ${l.toFixed(3)}`),
    logEvery: Math.max(1, Math.round(f.steps / 5)),
    onEval: (s, l) =>
      log(`  step ${s}: held-out ${Object.entries(l).map(([d, v]) => `${d} ${v.toFixed(3)}`).join(", ")}`),
  });
  const r = res.run;
  if (r.resumedFrom !== null) log(`resumed from the checkpoint at step ${r.resumedFrom}`);
  const domains = Object.keys(r.lossPerDomain);
  const staticAnswer = method === "doremi" || answer === "final" ? r.summary! : tokenWeightedAverage(r);
  log(table(
    ["domain", "realised share", "answer", "loss (nats/token)", "bits/byte"],
    domains.map((d) => [
      d,
      f4(r.realisedShare[d]!),
      f4(staticAnswer[d] ?? 0),
      f4(r.lossPerDomain[d]!),
      f4(r.bitsPerBytePerDomain[d]!),
    ]),
  ));
  log(
    `${r.tokens.toLocaleString("en")} tokens in ${r.seconds.toFixed(1)} s; ` +
      `mixer ${(1000 * r.mixerSeconds / Math.max(1, r.stepsTrained)).toFixed(3)} ms a step; ` +
      `${r.stages.length} stages${res.extraSteps ? `; ${res.extraSteps} steps of reference/graph runs` : ""}`,
  );
  const id = createHash("sha256")
    .update(
      JSON.stringify({ method, options: res.options, settings, reference: reference ?? null, rounds: f.rounds ?? 1 }),
    )
    .digest("hex")
    .slice(0, 16);
  // The row's w.<domain> are the realised token shares (what the model saw, probe steps included).
  const asRun: RunResult = {
    proportions: r.realisedShare,
    lossPerDomain: r.lossPerDomain,
    bitsPerBytePerDomain: r.bitsPerBytePerDomain,
    trainLoss: r.trainLoss,
    params: r.params,
    tokens: r.tokens,
    steps: r.steps,
    seconds: r.seconds,
    backend: r.backend,
    threads: 1,
    evalCurve: [],
  };
  const row = runRow(id, domains, asRun, settings, { online_method: method });
  if (f.out) {
    const doc = {
      format: PROPORTIONS_FORMAT,
      unit: "tokens",
      domains: staticAnswer,
      order: domains,
      stages: r.stages,
      method,
      details: {
        answer: method === "doremi" ? "time-average" : answer,
        realisedShare: r.realisedShare,
        diagnostics: r.diagnostics,
        ...(res.rounds ? { rounds: res.rounds } : {}),
        ...(res.graph ? { graph: res.graph } : {}),
        extraSteps: res.extraSteps,
      },
      provenance: {
        command: "train --online",
        corpus: splits.train,
        model: f.model,
        steps: f.steps,
        batchSize: f.batchSize,
        seed: f.seed,
        runId: id,
        mixlab: VERSION,
      },
      online: { method, options: res.options, seed: f.seed, trajectory: r.trajectory },
    };
    writeResult(`${JSON.stringify(doc, null, 2)}\n`, f.out);
    log(
      `wrote the schedule (${r.stages.length} stages), the ${method === "doremi" ? "time-averaged" : answer} answer ` +
        `and the trajectory to ${f.out}`,
    );
  }
  if (f.runs) {
    const a = await appendRuns(f.runs, [row]);
    log(a.appended.length ? `appended run ${id} to ${f.runs}` : `run ${id} is already in ${f.runs}; not written twice`);
  } else process.stdout.write(`${JSON.stringify(Object.fromEntries(row))}\n`);
  if (f.out) log(
    `next: mixlab report ${f.runs ?? "RUNS"} --proportions ${f.out}   (draws the trajectory and the schedule)`,
  );
}
