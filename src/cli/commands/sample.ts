// `mixlab sample --corpus DIR --proportions P.json`: preview the sampler's stream as JSONL
// ({index, domain, domainIndex, record, epoch}), or with --summary a requested-vs-achieved table;
// writes the state so resumption can be checked from the shell.

import { readInputText } from "../../io/read.js";
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { createSampler, formatPlanTable, parseSamplerState, type SamplerState } from "../../sampler/sampler.js";
import { parseProportions } from "../../export/proportions.js";
import { InputError, MixError } from "../../errors.js";
import { numberFlag, seedFlag } from "../flags.js";
import { log } from "../output.js";
import { checkOutputPath, writeOutputFile } from "../../io/output.js";

const safeInt = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  numberFlag(
    max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min} (below 2^53)` : `an integer in [${min}, ${max}]`,
    (x) => Number.isInteger(x) && x >= min && x <= max,
  );
const finitePositive = numberFlag("a finite number > 0", (x) => x > 0 && Number.isFinite(x));
const tokenBudget = numberFlag("a number in (0, 2^53]", (x) => x > 0 && x <= 2 ** 53);

/** Parses --on-exceed. */
function onExceed(v: string): "error" | "redistribute" {
  if (v === "error" || v === "redistribute") return v;
  throw new InputError("--on-exceed", `expected error or redistribute, got ${JSON.stringify(v)}`);
}

/**
 * Writes to stdout and resolves once the data was handed to the system; a failed write (a
 * closed pipe) rejects, naming how many samples were written, so the state is never saved.
 */
function writeOut(text: string, written: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException) => {
      process.stdout.off("error", fail);
      reject(
        new MixError(
          "E_OUTPUT",
          `stdout: expected a reader for the stream, got ${e.code ?? e.message} after ${written} samples were ` +
            `written; --state-out was not saved`,
        ),
      );
    };
    process.stdout.once("error", fail);
    process.stdout.write(text, (e) => {
      if (e) return fail(e);
      process.stdout.off("error", fail);
      resolve();
    });
  });
}

interface SampleFlags {
  corpus: string;
  proportions: string;
  seed: number;
  n: number;
  rank: number;
  world: number;
  stateIn?: string;
  stateOut?: string;
  summary?: boolean;
  blockSize: number;
  unit: "tokens" | "samples";
  order: "shuffle" | "smooth";
  maxEpochs?: number;
  budgetSamples?: number;
  budgetTokens?: number;
  onExceed: "error" | "redistribute";
}

export function sampleCommand(program: Command): void {
  program
    .command("sample")
    .summary("preview and measure the streaming sampler")
    .requiredOption(
      "--corpus <dir>",
      "corpus directory (<domain>.jsonl[.gz|.br], .arrow, .parquet, .bin, <domain>/, or corpus.json)",
    )
    .requiredOption("--proportions <file>", "a mixlab.proportions/v1 file (domains, optional stages)")
    .option("--seed <n>", "seed", seedFlag, 0)
    .option("-n, --n <k>", "samples to print (for this rank)", safeInt(0), 20)
    .option("--rank <r>", "this rank (below --world)", safeInt(0), 0)
    .option("--world <w>", "number of ranks", safeInt(1), 1)
    .option("--state-in <file>", "resume from this state")
    .option("--state-out <file>", "write the state after the printed samples (atomically, once they were all written)")
    .option("--summary", "print requested vs achieved shares instead of samples")
    .option("--block-size <b>", "samples per block", safeInt(1, 1 << 20), 1024)
    .option("--unit <u>", "proportions are shares of tokens or samples", (v: string) => {
      if (v !== "tokens" && v !== "samples") throw new InputError(
        "--unit",
        `expected tokens or samples, got ${JSON.stringify(v)}`,
      );
      return v;
    }, "tokens")
    .option("--order <o>", "block order: shuffle or smooth (Megatron's greedy)", (v: string) => {
      if (v !== "shuffle" && v !== "smooth") throw new InputError(
        "--order",
        `expected shuffle or smooth, got ${JSON.stringify(v)}`,
      );
      return v;
    }, "shuffle")
    .option("--max-epochs <e>", "maximum epochs over any domain (needs a budget)", finitePositive)
    .option("--budget-samples <n>", "the run's length in samples (or --budget-tokens, not both)", safeInt(1))
    .option("--budget-tokens <n>", "the run's length in tokens (or --budget-samples, not both)", tokenBudget)
    .option("--on-exceed <what>", "error, or redistribute the share a domain cannot meet in its cap", onExceed, "error")
    .addHelpText(
      "after",
      "\nExample:\n  $ mixlab sample --corpus data/ --proportions proportions.json --n 5 --state-out s.json\n  $ " +
        "mixlab sample --corpus data/ --proportions proportions.json --n 5 --state-in s.json",
    )
    .action(async (f: SampleFlags) => {
      // Every flag and file is checked before the corpus is opened.
      if (f.rank >= f.world) throw new InputError("--rank", `expected a rank below --world ${f.world}, got ${f.rank}`);
      if (f.budgetSamples !== undefined && f.budgetTokens !== undefined) throw new InputError(
        "--budget-samples, --budget-tokens",
        `expected one budget, got both (${f.budgetSamples} samples and ${f.budgetTokens} tokens)`,
      );
      if (f.maxEpochs !== undefined && f.budgetSamples === undefined && f.budgetTokens === undefined) {
        throw new InputError(
          "--max-epochs",
          "expected --budget-samples or --budget-tokens with it (epochs are counted over the run), got neither",
        );
      }
      if (f.stateOut) checkOutputPath(f.stateOut, "--state-out");
      const text = readInputText(f.proportions);
      const doc = parseProportions(text, f.proportions);
      let state: SamplerState | undefined;
      if (f.stateIn) {
        let raw: unknown;
        let text: string;
        try {
          text = readFileSync(f.stateIn, "utf8");
        } catch (e) {
          throw new InputError(
            f.stateIn,
            `expected a sampler state (JSON), got ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
          );
        }
        try {
          raw = JSON.parse(text);
        } catch (e) {
          throw new InputError(
            f.stateIn,
            `expected a sampler state (JSON), got invalid JSON (${(e as Error).message})`,
          );
        }
        state = parseSamplerState(raw, f.stateIn);
      }
      const unit = doc.unit === "samples" ? "samples" : f.unit;
      const sampler = await createSampler({
        corpus: f.corpus,
        ...(doc.stages && doc.stages.length
          ? {
            stages: doc.stages.map(
              (s) => ({
                ...(s.untilTokens !== undefined ? { untilTokens: s.untilTokens } : {}),
                ...(s.untilSamples !== undefined ? { untilSamples: s.untilSamples } : {}),
                proportions: s.domains,
              }),
            ),
          }
          : { proportions: doc.domains }),
        seed: f.seed,
        blockSize: f.blockSize,
        unit,
        order: f.order,
        rank: f.rank,
        worldSize: f.world,
        onExceed: f.onExceed,
        ...(f.maxEpochs !== undefined ? { maxEpochs: f.maxEpochs } : {}),
        ...(f.budgetSamples !== undefined ? { budgetSamples: f.budgetSamples } : {}),
        ...(f.budgetTokens !== undefined ? { budgetTokens: f.budgetTokens } : {}),
        ...(state ? { state, stateSource: f.stateIn! } : {}),
        warn: (m) => log(`warning: ${m}`),
        ...(f.summary ? {} : { report: (t: string) => log(t) }),
      });
      try {
        const counts = new Map<string, number>();
        // The stream goes out in chunks as it is drawn (bounded memory for any --n); a chunk is
        // awaited, so a failed write (a closed pipe) stops the command before the state is saved.
        let chunk: string[] = [];
        let written = 0;
        for (const s of sampler.samples(f.n)) {
          counts.set(s.domain, (counts.get(s.domain) ?? 0) + 1);
          if (f.summary) continue;
          chunk.push(
            JSON.stringify(
              { index: s.index, domain: s.domain, domainIndex: s.domainIndex, record: s.record, epoch: s.epoch },
            ),
          );
          if (chunk.length === 4096) {
            await writeOut(`${chunk.join("\n")}\n`, written);
            written += chunk.length;
            chunk = [];
          }
        }
        if (chunk.length) await writeOut(`${chunk.join("\n")}\n`, written);
        if (f.summary) {
          const rows = sampler.table();
          await writeOut(`${formatPlanTable(rows)}\n`, 0);
          const total = [...counts.values()].reduce((a, b) => a + b, 0);
          if (total > 0) {
            const shares = sampler.domains.map((d) => `${d} ${((counts.get(d) ?? 0) / total).toFixed(4)}`).join(", ");
            await writeOut(`\nover the ${total} samples drawn: ${shares} (sample shares)\n`, 0);
          }
        }
        // Saved only after everything it counts was written: the state never runs ahead of the output.
        if (f.stateOut) writeOutputFile(f.stateOut, `${JSON.stringify(sampler.state(), null, 2)}\n`);
      } finally {
        await sampler.close();
      }
    });
}
