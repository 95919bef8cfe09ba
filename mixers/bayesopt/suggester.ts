// Bayesian optimisation as a Suggester: the runs so far (pending ones as fantasies) → the next
// batch of mixtures, each with a fidelity when the runs carry one (see suggestBayesOpt).

import type { Suggester } from "../types.js";
import { InputError } from "../../src/errors.js";
import { BayesOptOptionsSchema, suggestBayesOpt, type BayesOptOptions } from "./index.js";
import { parseOptions } from "../common/options.js";

/** The largest batch one call proposes (each proposal refits the GP with one more fantasy). */
export const MAX_BAYESOPT_BATCH = 256;

/** Bayesian optimisation over the runs table (GP on √p, log EI or LCB, augmented EI across fidelities). */
export const bayesoptSuggester: Suggester<BayesOptOptions> = {
  name: "bayesopt",
  summary: "Bayesian optimisation: a GP over the runs so far proposes the next batch (pending runs as fantasies)",
  paper:
    "Chen et al., ADMIRE-BayesOpt (arXiv 2508.11551); Wu et al. 2019 (multi-fidelity kernel); " +
    "Huang et al. 2006 (augmented EI)",
  needsRuns: true,
  multiFidelity: true,
  maxN: MAX_BAYESOPT_BATCH,
  runIdPrefix: "bo",
  parseOptions: (raw) => parseOptions(BayesOptOptionsSchema, raw, "bayesopt"),
  suggest(input, n, options, rng) {
    if (!(Number.isInteger(n) && n >= 1 && n <= MAX_BAYESOPT_BATCH)) {
      throw new InputError("--n", `expected an integer in [1, ${MAX_BAYESOPT_BATCH}] for bayesopt, got ${n}`);
    }
    if (!input.weights || !input.target) {
      throw new InputError("bayesopt", "expected the runs so far (mixtures and targets), got none");
    }
    const k = input.domains.length;
    let finished = 0;
    for (const y of input.target) if (Number.isFinite(y)) finished++;
    if (finished < 2) {
      const message =
        `expected at least 2 finished runs (rows with a target), got ${finished}; ` +
        "start with a swarm (mixlab suggest --method dirichlet)";
      throw new InputError("runs", [{ path: "target", message }]);
    }
    const numRuns = input.target.length;
    if (input.weights.length !== numRuns * k) {
      const message = `expected ${numRuns * k} mixture entries for ${numRuns} runs, got ${input.weights.length}`;
      throw new InputError("bayesopt", message);
    }
    const proposals = suggestBayesOpt(
      {
        domains: input.domains,
        weights: input.weights,
        y: input.target,
        fidelity: input.fidelity ?? null,
        ...(input.prior ? { prior: input.prior } : {}),
      },
      n,
      input.constraints,
      { ...options, ...(input.fidelities ? { fidelities: [...input.fidelities] } : {}) },
      rng,
    );
    return proposals.map((p) => ({
      proportions: p.proportions,
      ...(input.fidelity ? { fidelity: p.fidelity } : {}),
      predicted: p.predictedMean,
      predictedSd: p.predictedSd,
    }));
  },
};
