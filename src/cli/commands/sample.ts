// `mixlab sample --corpus DIR --proportions P.json`: preview the sampler's stream as JSONL
// ({index, domain, domainIndex, record, epoch}), or with --summary a requested-vs-achieved table;
// writes the state so resumption can be checked from the shell.

import { readInputText } from "../../io/read.js";
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { createSampler, formatPlanTable, type SamplerState } from "../../sampler/sampler.js";
import { parseProportions } from "../../export/proportions.js";
import { InputError } from "../../errors.js";
import { writeFileAtomic } from "../../io/atomic.js";
import { nonNegativeInt, positiveInt, positiveNumber, seedFlag } from "../flags.js";
import { log } from "../output.js";
import { checkOutputPath } from "../../io/output.js";

const StateSchema = z.strictObject({
  format: z.literal("mixlab.sampler-state/v1"),
  planSha256: z.string().regex(/^[0-9a-f]{64}$/),
  consumed: z.number().int().min(0),
  appended: z.array(z.strictObject({ start: z.number().int().min(0), proportions: z.record(z.string(), z.number().min(0)) })),
});

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
    .requiredOption("--corpus <dir>", "corpus directory (<domain>.jsonl[.gz|.br], .arrow, .parquet, .bin, <domain>/, or corpus.json)")
    .requiredOption("--proportions <file>", "a mixlab.proportions/v1 file (domains, optional stages)")
    .option("--seed <n>", "seed", seedFlag, 0)
    .option("-n, --n <k>", "samples to print (for this rank)", nonNegativeInt, 20)
    .option("--rank <r>", "this rank", nonNegativeInt, 0)
    .option("--world <w>", "number of ranks", positiveInt, 1)
    .option("--state-in <file>", "resume from this state")
    .option("--state-out <file>", "write the state after the printed samples")
    .option("--summary", "print requested vs achieved shares instead of samples")
    .option("--block-size <b>", "samples per block", positiveInt, 1024)
    .option("--unit <u>", "proportions are shares of tokens or samples", (v: string) => {
      if (v !== "tokens" && v !== "samples") throw new InputError("--unit", `expected tokens or samples, got ${JSON.stringify(v)}`);
      return v;
    }, "tokens")
    .option("--order <o>", "block order: shuffle or smooth (Megatron's greedy)", (v: string) => {
      if (v !== "shuffle" && v !== "smooth") throw new InputError("--order", `expected shuffle or smooth, got ${JSON.stringify(v)}`);
      return v;
    }, "shuffle")
    .option("--max-epochs <e>", "maximum epochs over any domain (needs a budget)", positiveNumber)
    .option("--budget-samples <n>", "the run's length in samples", positiveInt)
    .option("--budget-tokens <n>", "the run's length in tokens", positiveNumber)
    .option("--on-exceed <what>", "error or redistribute when a domain cannot meet its share within its cap", (v: string) => {
      if (v !== "error" && v !== "redistribute") throw new InputError("--on-exceed", `expected error or redistribute, got ${JSON.stringify(v)}`);
      return v;
    }, "error")
    .addHelpText("after", "\nExample:\n  $ mixlab sample --corpus data/ --proportions proportions.json --n 5 --state-out s.json\n  $ mixlab sample --corpus data/ --proportions proportions.json --n 5 --state-in s.json")
    .action(async (f: SampleFlags) => {
      if (f.stateOut) checkOutputPath(f.stateOut, "--state-out");
      const text = readInputText(f.proportions);
      const doc = parseProportions(text, f.proportions);
      let state: SamplerState | undefined;
      if (f.stateIn) {
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(f.stateIn, "utf8"));
        } catch (e) {
          throw new InputError(f.stateIn, `expected a sampler state (JSON), got ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const r = StateSchema.safeParse(raw);
        if (!r.success) throw new InputError(f.stateIn, r.error.issues.map((i) => ({ path: i.path.join(".") || "state", message: i.message })));
        state = r.data;
      }
      const unit = doc.unit === "samples" ? "samples" : f.unit;
      const sampler = await createSampler({
        corpus: f.corpus,
        ...(doc.stages && doc.stages.length
          ? { stages: doc.stages.map((s) => ({ ...(s.untilTokens !== undefined ? { untilTokens: s.untilTokens } : {}), ...(s.untilSamples !== undefined ? { untilSamples: s.untilSamples } : {}), proportions: s.domains })) }
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
        ...(state ? { state } : {}),
        warn: (m) => log(`warning: ${m}`),
        ...(f.summary ? {} : { report: (t: string) => log(t) }),
      });
      if (f.rank >= f.world) throw new InputError("--rank", `expected a rank below --world ${f.world}, got ${f.rank}`);
      const counts = new Map<string, number>();
      const out: string[] = [];
      for (const s of sampler.samples(f.n)) {
        counts.set(s.domain, (counts.get(s.domain) ?? 0) + 1);
        if (!f.summary) out.push(JSON.stringify({ index: s.index, domain: s.domain, domainIndex: s.domainIndex, record: s.record, epoch: s.epoch }));
      }
      if (f.summary) {
        const rows = sampler.table();
        process.stdout.write(`${formatPlanTable(rows)}\n`);
        const total = [...counts.values()].reduce((a, b) => a + b, 0);
        if (total > 0) process.stdout.write(`\nover the ${total} samples drawn: ${sampler.domains.map((d) => `${d} ${((counts.get(d) ?? 0) / total).toFixed(4)}`).join(", ")} (sample shares)\n`);
      } else if (out.length) process.stdout.write(`${out.join("\n")}\n`);
      if (f.stateOut) writeFileAtomic(f.stateOut, `${JSON.stringify(sampler.state(), null, 2)}\n`);
      await sampler.close();
    });
}
