// `mixlab suggest [RUNS] --method M --n K`: the next mixtures to train from any registered
// Suggester (a RegMix swarm, Bayesian optimisation over the runs so far), written as a runs table
// with w.<domain> columns, a run_id and no losses yet.

import type { Command } from "commander";
import { costsFlag, listFlag, positiveInt, positiveNumber, priorFlag, seedFlag, jsonObjectFlag, shareOrMapFlag, tokensFlag, addRunsFlags, loadRuns, type RunsFlags } from "../flags.js";
import { resolveTarget } from "../../runs/table.js";
import { fidelityOf, valuesByDomain } from "../../fit.js";
import { resolveConstraints } from "../../core/constraints.js";
import { suggesters } from "../../../mixers/index.js";
import type { SuggestInput } from "../../../mixers/types.js";
import { createRng } from "../../rng/index.js";
import { InputError } from "../../errors.js";
import { mixturesFrame } from "../../runs/table.js";
import { formatOf, serializeFrame, type Cell } from "../../runs/frame.js";
import { checkOutputPath } from "../../io/output.js";
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

const methodList = (): string => Object.entries(suggesters).map(([name, s]) => `${name} (n ≤ ${s.maxN})`).join(", ");

export function suggestCommand(program: Command): void {
  const cmd = program
    .command("suggest")
    .argument("[runs]", "the runs so far (bayesopt: the table is the state; rows without a target are pending runs; dirichlet: its domains)")
    .summary("the next mixtures to train: a RegMix swarm, or Bayesian optimisation over the runs so far")
    .option("--domains <a,b,c>", "domain names (dirichlet without a runs table)", listFlag)
    .requiredOption("-n, --n <k>", `number of mixtures (at most: ${methodList()})`, positiveInt)
    .option("--method <name>", `one of ${Object.keys(suggesters).join(", ")}`, "dirichlet")
    .option("-t, --target <spec>", "bayesopt: the column to minimise (loss.web or mean:loss.a,loss.b)")
    .option("--fidelity-costs <map>", "bayesopt: cost per fidelity label of the runs' fidelity column, e.g. 1m=0.001,60m=0.06,1b=1", costsFlag)
    .option("--min-share <x|map>", "minimum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--max-share <x|map>", "maximum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--seed <n>", "seed", seedFlag, 0)
    .option("-o, --out <file>", "output table (format by extension; default CSV on stdout)")
    .option("--prior <map>", "prior shares per domain (default: from --tokens, else uniform)", priorFlag)
    .option("--tokens <map>", "tokens per domain (the natural prior, and epoch caps with --max-epochs)", tokensFlag)
    .option("--max-epochs <e>", "cap each domain at e epochs of --budget tokens (replaces the usage cap)", positiveNumber)
    .option("--budget <tokens>", "tokens of the target run, for --max-epochs", positiveNumber)
    .option("--options <json>", "method options (dirichlet: priorTemperature, minConcentration, maxConcentration, maxUsage, minShare, oversample; bayesopt: acquisition, beta, numCandidates, restarts)", jsonObjectFlag);
  addRunsFlags(cmd);
  cmd
    .addHelpText("after", "\nExamples:\n  $ mixlab suggest --domains web,code,papers --n 64 --tokens web=1e9,code=3e8,papers=2e8 --seed 1 -o swarm.csv\n  $ mixlab suggest runs.csv --method bayesopt --target loss.web --n 4 -o next.csv\n  $ mixlab suggest runs.csv --method bayesopt --target loss.web --n 2 --fidelity-costs 1m=0.001,60m=0.06,1b=1")
    .action(async (runs: string | undefined, f: SuggestFlags) => {
      const s = suggesters[f.method];
      if (!s) throw new InputError("--method", `expected one of ${Object.keys(suggesters).join(", ")}, got ${JSON.stringify(f.method)}`);
      if (f.n > s.maxN) throw new InputError("--n", `expected at most ${s.maxN} mixtures for ${s.name} in one call, got ${f.n}`);
      if (f.out) checkOutputPath(f.out, "--out");
      const format = f.out ? formatOf(f.out, "--out") : "csv";
      const options = s.parseOptions(f.options ?? {});
      if (s.needsRuns && !runs) throw new InputError("suggest", `expected a runs table for --method ${s.name} (the runs so far), got none`);
      if (s.needsRuns && !f.target) throw new InputError("--target", `expected the column to minimise for --method ${s.name}, got none`);
      if (!s.needsRuns && f.target) throw new InputError("--target", `expected no target for --method ${s.name} (it does not read losses), got ${JSON.stringify(f.target)}`);
      if (!s.multiFidelity && f.fidelityCosts) throw new InputError("--fidelity-costs", `expected a multi-fidelity method (${Object.values(suggesters).filter((x) => x.multiFidelity).map((x) => x.name).join(", ")}), got --method ${s.name}`);
      if (runs && f.domains) throw new InputError("--domains", `expected either a runs table or --domains, got both (${runs} and ${f.domains.join(",")})`);
      const loaded = runs ? (await loadRuns(runs, f)).table : undefined;
      if (!loaded && !f.domains) throw new InputError("--domains", `expected the domain names (a,b,c) or a runs table for --method ${s.name}, got none`);
      const domains = loaded ? loaded.domains : f.domains!;
      const dup = domains.filter((d, i) => domains.indexOf(d) !== i);
      if (dup.length) throw new InputError("--domains", `expected unique names, got ${dup.map((d) => JSON.stringify(d)).join(", ")} twice`);
      if (domains.length < 2) throw new InputError("--domains", `expected at least 2 domains, got ${domains.length}`);
      const prior = f.prior ? normalize(valuesByDomain(domains, f.prior, "--prior")) : f.tokens ? normalize(valuesByDomain(domains, f.tokens, "--tokens")) : undefined;
      if (f.tokens) valuesByDomain(domains, f.tokens, "--tokens");
      const constraints = resolveConstraints(domains, {
        ...(f.minShare !== undefined ? { minShare: f.minShare } : {}),
        ...(f.maxShare !== undefined ? { maxShare: f.maxShare } : {}),
        ...(f.maxEpochs !== undefined ? { maxEpochs: f.maxEpochs } : {}),
        ...(f.tokens ? { tokensPerDomain: f.tokens } : {}),
        ...(f.budget !== undefined ? { budgetTokens: f.budget } : {}),
      });
      if (f.budget !== undefined && f.maxEpochs === undefined) throw new InputError("--budget", "expected --max-epochs with it (the budget only sets epoch caps here), got none");
      const costs = f.fidelityCosts;
      const maxCost = costs ? Math.max(...Object.values(costs)) : 1;
      let input: SuggestInput = { domains, constraints, ...(prior ? { prior } : {}), ...(costs ? { fidelities: Object.values(costs).map((c) => c / maxCost) } : {}) };
      let pending = 0;
      if (loaded && s.needsRuns) {
        const target = resolveTarget(loaded, f.target!, { allowMissing: true });
        const fid = s.multiFidelity ? fidelityOf(loaded, costs) : null;
        pending = Array.from(target.values).filter((v) => !Number.isFinite(v)).length;
        input = { ...input, weights: loaded.weights, target: target.values, ...(fid ? { fidelity: fid.z } : {}) };
      }
      const t0 = performance.now();
      let proposals;
      try {
        proposals = s.suggest(input, f.n, options, createRng(f.seed).derive("suggest"));
      } catch (e) {
        // A problem with the runs so far names the table the user gave.
        if (e instanceof InputError && e.source === "runs" && runs) throw new InputError(runs, e.issues);
        throw e;
      }
      const k = domains.length;
      const w = new Float64Array(f.n * k);
      proposals.forEach((p, i) => w.set(p.proportions, i * k));
      const label = (z: number): Cell => (costs ? (Object.entries(costs).find(([, c]) => Math.abs(c / maxCost - z) < 1e-12)?.[0] ?? z) : z);
      const start = loaded && s.needsRuns ? loaded.numRuns : 0;
      const width = String(start + f.n).length;
      const extra: [string, Cell[]][] = [["run_id", proposals.map((_, i) => `${s.runIdPrefix}${f.seed}-${String(start + i + 1).padStart(width, "0")}`)]];
      if (proposals.some((p) => p.fidelity !== undefined)) extra.push(["fidelity", proposals.map((p) => (p.fidelity === undefined ? null : label(p.fidelity)))]);
      if (proposals.some((p) => p.predicted !== undefined)) extra.push(["predicted", proposals.map((p) => p.predicted ?? null)], ["predicted_sd", proposals.map((p) => p.predictedSd ?? null)]);
      extra.push(["seed", proposals.map(() => f.seed)]);
      const frame = mixturesFrame("suggest", domains, w, extra);
      writeResult(await serializeFrame(frame, format), f.out);
      const from = loaded && s.needsRuns ? ` from ${loaded.numRuns - pending} finished and ${pending} pending runs` : ` over ${k} domains`;
      log(`${s.name}: ${f.n} proposals${from} (seed ${f.seed}) in ${((performance.now() - t0) / 1000).toFixed(2)} s${f.out ? `; wrote ${f.out}` : ""}`);
    });
}
