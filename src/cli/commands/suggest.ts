// `mixlab suggest --domains a,b,c --n K --method dirichlet`: a RegMix-style swarm of mixtures to
// train, written as a runs table with w.<domain> columns, a run_id and no losses yet.

import type { Command } from "commander";
import { domainMapFlag, listFlag, positiveInt, positiveNumber, seedFlag, jsonObjectFlag } from "../flags.js";
import { suggesters } from "../../../mixers/dirichlet/index.js";
import { createRng } from "../../rng/index.js";
import { InputError } from "../../errors.js";
import { mixturesFrame } from "../../runs/table.js";
import { formatOf, serializeFrame, type Cell } from "../../runs/frame.js";
import { writeResult, log } from "../output.js";
import { normalize } from "../../core/simplex.js";

interface SuggestFlags {
  domains?: string[];
  n: number;
  method: string;
  seed: number;
  out?: string;
  prior?: Record<string, number>;
  tokens?: Record<string, number>;
  maxEpochs?: number;
  budget?: number;
  options?: Record<string, unknown>;
}

export function suggestCommand(program: Command): void {
  program
    .command("suggest")
    .summary("design the next mixtures to train (a RegMix swarm)")
    .requiredOption("--domains <a,b,c>", "domain names", listFlag)
    .requiredOption("-n, --n <k>", "number of mixtures", positiveInt)
    .option("--method <name>", `one of ${Object.keys(suggesters).join(", ")}`, "dirichlet")
    .option("--seed <n>", "seed", seedFlag, 0)
    .option("-o, --out <file>", "output table (format by extension; default CSV on stdout)")
    .option("--prior <map>", "prior shares per domain (default: from --tokens, else uniform)", domainMapFlag)
    .option("--tokens <map>", "tokens per domain (the natural prior, and epoch caps with --max-epochs)", domainMapFlag)
    .option("--max-epochs <e>", "cap each domain at e epochs of --budget tokens (replaces the usage cap)", positiveNumber)
    .option("--budget <tokens>", "tokens of the target run, for --max-epochs", positiveNumber)
    .option("--options <json>", "design options: priorTemperature, minConcentration, maxConcentration, maxUsage, minShare, oversample", jsonObjectFlag)
    .addHelpText("after", "\nExample:\n  $ mixlab suggest --domains web,code,papers --n 64 --tokens web=1e9,code=3e8,papers=2e8 --seed 1 -o swarm.csv")
    .action(async (f: SuggestFlags) => {
      const s = suggesters[f.method as keyof typeof suggesters];
      if (!s) throw new InputError("--method", `expected one of ${Object.keys(suggesters).join(", ")}, got ${JSON.stringify(f.method)}`);
      const domains = f.domains!;
      const dup = domains.filter((d, i) => domains.indexOf(d) !== i);
      if (dup.length) throw new InputError("--domains", `expected unique names, got ${dup.map((d) => JSON.stringify(d)).join(", ")} twice`);
      const byDomain = (m: Record<string, number>, flag: string): Float64Array => {
        const unknown = Object.keys(m).filter((d) => !domains.includes(d));
        const missing = domains.filter((d) => m[d] === undefined);
        if (unknown.length || missing.length) throw new InputError(flag, `expected exactly the domains ${domains.join(", ")}, got ${unknown.length ? `unknown ${unknown.join(", ")}` : ""}${unknown.length && missing.length ? " and " : ""}${missing.length ? `none for ${missing.join(", ")}` : ""}`);
        return Float64Array.from(domains.map((d) => m[d]!));
      };
      const prior = f.prior ? normalize(byDomain(f.prior, "--prior")) : f.tokens ? normalize(byDomain(f.tokens, "--tokens")) : undefined;
      let caps: Float64Array | undefined;
      if (f.maxEpochs !== undefined) {
        if (!f.tokens || f.budget === undefined) throw new InputError("--max-epochs", "expected --tokens and --budget with it, got none");
        const t = byDomain(f.tokens, "--tokens");
        caps = Float64Array.from(t, (n) => Math.min(1, (f.maxEpochs! * n) / f.budget!));
      }
      const options = s.parseOptions(f.options ?? {});
      const w = s.design({ domains, n: f.n, ...(prior ? { prior } : {}), ...(caps ? { caps } : {}) }, options, createRng(f.seed).derive("suggest"));
      const ids: Cell[] = Array.from({ length: f.n }, (_, i) => `s${f.seed}-${String(i + 1).padStart(String(f.n).length, "0")}`);
      const frame = mixturesFrame("suggest", domains, w, [["run_id", ids], ["seed", new Array<Cell>(f.n).fill(f.seed)]]);
      writeResult(await serializeFrame(frame, f.out ? formatOf(f.out, "--out") : "csv"), f.out);
      log(`designed ${f.n} mixtures over ${domains.length} domains (${f.method}, seed ${f.seed})${f.out ? `; wrote ${f.out}` : ""}`);
    });
}
