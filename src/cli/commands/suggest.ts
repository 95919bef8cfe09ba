// `mixlab suggest [RUNS] --method M --n K`: the next mixtures to train from any registered
// Suggester (a RegMix swarm, Bayesian optimisation over the runs so far), written as a runs table
// with w.<domain> columns, a run_id and no losses yet. No method has code of its own here.

import type { Command } from "commander";
import {
  addRunsFlags,
  costsFlag,
  jsonObjectFlag,
  listFlag,
  loadRuns,
  positiveInt,
  positiveNumber,
  priorFlag,
  seedFlag,
  shareOrMapFlag,
  tokensFlag,
  type RunsFlags,
} from "../flags.js";
import { mixturesFrame, resolveTarget, type RunsTable } from "../../runs/table.js";
import { fidelityOf, valuesByDomain } from "../../fit.js";
import { resolveConstraints } from "../../core/constraints.js";
import { suggesters } from "../../../mixers/index.js";
import type { SuggestInput, Suggester, Suggestion } from "../../../mixers/types.js";
import { createRng } from "../../rng/index.js";
import { InputError } from "../../errors.js";
import { formatOf, serializeFrame, type Cell } from "../../runs/frame.js";
import { checkOutputPaths } from "../../io/output.js";
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

const methodList = (): string =>
  Object.entries(suggesters)
    .map(([name, s]) => `${name} (n ≤ ${s.maxN})`)
    .join(", ");

const EXAMPLES = [
  "$ mixlab suggest --domains web,code,papers --n 64 --tokens web=1e9,code=3e8,papers=2e8 --seed 1 -o swarm.csv",
  "$ mixlab suggest runs.csv --method bayesopt --target loss.web --n 4 -o next.csv",
  "$ mixlab suggest runs.csv --method bayesopt --target loss.web --n 2 --fidelity-costs 1m=0.001,60m=0.06,1b=1",
];

export function suggestCommand(program: Command): void {
  const cmd = program
    .command("suggest")
    .argument("[runs]", "the runs so far (bayesopt: rows without a target are pending runs; dirichlet: its domains)")
    .summary("the next mixtures to train: a RegMix swarm, or Bayesian optimisation over the runs so far")
    .option("--domains <a,b,c>", "domain names (dirichlet without a runs table)", listFlag)
    .requiredOption("-n, --n <k>", `number of mixtures (at most: ${methodList()})`, positiveInt)
    .option("--method <name>", `one of ${Object.keys(suggesters).join(", ")}`, "dirichlet")
    .option("-t, --target <spec>", "bayesopt: the column to minimise (loss.web or mean:loss.a,loss.b)")
    .option("--fidelity-costs <map>", "bayesopt: cost per label of the fidelity column, e.g. 1m=0.001,1b=1", costsFlag)
    .option("--min-share <x|map>", "minimum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--max-share <x|map>", "maximum share (one number for all, or domain=x pairs)", shareOrMapFlag)
    .option("--seed <n>", "seed", seedFlag, 0)
    .option("-o, --out <file>", "output table (format by extension; default CSV on stdout)")
    .option("--prior <map>", "prior shares per domain (default: from --tokens, else uniform)", priorFlag)
    .option("--tokens <map>", "tokens per domain (the natural prior, and epoch caps with --max-epochs)", tokensFlag)
    .option("--max-epochs <e>", "cap each domain at e epochs of --budget tokens (not the usage cap)", positiveNumber)
    .option("--budget <tokens>", "tokens of the target run, for --max-epochs", positiveNumber)
    .option(
      "--options <json>",
      "method options (dirichlet: priorTemperature, minConcentration, maxConcentration, maxUsage, minShare, " +
        "oversample; bayesopt: acquisition, beta, numCandidates, restarts)",
      jsonObjectFlag,
    );
  addRunsFlags(cmd);
  cmd.addHelpText("after", `\nExamples:\n${EXAMPLES.map((e) => `  ${e}`).join("\n")}`);
  cmd.action(async (runs: string | undefined, f: SuggestFlags) => {
    const s = suggesters[f.method];
    const names = Object.keys(suggesters).join(", ");
    if (!s) throw new InputError("--method", `expected one of ${names}, got ${JSON.stringify(f.method)}`);
    checkFlags(s, runs, f);
    checkOutputPaths([["--out", f.out]], [runs, f.losses]);
    const format = f.out ? formatOf(f.out, "--out") : "csv";
    const options = s.parseOptions(f.options ?? {});
    const loaded = runs ? (await loadRuns(runs, f)).table : undefined;
    const { input, pending } = suggestInput(s, loaded, f);
    const t0 = performance.now();
    let proposals: Suggestion[];
    try {
      proposals = s.suggest(input, f.n, options, createRng(f.seed).derive("suggest"));
    } catch (e) {
      // A problem with the runs so far names the table the user gave.
      if (e instanceof InputError && e.source === "runs" && runs) throw new InputError(runs, e.issues);
      throw e;
    }
    const start = loaded && s.needsRuns ? loaded.numRuns : 0;
    const weights = stack(proposals, input.domains.length);
    const frame = mixturesFrame("suggest", input.domains, weights, extraColumns(s, proposals, f, start));
    writeResult(await serializeFrame(frame, format), f.out);
    const seconds = ((performance.now() - t0) / 1000).toFixed(2);
    const from = loaded && s.needsRuns
      ? ` from ${loaded.numRuns - pending} finished and ${pending} pending runs`
      : ` over ${input.domains.length} domains`;
    const wrote = f.out ? `; wrote ${f.out}` : "";
    log(`${s.name}: ${f.n} proposals${from} (seed ${f.seed}) in ${seconds} s${wrote}`);
  });
}

/** Flag combinations the suggester cannot use, refused before any file is read. */
function checkFlags(s: Suggester, runs: string | undefined, f: SuggestFlags): void {
  const method = `--method ${s.name}`;
  if (f.n > s.maxN) {
    throw new InputError("--n", `expected at most ${s.maxN} mixtures for ${s.name} in one call, got ${f.n}`);
  }
  if (s.needsRuns && !runs) {
    throw new InputError("suggest", `expected a runs table for ${method} (the runs so far), got none`);
  }
  if (s.needsRuns && !f.target) {
    throw new InputError("--target", `expected the column to minimise for ${method}, got none`);
  }
  if (!s.needsRuns && f.target) {
    const got = JSON.stringify(f.target);
    throw new InputError("--target", `expected no target for ${method} (it does not read losses), got ${got}`);
  }
  if (!s.multiFidelity && f.fidelityCosts) {
    const names = Object.values(suggesters).filter((x) => x.multiFidelity).map((x) => x.name);
    throw new InputError("--fidelity-costs", `expected a multi-fidelity method (${names.join(", ")}), got ${method}`);
  }
  if (runs && f.domains) {
    const both = `${runs} and ${f.domains.join(",")}`;
    throw new InputError("--domains", `expected either a runs table or --domains, got both (${both})`);
  }
  if (!runs && !f.domains) {
    throw new InputError("--domains", `expected the domain names (a,b,c) or a runs table for ${method}, got none`);
  }
  if (f.budget !== undefined && f.maxEpochs === undefined) {
    throw new InputError("--budget", "expected --max-epochs with it (the budget only sets epoch caps here), got none");
  }
}

/** The suggester's input: domains, prior, constraints and (for methods that read them) the runs so far. */
function suggestInput(
  s: Suggester,
  loaded: RunsTable | undefined,
  f: SuggestFlags,
): { input: SuggestInput; pending: number } {
  const domains = loaded ? loaded.domains : f.domains!;
  const dup = domains.filter((d, i) => domains.indexOf(d) !== i);
  if (dup.length) {
    const names = dup.map((d) => JSON.stringify(d)).join(", ");
    throw new InputError("--domains", `expected unique names, got ${names} twice`);
  }
  if (domains.length < 2) throw new InputError("--domains", `expected at least 2 domains, got ${domains.length}`);
  const tokens = valuesByDomain(domains, f.tokens, "--tokens");
  const given = valuesByDomain(domains, f.prior, "--prior");
  const prior = given ? normalize(given) : tokens ? normalize(tokens) : undefined;
  const constraints = resolveConstraints(domains, {
    ...(f.minShare !== undefined ? { minShare: f.minShare } : {}),
    ...(f.maxShare !== undefined ? { maxShare: f.maxShare } : {}),
    ...(f.maxEpochs !== undefined ? { maxEpochs: f.maxEpochs } : {}),
    ...(f.tokens ? { tokensPerDomain: f.tokens } : {}),
    ...(f.budget !== undefined ? { budgetTokens: f.budget } : {}),
  });
  const costs = f.fidelityCosts;
  const maxCost = costs ? Math.max(...Object.values(costs)) : 1;
  const fidelities = costs ? { fidelities: Object.values(costs).map((c) => c / maxCost) } : {};
  const input: SuggestInput = { domains, constraints, ...(prior ? { prior } : {}), ...fidelities };
  if (!loaded || !s.needsRuns) return { input, pending: 0 };
  const target = resolveTarget(loaded, f.target!, { allowMissing: true });
  const fid = s.multiFidelity ? fidelityOf(loaded, costs) : null;
  const pending = Array.from(target.values).filter((v) => !Number.isFinite(v)).length;
  const runsSoFar = { weights: loaded.weights, target: target.values, ...(fid ? { fidelity: fid.z } : {}) };
  return { input: { ...input, ...runsSoFar }, pending };
}

/** Proposals as one (n × k) row-major matrix. */
function stack(proposals: readonly Suggestion[], k: number): Float64Array {
  const w = new Float64Array(proposals.length * k);
  proposals.forEach((p, i) => w.set(p.proportions, i * k));
  return w;
}

/** run_id; fidelity (as the labels of --fidelity-costs), predicted and predicted_sd when proposals have them; seed. */
function extraColumns(
  s: Suggester,
  proposals: readonly Suggestion[],
  f: SuggestFlags,
  start: number,
): [string, Cell[]][] {
  const costs = f.fidelityCosts;
  const maxCost = costs ? Math.max(...Object.values(costs)) : 1;
  const label = (z: number): Cell => {
    if (!costs) return z;
    return Object.entries(costs).find(([, c]) => Math.abs(c / maxCost - z) < 1e-12)?.[0] ?? z;
  };
  const width = String(start + proposals.length).length;
  const id = (i: number): string => `${s.runIdPrefix}${f.seed}-${String(start + i + 1).padStart(width, "0")}`;
  const extra: [string, Cell[]][] = [["run_id", proposals.map((_, i) => id(i))]];
  if (proposals.some((p) => p.fidelity !== undefined)) {
    extra.push(["fidelity", proposals.map((p) => (p.fidelity === undefined ? null : label(p.fidelity)))]);
  }
  if (proposals.some((p) => p.predicted !== undefined)) {
    extra.push(["predicted", proposals.map((p) => p.predicted ?? null)]);
    extra.push(["predicted_sd", proposals.map((p) => p.predictedSd ?? null)]);
  }
  extra.push(["seed", proposals.map(() => f.seed)]);
  return extra;
}
