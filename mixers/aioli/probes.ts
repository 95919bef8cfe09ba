// Aioli's probe mixtures (ALGORITHMS.md §3.2, LearnParams): m^(j) puts h on domain j and
// (1 − h)/(k − 1) on every other domain; each probe batch of B sequences is apportioned by
// largest remainder, so every domain's realised count is within one sequence of m^(j) · B, and
// the de-mixing matrix W is built from those realised counts (not the nominal shares).

import { apportion } from "../../src/core/simplex.js";
import { invertMatrix, infinityNorm } from "../../src/core/invert.js";

/** The nominal probe mixture for domain j: h on j, (1 − h)/(k − 1) elsewhere. */
export function probeMixture(k: number, j: number, h: number, out: Float64Array = new Float64Array(k)): Float64Array {
  const rest = (1 - h) / (k - 1);
  for (let i = 0; i < k; i++) out[i] = i === j ? h : rest;
  return out;
}

/**
 * Realised per-batch counts of every probe: row j is the largest-remainder apportionment of
 * m^(j) · batchSize (Σ = batchSize, each within one of nominal).
 * @returns (k × k) row-major Int32Array, row = probe target j, column = domain
 */
export function probeCounts(k: number, h: number, batchSize: number): Int32Array {
  const out = new Int32Array(k * k);
  const m = new Float64Array(k);
  for (let j = 0; j < k; j++) out.set(apportion(probeMixture(k, j, h, m), batchSize), j * k);
  return out;
}

/** The de-mixing system of the realised probes. */
export interface ProbeSystem {
  /** (k × k) realised counts, row = probe. */
  readonly counts: Int32Array;
  /** W = counts / batchSize, (k × k) row-major. */
  readonly w: Float64Array;
  /** W⁻¹, or null when the realised probes are linearly dependent. */
  readonly wInv: Float64Array | null;
  /** ‖W⁻¹‖∞: how much noise in β the solve can amplify. */
  readonly amplification: number;
  /** The nominal amplification 1/a, a = h − (1 − h)/(k − 1) (the smaller eigenvalue of W). */
  readonly nominalAmplification: number;
}

/** The realised probe counts, W, its inverse (null when singular) and the amplification figures. */
export function probeSystem(k: number, h: number, batchSize: number): ProbeSystem {
  const counts = probeCounts(k, h, batchSize);
  const w = new Float64Array(k * k);
  for (let i = 0; i < k * k; i++) w[i] = counts[i]! / batchSize;
  const wInv = invertMatrix(w, k);
  const a = h - (1 - h) / (k - 1);
  return { counts, w, wInv, amplification: wInv ? infinityNorm(wInv, k) : Infinity, nominalAmplification: 1 / a };
}
