// `mixlab fit RUNS --method M --target T`: fit a law, recommend proportions, write
// mixlab.proportions/v1 (stdout or -o), fit quality on stderr.

import type { Command } from "commander";
import {
  addRunsFlags,
  loadRuns,
  seedFlag,
  costsFlag,
  priorFlag,
  tokensFlag,
  shareOrMapFlag,
  positiveNumber,
  jsonObjectFlag,
  nonNegativeInt,
  positiveInt,
  type RunsFlags,
} from "../flags.js";
import { InputError, MixError } from "../../errors.js";
import { InvalidArgumentError } from "commander";
import { checkOutputPaths, writeOutputFiles } from "../../io/output.js";
import { fitRuns, AUTO, RISK_DEFAULT, type Risk } from "../../fit.js";
import { laws } from "../../../mixers/index.js";
import { PROPORTIONS_FORMAT, proportionsRecord } from "../../export/proportions.js";
import { log, table, f4 } from "../output.js";
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
  risk?: Risk;
  strict?: boolean;
  bootstrap: number;
}

function riskFlag(v: string): Risk {
  if (v !== "mean" && v !== "pessimistic") throw new InvalidArgumentError(
    `expected mean or pessimistic, got ${JSON.stringify(v)}`,
  );
  return v;
}

export function fitCommand(program: Command): void {
  const cmd = program
    .command("fit")
    .argument("<runs>", "runs table (.csv, .jsonl, .arrow, .parquet)")
    .summary("fit a mixing law to proxy runs and recommend proportions")
    .description(
      "Fit a law from mixture to target over a table of proxy runs, then recommend the proportions that " +
        "minimise the predicted target under the constraints.",
    )
    .option(
      "-m, --method <name>",
      "auto (cross-validate every law that applies, keep the best; see the README) or one of " +
        `${Object.keys(laws).join(", ")}`,
      AUTO,
    )
    .requiredOption("-t, --target <spec>", "a numeric column (loss.web) or mean:loss.a,loss.b")
    .option("-o, --out <file>", "write proportions JSON here instead of stdout")
    .option("--save-model <file>", "save the fitted law as JSON for `mixlab predict`")
    .option("--seed <n>", "seed of every random choice", seedFlag, 0)
    .option("--options <json>", "method options as a JSON object (see the mixers table in the README)", jsonObjectFlag)
    .option("--candidates <n>", "candidates in the recommendation search (RegMix)", positiveInt)
    .option("--top-k <n>", "best candidates averaged (RegMix)", positiveInt)
    .option("--tokens <map>", "tokens available per domain, e.g. web=1.2e9,code=3e8", tokensFlag)
    .option(
      "--prior <map>",
      "prior shares per domain for the candidate search (default: from --tokens, else the mean run)",
      priorFlag,
    )
    .option("--min-share <x|map>", "minimum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--max-share <x|map>", "maximum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--max-epochs <e>", "maximum epochs over any domain at --budget tokens (needs --tokens)", positiveNumber)
    .option("--budget <tokens>", "tokens of the target training run (unimax: its budgetTokens)", positiveNumber)
    .option(
      "--cv-folds <k>",
      "folds of the cross-validated fit quality (0 to skip; else 2 to half the runs; auto needs ≥ 2)",
      nonNegativeInt,
      5,
    )
    .option(
      "--risk <criterion>",
      "recommend by the prediction (mean) or prediction + one sd (pessimistic; GP posterior or bootstrap) " +
        `(default ${RISK_DEFAULT})`,
      riskFlag,
    )
    .option(
      "--bootstrap <n>",
      "bootstrap replicates over runs for the uncertainty at the recommendation (0 to skip)",
      nonNegativeInt,
      8,
    )
    .option("--strict", "fail (exit 1) when a support diagnostic fires, after writing the proportions")
    .option(
      "--fidelity-costs <map>",
      "cost per label of the runs' fidelity column (bayesopt), e.g. 1m=0.001,60m=0.06,1b=1",
      costsFlag,
    );
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
    const auto = f.method === AUTO;
    const law = auto ? null : laws[f.method];
    if (!auto && !law) {
      throw new InputError(
        "--method",
        `expected auto or one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(f.method)}`,
      );
    }
    const options = auto ? autoOptions(f) : fitOptions(f);
    law?.parseOptions(options);
    const explicitFolds = cmd.getOptionValueSource("cvFolds") === "cli";
    if (f.budget !== undefined && f.maxEpochs === undefined && f.method !== "unimax") {
      throw new InputError(
        "--budget",
        "expected --max-epochs with it (the budget sets epoch caps; UniMax also reads it), got none",
      );
    }
    if (f.cvFolds === 1) {
      throw new InputError("--cv-folds", "expected 0 (no cross-validation) or at least 2 folds, got 1");
    }
    const { table: runsTable, sha256 } = await loadRuns(runs, f);
    if (explicitFolds && (law?.learns ?? true) && f.cvFolds > 0 && runsTable.numRuns < 2 * f.cvFolds) {
      throw new InputError(
        "--cv-folds",
        `expected at most ${Math.floor(runsTable.numRuns / 2)} folds for ${runsTable.numRuns} runs ` +
          `(two runs per fold at least), got ${f.cvFolds}`,
      );
    }
    if (!explicitFolds && law?.learns && f.cvFolds > 0 && runsTable.numRuns < 2 * f.cvFolds) {
      const most = Math.floor(runsTable.numRuns / 2);
      const how = most >= 2 ? ` (--cv-folds 2…${most} to choose)` : "";
      log(
        `note: no cross-validation: ${f.cvFolds} folds need at least ${2 * f.cvFolds} runs, ` +
          `got ${runsTable.numRuns}${how}`,
      );
    }
    if (runsTable.renormalised.rows > 0) log(
      `note: ${runsTable.renormalised.rows} of ${runsTable.numRuns} rows summed to 1 only within rounding ` +
        `(largest gap ${runsTable.renormalised.maxGap.toPrecision(3)}) and were renormalised`,
    );
    const t0 = performance.now();
    const res = fitRuns({
      table: runsTable,
      target: f.target,
      method: f.method,
      options,
      seed: f.seed,
      cvFolds: f.cvFolds,
      bootstrap: f.bootstrap,
      ...(f.risk ? { risk: f.risk } : {}),
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
      ...(res.selection ? { auto: res.selection } : {}),
    };
    const doc = {
      format: PROPORTIONS_FORMAT,
      unit: "tokens",
      domains: proportionsRecord(domains, rec.proportions),
      order: [...domains],
      method: res.method,
      ...(res.selection ? { chosenBy: "auto" } : {}),
      target: res.target.spec,
      ...(res.target.weights
        ? { targetWeights: Object.fromEntries(res.target.columns.map((c, i) => [c, res.target.weights![i]!])) }
        : {}),
      predicted: {
        target: Number.isFinite(rec.predicted) ? rec.predicted : null,
        ...(res.uncertainty ? { sd: res.uncertainty.sd } : {}),
      },
      ...(res.uncertainty ? { uncertainty: res.uncertainty } : {}),
      risk: res.risk,
      diagnostics: res.diagnostics,
      ...(res.withoutEpochCaps
        ? {
            withoutEpochCaps: {
              domains: proportionsRecord(domains, res.withoutEpochCaps.proportions),
              predicted: Number.isFinite(res.withoutEpochCaps.predicted) ? res.withoutEpochCaps.predicted : null,
            },
          }
        : {}),
      ...(res.epochs ? { epochs: proportionsRecord(domains, res.epochs) } : {}),
      constraints: res.constraints.description,
      fitQuality: quality,
      details: { ...rec.details, fit: res.law.info },
      provenance: {
        runs: runs,
        ...(f.losses ? { losses: f.losses } : {}),
        runsSha256: sha256,
        numRuns: runsTable.numRuns,
        seed: f.seed,
        options: res.options,
        mixlab: VERSION,
        seconds: Number(seconds.toFixed(3)),
      },
    };
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    if (!f.out) process.stdout.write(text);
    // -o and --save-model are written together or not at all.
    const outputs: [string, string][] = f.out ? [[f.out, text]] : [];
    if (f.saveModel) {
      const saved = {
        format: "mixlab.law/v1",
        method: res.method,
        domains,
        target: res.target.spec,
        params: res.law.toParams(),
      };
      outputs.push([f.saveModel, `${JSON.stringify(saved)}\n`]);
    }
    writeOutputFiles(outputs);
    // Summary on stderr.
    const cap = res.withoutEpochCaps;
    const rows = domains.map((d, i) => [
      d,
      f4(rec.proportions[i]!),
      ...(cap ? [f4(cap.proportions[i]!)] : []),
      ...(res.epochs ? [res.epochs[i]!.toFixed(2)] : []),
    ]);
    log(table(["domain", "proportion", ...(cap ? ["without cap"] : []), ...(res.epochs ? ["epochs"] : [])], rows));
    if (res.selection) {
      const sel = res.selection;
      log(`auto: ${sel.folds}-fold cross-validation of every law that applies (${sel.candidates[0]!.report.n} runs)`);
      log(table(
        [
          "law",
          "Spearman",
          "pairwise",
          "top-decile regret (sd)",
          "first-pick regret",
          "top precision",
          "RMSE",
          "kept",
          "chosen",
        ],
        sel.candidates.map((c) => [
          c.law,
          f4(c.report.spearman),
          f4(c.report.pairwiseAccuracy),
          f4(c.report.topDecileRegret),
          c.report.firstRegret.toPrecision(3),
          f4(c.report.topPrecision),
          c.report.rmse.toPrecision(3),
          c.kept ? "yes" : "no",
          c.chosen ? "←" : "",
        ]),
      ));
      for (const s of sel.skipped) log(`  not considered: ${s.law} (${s.reason})`);
      log(`chose ${sel.reason}`);
    }
    if (Number.isFinite(rec.predicted)) log(
      `predicted ${res.target.spec}: ${f4(rec.predicted)}` +
        `${res.uncertainty
          ? ` ± ${res.uncertainty.sd.toPrecision(3)} (1 sd, ${res.uncertainty.source}` +
            `${res.uncertainty.replicates ? `, ${res.uncertainty.replicates} replicates` : ""}; criterion ${res.risk})`
          : ""}` +
        `${cap ? ` (without epoch caps: ${f4(cap.predicted)})` : ""}`,
    );
    if (res.crossValidation) {
      const cv = res.crossValidation;
      log(
        `fit quality of ${res.method} (${cv.folds}-fold cross-validation over ${cv.n} runs): ` +
          `Spearman ${f4(cv.spearman)}, Kendall ${f4(cv.kendall)}, pairwise accuracy ${f4(cv.pairwiseAccuracy)}, ` +
          `MSE ${cv.mse.toPrecision(4)}, R² ${f4(cv.rSquared)}`,
      );
    }
    for (const d of res.diagnostics) log(`warning [${d.code}]: ${d.message}`);
    log(
      `${res.method}${res.selection ? " (chosen by auto)" : ""} on ${runsTable.numRuns} runs ` +
        `in ${seconds.toFixed(2)} s${f.out ? `; wrote ${f.out}` : ""}`,
    );
    if (f.strict && res.diagnostics.length) {
      throw new MixError(
        "E_STRICT",
        `--strict: ${res.diagnostics.length} support diagnostic${res.diagnostics.length > 1 ? "s" : ""} ` +
          `fired (${res.diagnostics.map((d) => d.code).join(", ")}); ` +
          "the proportions were written, but the runs do not support them",
      );
    }
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
    ...(f.method === "unimax"
      ? ([
          ["--budget", "budgetTokens", f.budget],
          ["--max-epochs", "maxEpochs", f.maxEpochs],
        ] as [string, string, number | undefined][])
      : []),
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

/**
 * auto's --options: an object of per-law options ({"regmix": {…}, "dml": {…}}), each checked by
 * its law; --candidates and --top-k go to RegMix's.
 */
function autoOptions(f: FitFlags): Record<string, unknown> {
  const options: Record<string, Record<string, unknown>> = {};
  for (const [name, value] of Object.entries(f.options ?? {})) {
    const law = laws[name];
    if (!law || !law.learns || name === "ensemble") throw new InputError(
      "--options",
      "expected keys naming laws auto compares " +
        `(${Object.entries(laws).filter(([n, l]) => l.learns && n !== "ensemble").map(([n]) => n).join(", ")}) ` +
        `with --method auto, got ${JSON.stringify(name)}`,
    );
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new InputError(
      "--options",
      `${name}: expected an object of ${name}'s options, got ${JSON.stringify(value)}`,
    );
    law.parseOptions(value as Record<string, unknown>);
    options[name] = { ...(value as Record<string, unknown>) };
  }
  if (f.candidates !== undefined || f.topK !== undefined) {
    options.regmix = {
      ...options.regmix,
      ...(f.candidates !== undefined ? { numCandidates: f.candidates } : {}),
      ...(f.topK !== undefined ? { topK: f.topK } : {}),
    };
    laws.regmix!.parseOptions(options.regmix);
  }
  return options;
}
