// `mixlab fit RUNS --method M --target T`: fit a law, recommend proportions, write
// mixlab.proportions/v1 (stdout or -o), fit quality on stderr.

import type { Command } from "commander";
import { addRunsFlags, loadRuns, seedFlag, costsFlag, priorFlag, tokensFlag, shareOrMapFlag, positiveNumber, jsonObjectFlag, nonNegativeInt, positiveInt, type RunsFlags } from "../flags.js";
import { InputError } from "../../errors.js";
import { checkOutputPaths, writeOutputFile } from "../../io/output.js";
import { fitRuns } from "../../fit.js";
import { laws } from "../../../mixers/index.js";
import { PROPORTIONS_FORMAT, proportionsRecord } from "../../export/proportions.js";
import { log, table, writeResult, f4 } from "../output.js";
import { VERSION } from "../../version.js";

interface FitFlags extends RunsFlags {
  method: string;
  target: string;
  out?: string;
  saveModel?: string;
  seed: number;
  options?: Record<string, unknown>;
  tokens?: Record<string, number>;
  prior?: Record<string, number>;
  minShare?: number | Record<string, number>;
  maxShare?: number | Record<string, number>;
  maxEpochs?: number;
  budget?: number;
  cvFolds: number;
  fidelityCosts?: Record<string, number>;
  candidates?: number;
  topK?: number;
}

export function fitCommand(program: Command): void {
  const cmd = program
    .command("fit")
    .argument("<runs>", "runs table (.csv, .jsonl, .arrow, .parquet)")
    .summary("fit a mixing law to proxy runs and recommend proportions")
    .description("Fit a law from mixture to target over a table of proxy runs, then recommend the proportions that minimise the predicted target under the constraints.")
    .requiredOption("-m, --method <name>", `one of ${Object.keys(laws).join(", ")}`)
    .requiredOption("-t, --target <spec>", "a numeric column (loss.web) or mean:loss.a,loss.b")
    .option("-o, --out <file>", "write proportions JSON here instead of stdout")
    .option("--save-model <file>", "save the fitted law as JSON for `mixlab predict`")
    .option("--seed <n>", "seed of every random choice", seedFlag, 0)
    .option("--options <json>", "method options as a JSON object (see the mixers table in the README)", jsonObjectFlag)
    .option("--candidates <n>", "candidates in the recommendation search (RegMix)", positiveInt)
    .option("--top-k <n>", "best candidates averaged (RegMix)", positiveInt)
    .option("--tokens <map>", "tokens available per domain, e.g. web=1.2e9,code=3e8", tokensFlag)
    .option("--prior <map>", "prior shares per domain for the candidate search (default: from --tokens, else the mean run)", priorFlag)
    .option("--min-share <x|map>", "minimum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--max-share <x|map>", "maximum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--max-epochs <e>", "maximum epochs over any domain at --budget tokens (needs --tokens)", positiveNumber)
    .option("--budget <tokens>", "tokens of the target training run (unimax: its budgetTokens)", positiveNumber)
    .option("--cv-folds <k>", "folds of the cross-validated fit quality (0 to skip; else 2 to half the runs)", nonNegativeInt, 5)
    .option("--fidelity-costs <map>", "cost per label of the runs' fidelity column (bayesopt), e.g. 1m=0.001,60m=0.06,1b=1", costsFlag);
  addRunsFlags(cmd);
  cmd.addHelpText(
    "after",
    `
Example (RegMix's released runs, target Pile-CC):
  $ mixlab fit train_mixture_1m.csv --losses train_pile_loss_1m.csv --join-on index \\
      --weights-prefix train_the_pile_ --loss-pattern 'metric/the_pile_{domain}_val_loss' \\
      --method regmix --target loss.pile_cc -o proportions.json`,
  );
  cmd.action(async (runs: string, f: FitFlags) => {
    // Flags and output paths are checked before the table is read or anything is fitted.
    checkOutputPaths([["--out", f.out], ["--save-model", f.saveModel]], [runs, f.losses]);
    const law = laws[f.method];
    if (!law) {
      throw new InputError(
        "--method",
        `expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(f.method)}`,
      );
    }
    const options = fitOptions(f);
    law.parseOptions(options);
    const explicitFolds = cmd.getOptionValueSource("cvFolds") === "cli";
    if (f.budget !== undefined && f.maxEpochs === undefined && f.method !== "unimax") {
      throw new InputError("--budget", "expected --max-epochs with it (the budget sets epoch caps; UniMax also reads it), got none");
    }
    if (f.cvFolds === 1) {
      throw new InputError("--cv-folds", "expected 0 (no cross-validation) or at least 2 folds, got 1");
    }
    const { table: runsTable, sha256 } = await loadRuns(runs, f);
    if (explicitFolds && law.learns && f.cvFolds > 0 && runsTable.numRuns < 2 * f.cvFolds) {
      throw new InputError(
        "--cv-folds",
        `expected at most ${Math.floor(runsTable.numRuns / 2)} folds for ${runsTable.numRuns} runs (two runs per fold at least), got ${f.cvFolds}`,
      );
    }
    if (runsTable.renormalised.rows > 0) log(`note: ${runsTable.renormalised.rows} of ${runsTable.numRuns} rows summed to 1 only within rounding (largest gap ${runsTable.renormalised.maxGap.toPrecision(3)}) and were renormalised`);
    const t0 = performance.now();
    const res = fitRuns({
      table: runsTable,
      target: f.target,
      method: f.method,
      options,
      seed: f.seed,
      cvFolds: f.cvFolds,
      ...(f.fidelityCosts ? { fidelityCosts: f.fidelityCosts } : {}),
      ...(f.tokens ? { tokensPerDomain: f.tokens } : {}),
      ...(f.prior ? { prior: f.prior } : {}),
      constraints: {
        ...(f.minShare !== undefined ? { minShare: f.minShare } : {}),
        ...(f.maxShare !== undefined ? { maxShare: f.maxShare } : {}),
        ...(f.maxEpochs !== undefined ? { maxEpochs: f.maxEpochs } : {}),
        ...(f.budget !== undefined ? { budgetTokens: f.budget } : {}),
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const domains = runsTable.domains;
    const rec = res.recommendation;
    const quality = {
      ...(res.crossValidation ? { crossValidated: res.crossValidation } : {}),
      ...(res.inSample ? { inSample: res.inSample } : {}),
    };
    const doc = {
      format: PROPORTIONS_FORMAT,
      unit: "tokens",
      domains: proportionsRecord(domains, rec.proportions),
      order: [...domains],
      method: f.method,
      target: res.target.spec,
      predicted: { target: Number.isFinite(rec.predicted) ? rec.predicted : null },
      ...(res.withoutEpochCaps ? { withoutEpochCaps: { domains: proportionsRecord(domains, res.withoutEpochCaps.proportions), predicted: Number.isFinite(res.withoutEpochCaps.predicted) ? res.withoutEpochCaps.predicted : null } } : {}),
      ...(res.epochs ? { epochs: proportionsRecord(domains, res.epochs) } : {}),
      constraints: res.constraints.description,
      fitQuality: quality,
      details: { ...rec.details, fit: res.law.info },
      provenance: { runs: runs, ...(f.losses ? { losses: f.losses } : {}), runsSha256: sha256, numRuns: runsTable.numRuns, seed: f.seed, options: res.options, mixlab: VERSION, seconds: Number(seconds.toFixed(3)) },
    };
    writeResult(`${JSON.stringify(doc, null, 2)}\n`, f.out);
    if (f.saveModel) {
      writeOutputFile(f.saveModel, `${JSON.stringify({ format: "mixlab.law/v1", method: f.method, domains, target: res.target.spec, params: res.law.toParams() })}\n`);
    }
    // Summary on stderr.
    const cap = res.withoutEpochCaps;
    const rows = domains.map((d, i) => [d, f4(rec.proportions[i]!), ...(cap ? [f4(cap.proportions[i]!)] : []), ...(res.epochs ? [res.epochs[i]!.toFixed(2)] : [])]);
    log(table(["domain", "proportion", ...(cap ? ["without cap"] : []), ...(res.epochs ? ["epochs"] : [])], rows));
    if (Number.isFinite(rec.predicted)) log(`predicted ${res.target.spec}: ${f4(rec.predicted)}${cap ? ` (without epoch caps: ${f4(cap.predicted)})` : ""}`);
    if (res.crossValidation) {
      const cv = res.crossValidation;
      log(`fit quality (${cv.folds}-fold cross-validation over ${cv.n} runs): Spearman ${f4(cv.spearman)}, Kendall ${f4(cv.kendall)}, pairwise accuracy ${f4(cv.pairwiseAccuracy)}, MSE ${cv.mse.toPrecision(4)}, R² ${f4(cv.rSquared)}`);
    }
    log(`${f.method} on ${runsTable.numRuns} runs in ${seconds.toFixed(2)} s${f.out ? `; wrote ${f.out}` : ""}`);
  });
}

/**
 * Method options from --options plus the flags that feed them: --candidates and --top-k
 * (numCandidates, topK), and for UniMax --budget and --max-epochs (budgetTokens, maxEpochs).
 * A flag and an --options key that disagree are an error, not a silent choice.
 */
function fitOptions(f: FitFlags): Record<string, unknown> {
  const fromFlags: [string, string, number | undefined][] = [
    ["--candidates", "numCandidates", f.candidates],
    ["--top-k", "topK", f.topK],
    ...(f.method === "unimax" ? ([["--budget", "budgetTokens", f.budget], ["--max-epochs", "maxEpochs", f.maxEpochs]] as [string, string, number | undefined][]) : []),
  ];
  const options: Record<string, unknown> = { ...(f.options ?? {}) };
  for (const [flag, key, value] of fromFlags) {
    if (value === undefined) continue;
    if (options[key] !== undefined && options[key] !== value) {
      throw new InputError(flag, `expected the same value as --options ${key} (${String(options[key])}), got ${value}`);
    }
    options[key] = value;
  }
  return options;
}
