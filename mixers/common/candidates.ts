// RegMix's "simulate and choose" step (ALGORITHMS.md §2.1 step 4) as a shared search: draw many
// mixtures from Dirichlet(concentration · prior), move each into the constraint box (P4,
// multiplicative), score them in chunks, keep the k best and average them. The average of points
// of a convex set (box ∩ simplex) stays in it, so the result honours the constraints.

import type { Rng } from "../../src/rng/index.js";
import { sampleDirichlet } from "../../src/core/dirichlet.js";
import { repairMultiplicative, type Box } from "../../src/core/simplex.js";
import { TopKCollector } from "../../src/core/topk.js";
import { std } from "../../src/core/stats.js";

/** Options of the candidate search (RegMix's defaults in brackets). */
export interface CandidateSearchOptions {
  /** Candidates drawn [100,000; RegMix's notebook]. */
  readonly numCandidates: number;
  /** Best candidates averaged [128]. */
  readonly topK: number;
  /** Total Dirichlet concentration around the prior [1: Dirichlet(q) itself, sparse draws]. */
  readonly concentration: number;
}

/** What the search found. */
export interface CandidateSearchResult {
  /** Mean of the top-k candidates. */
  readonly proportions: Float64Array;
  /** Their scores, best first. */
  readonly topValues: Float64Array;
  /** Per-domain standard deviation across the top-k (how much the choice is pinned down). */
  readonly topSpread: Float64Array;
  /** The top-k candidates themselves, (topK × dims), best first. */
  readonly topVectors: Float64Array;
  readonly numCandidates: number;
}

/** Scores a chunk of candidates (rows × dims) and offers them to the collector. */
export type ChunkScorer = (chunk: Float64Array, collector: TopKCollector) => void;

const CHUNK_ROWS = 8192;

/** True when the box does not restrict anything (every bound is [0, 1]). */
function isTrivial(box: Box): boolean {
  for (let i = 0; i < box.lower.length; i++) if (box.lower[i]! > 0 || box.upper[i]! < 1) return false;
  return true;
}

/**
 * Runs the candidate search. Deterministic for a given rng state; the chunk size does not
 * change the result (candidates are drawn in one sequence and ties keep the earlier one).
 * @param prior (dims) proportions the Dirichlet is centred on; zero entries are floored at 1e-12
 */
export function candidateSearch(
  prior: Float64Array,
  box: Box,
  options: CandidateSearchOptions,
  rng: Rng,
  score: ChunkScorer,
): CandidateSearchResult {
  const dims = prior.length;
  const alpha = new Float64Array(dims);
  for (let i = 0; i < dims; i++) alpha[i] = Math.max(prior[i]! * options.concentration, 1e-12);
  const trivial = isTrivial(box);
  const collector = new TopKCollector(Math.min(options.topK, options.numCandidates), dims);
  const chunk = new Float64Array(Math.min(CHUNK_ROWS, options.numCandidates) * dims);
  const row = new Float64Array(dims);
  const fixed = new Float64Array(dims);
  for (let done = 0; done < options.numCandidates; ) {
    const rows = Math.min(CHUNK_ROWS, options.numCandidates - done);
    for (let r = 0; r < rows; r++) {
      sampleDirichlet(alpha, rng, row);
      if (trivial) chunk.set(row, r * dims);
      else chunk.set(repairMultiplicative(row, box, fixed), r * dims);
    }
    score(rows === CHUNK_ROWS ? chunk : chunk.subarray(0, rows * dims), collector);
    done += rows;
  }
  const { values, vectors } = collector.results();
  const n = values.length;
  const proportions = new Float64Array(dims);
  const topSpread = new Float64Array(dims);
  const col = new Float64Array(n);
  for (let j = 0; j < dims; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      col[i] = vectors[i * dims + j]!;
      s += col[i]!;
    }
    proportions[j] = s / n;
    topSpread[j] = std(col);
  }
  // Renormalise away the last rounding residue of the average.
  let s = 0;
  for (let j = 0; j < dims; j++) s += proportions[j]!;
  for (let j = 0; j < dims; j++) proportions[j] = proportions[j]! / s;
  return { proportions, topValues: values, topSpread, topVectors: vectors, numCandidates: options.numCandidates };
}
