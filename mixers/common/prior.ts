// The prior a candidate search is centred on: natural token shares when the user gave token
// counts (RegMix's choice), else the mean training mixture (the design was drawn around some
// prior; its mean is the best estimate of it without token counts).

import type { FitInput } from "../types.js";

/** The prior of a fit input, with where it came from. */
export function priorOf(input: FitInput): {
  prior: Float64Array;
  source: "tokens" | "given" | "mean of the training mixtures";
} {
  const k = input.domains.length;
  if (input.prior) return { prior: Float64Array.from(input.prior), source: "given" };
  if (input.tokensPerDomain) {
    const p = Float64Array.from(input.tokensPerDomain);
    let s = 0;
    for (const v of p) s += v;
    for (let i = 0; i < k; i++) p[i] = p[i]! / s;
    return { prior: p, source: "tokens" };
  }
  const n = input.weights.length / k;
  const p = new Float64Array(k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) p[j] = p[j]! + input.weights[r * k + j]! / n;
  return { prior: p, source: "mean of the training mixtures" };
}

/** The weights that aggregate a fit input's components (a `wmean:` target's, else equal). */
export function aggregationWeights(comps: {
  readonly values: readonly Float64Array[];
  readonly weights?: Float64Array | undefined;
}): Float64Array {
  const m = comps.values.length;
  return comps.weights ? Float64Array.from(comps.weights) : new Float64Array(m).fill(1 / m);
}
