// `mixlab suggest --domains a,b,c --n K --method dirichlet`: a RegMix-style swarm of mixtures to
// train, written as a runs table with w.<domain> columns, a run_id and no losses yet.

import type { Command } from "commander";
import { domainMapFlag, listFlag, positiveInt, positiveNumber, seedFlag, jsonObjectFlag, shareOrMapFlag, addRunsFlags, loadRuns, type RunsFlags } from "../flags.js";
import { suggestBayesOpt } from "../../../mixers/bayesopt/index.js";
import { resolveTarget } from "../../runs/table.js";
import { fidelityOf, valuesByDomain } from "../../fit.js";
import { resolveConstraints } from "../../core/constraints.js";
import { suggesters } from "../../../mixers/dirichlet/index.js";
import { createRng } from "../../rng/index.js";
import { InputError } from "../../errors.js";
import { mixturesFrame } from "../../runs/table.js";
import { formatOf, serializeFrame, type Cell } from "../../runs/frame.js";
import { writeResult, log } from "../output.js";
import { normalize } from "../../core/simplex.js";

interface SuggestFlags extends RunsFlags {
  target?: string;
  fidelityCosts?: Record<string, number>;
  minShare?: number | Record<string, number>;
  maxShare?: number | Record<string, number>;
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
  const cmd = program
    .command("suggest")
    .argument("[runs]", "the runs so far (bayesopt: the table is the state; rows without a target are pending runs)")
    .summary("the next mixtures to train: a RegMix swarm, or Bayesian optimisation over the runs so far")
    .option("--domains <a,b,c>", "domain names (dirichlet without a runs table)", listFlag)
    .requiredOption("-n, --n <k>", "number of mixtures", positiveInt)
    .option("--method <name>", `one of ${[...Object.keys(suggesters), "bayesopt"].join(", ")}`, "dirichlet")
    .option("-t, --target <spec>", "bayesopt: the column to minimise (loss.web or mean:loss.a,loss.b)")
    .option("--fidelity-costs <map>", "bayesopt: cost per fidelity label of the runs' fidelity column, e.g. 1m=0.001,60m=0.06,1b=1", domainMapFlag)
    .option("--min-share <x|map>", "minimum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--max-share <x|map>", "maximum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--seed <n>", "seed", seedFlag, 0)
    .option("-o, --out <file>", "output table (format by extension; default CSV on stdout)")
    .option("--prior <map>", "prior shares per domain (default: from --tokens, else uniform)", domainMapFlag)
    .option("--tokens <map>", "tokens per domain (the natural prior, and epoch caps with --max-epochs)", domainMapFlag)
    .option("--max-epochs <e>", "cap each domain at e epochs of --budget tokens (replaces the usage cap)", positiveNumber)
    .option("--budget <tokens>", "tokens of the target run, for --max-epochs", positiveNumber)
    .option("--options <json>", "method options (dirichlet: priorTemperature, minConcentration, maxConcentration, maxUsage, minShare, oversample; bayesopt: acquisition, beta, numCandidates, restarts)", jsonObjectFlag);
  addRunsFlags(cmd);
  cmd
    .addHelpText("after", "\nExamples:\n  $ mixlab suggest --domains web,code,papers --n 64 --tokens web=1e9,code=3e8,papers=2e8 --seed 1 -o swarm.csv\n  $ mixlab suggest runs.csv --method bayesopt --target loss.web --n 4 -o next.csv\n  $ mixlab suggest runs.csv --method bayesopt --target loss.web --n 2 --fidelity-costs 1m=0.001,60m=0.06,1b=1")
    .action(async (runs: string | undefined, f: SuggestFlags) => {
      if (f.method === "bayesopt") return suggestBo(runs, f);
      const s = suggesters[f.method as keyof typeof suggesters];
      if (!s) throw new InputError("--method", `expected one of ${Object.keys(suggesters).join(", ")}, got ${JSON.stringify(f.method)}`);
      if (!f.domains) throw new InputError("--domains", "expected the domain names (a,b,c) for a swarm, got none");
      const domains = f.domains;
      const dup = domains.filter((d, i) => domains.indexOf(d) !== i);
      if (dup.length) throw new InputError("--domains", `expected unique names, got ${dup.map((d) => JSON.stringify(d)).join(", ")} twice`);
      const byDomain = (m: Record<string, number>, flag: string): Float64Array => valuesByDomain(domains, m, flag);
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

/** `mixlab suggest RUNS --method bayesopt`: the next runs from the table so far. */
async function suggestBo(runs: string | undefined, f: SuggestFlags): Promise<void> {
  if (!runs) throw new InputError("suggest", "expected a runs table for --method bayesopt (the runs so far), got none");
  if (!f.target) throw new InputError("--target", "expected the column to minimise for --method bayesopt, got none");
  const { table } = await loadRuns(runs, f);
  const target = resolveTarget(table, f.target, { allowMissing: true });
  const fid = fidelityOf(table, f.fidelityCosts);
  const domains = table.domains;
  const prior = f.prior ? normalize(valuesByDomain(domains, f.prior, "--prior")) : f.tokens ? normalize(valuesByDomain(domains, f.tokens, "--tokens")) : undefined;
  const constraints = resolveConstraints(domains, {
    ...(f.minShare !== undefined ? { minShare: f.minShare } : {}),
    ...(f.maxShare !== undefined ? { maxShare: f.maxShare } : {}),
    ...(f.maxEpochs !== undefined ? { maxEpochs: f.maxEpochs } : {}),
    ...(f.tokens ? { tokensPerDomain: f.tokens } : {}),
    ...(f.budget !== undefined ? { budgetTokens: f.budget } : {}),
  });
  const costs = f.fidelityCosts;
  const fidelities = costs ? Object.values(costs).map((c) => c / Math.max(...Object.values(costs))) : undefined;
  const t0 = performance.now();
  const proposals = suggestBayesOpt(
    { domains, weights: table.weights, y: target.values, fidelity: fid ? fid.z : null, ...(prior ? { prior } : {}) },
    f.n,
    constraints,
    { ...(f.options ?? {}), ...(fidelities ? { fidelities } : {}) },
    createRng(f.seed).derive("bayesopt"),
  );
  const k = domains.length;
  const w = new Float64Array(f.n * k);
  proposals.forEach((p, i) => w.set(p.proportions, i * k));
  const label = (z: number): Cell => {
    if (!costs) return z;
    const max = Math.max(...Object.values(costs));
    return Object.entries(costs).find(([, c]) => Math.abs(c / max - z) < 1e-12)?.[0] ?? z;
  };
  const extra: [string, Cell[]][] = [
    ["run_id", proposals.map((_, i) => `bo${f.seed}-${table.numRuns + i + 1}`)],
    ...(fid ? ([["fidelity", proposals.map((p) => label(p.fidelity))]] as [string, Cell[]][]) : []),
    ["predicted", proposals.map((p) => p.predictedMean)],
    ["predicted_sd", proposals.map((p) => p.predictedSd)],
    ["seed", proposals.map(() => f.seed)],
  ];
  const frame = mixturesFrame("suggest", domains, w, extra);
  writeResult(await serializeFrame(frame, f.out ? formatOf(f.out, "--out") : "csv"), f.out);
  const pending = Array.from(target.values).filter((v) => !Number.isFinite(v)).length;
  log(`bayesopt: ${f.n} proposals from ${table.numRuns - pending} finished and ${pending} pending runs in ${((performance.now() - t0) / 1000).toFixed(2)} s${f.out ? `; wrote ${f.out}` : ""}`);
}
