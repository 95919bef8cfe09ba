// Recommendation for smooth laws (DML, log-linear, BiMix): a Dirichlet candidate search finds
// good basins, then projected gradient descent on box ∩ simplex refines the best few starts and
// the prior and uniform mixtures; the lowest objective wins. For convex laws every start reaches
// the same optimum; for non-convex ones the search guards against a poor local minimum.

import type { Rng } from "../../src/rng/index.js";
import type { Recommendation, ResolvedConstraints } from "../types.js";
import { candidateSearch } from "./candidates.js";
import { minimizeOnSimplex, type ValueAndGradient } from "../../src/core/optimize.js";

/** Options of the smooth recommendation. */
export interface SmoothRecommendOptions {
  /** Candidates in the initial search (default 20,000). */
  readonly numCandidates: number;
  /** Best candidates refined by gradient descent (default 8). */
  readonly numStarts: number;
}

/**
 * Minimises `objective` over the constraint box.
 * @param predictRows scores (rows × dims) candidate mixtures (lower is better)
 */
export function recommendSmooth(
  objective: ValueAndGradient,
  predictRows: (rows: Float64Array) => Float64Array,
  prior: Float64Array,
  constraints: ResolvedConstraints,
  rng: Rng,
  options: SmoothRecommendOptions = { numCandidates: 20_000, numStarts: 8 },
): Recommendation {
  const k = prior.length;
  const search = candidateSearch(
    prior,
    constraints.box,
    { numCandidates: options.numCandidates, topK: options.numStarts, concentration: 1 },
    rng,
    (chunk, collector) => {
      const v = predictRows(chunk);
      for (let i = 0; i < v.length; i++) collector.offer(v[i]!, chunk, i * k);
    },
  );
  const starts: Float64Array[] = [Float64Array.from(prior), new Float64Array(k).fill(1 / k)];
  for (let i = 0; i < search.topValues.length; i++) starts.push(search.topVectors.slice(i * k, (i + 1) * k));
  let best: { p: Float64Array; value: number; iterations: number } | null = null;
  let winner = -1;
  starts.forEach((s, i) => {
    const r = minimizeOnSimplex(objective, s, constraints.box);
    if (best === null || r.value < best.value) {
      best = r;
      winner = i;
    }
  });
  const b = best as unknown as { p: Float64Array; value: number; iterations: number };
  return {
    proportions: b.p,
    predicted: b.value,
    details: {
      search: "dirichlet candidates + projected gradient",
      numCandidates: options.numCandidates,
      numStarts: starts.length,
      winningStart: winner === 0 ? "prior" : winner === 1 ? "uniform" : `candidate ${winner - 2}`,
      iterations: b.iterations,
    },
  };
}
