// Synthetic mixing worlds with a known optimum, for judging recommendations (bench/recommend.ts
// and the tests). Each world maps a mixture to per-eval-domain losses; the target is their mean.
// Four functional forms, none of them exactly a law mixlab fits:
//   - "exp-transfer": L_i = c_i + exp(b_i + Σ_j t_ij p_j) (a Data Mixing Law), optimum inside;
//   - "saturating":   L_i = c_i − a_i log(ε + Σ_j T_ij p_j) (diminishing returns with transfer);
//   - "bowl":         L_i = c_i + s_i ‖√p − √p*‖² + g_i p_i² (a basin at p*, then overuse costs);
//   - "power":        L_i = c_i (ε_i + Σ_j T_ij p_j)^(−α_i) (BiMix-like power law with transfer).
// Parameters are drawn from the seed; `optimumOf` finds the optimum by candidate search and
// projected gradient with numerical gradients.

import type { Rng } from "../rng/index.js";
import { sampleDirichlet } from "./dirichlet.js";
import { minimizeOnSimplex } from "./optimize.js";

/** A world: per-domain losses of a mixture. */
export interface World {
  readonly name: string;
  readonly numDomains: number;
  /** Loss of each eval domain (one per training domain) at mixture p. */
  losses(p: ArrayLike<number>): Float64Array;
}

/** The functional forms `createWorld` offers. */
export const WORLD_FORMS = ["exp-transfer", "saturating", "bowl", "power"] as const;
export type WorldForm = (typeof WORLD_FORMS)[number];

/** Mean loss (the target) of a world at p. */
export function worldTarget(w: World, p: ArrayLike<number>): number {
  const l = w.losses(p);
  let s = 0;
  for (const v of l) s += v;
  return s / l.length;
}

/**
 * Builds a world of a given form over k domains from the rng.
 * @param center for "bowl": the optimum's location (default: drawn from a flat Dirichlet)
 */
export function createWorld(form: WorldForm, k: number, rng: Rng, center?: Float64Array): World {
  const u = () => rng.next();
  const c = Float64Array.from({ length: k }, () => 2 + u());
  const T = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) T[i * k + j] = i === j ? 1 : 0.3 * u();
  const mix = (p: ArrayLike<number>, i: number) => {
    let s = 0;
    for (let j = 0; j < k; j++) s += T[i * k + j]! * p[j]!;
    return s;
  };
  switch (form) {
    case "exp-transfer": {
      const own = Float64Array.from({ length: k }, () => 1 + 1.5 * u());
      return {
        name: form,
        numDomains: k,
        losses: (p) => Float64Array.from({ length: k }, (_, i) => c[i]! + Math.exp(0.3 - own[i]! * mix(p, i))),
      };
    }
    case "saturating": {
      const a = Float64Array.from({ length: k }, () => 0.1 + 0.3 * u());
      return {
        name: form,
        numDomains: k,
        losses: (p) => Float64Array.from({ length: k }, (_, i) => c[i]! - a[i]! * Math.log(0.05 + mix(p, i))),
      };
    }
    case "bowl": {
      const star = center ?? (() => {
        const s = new Float64Array(k);
        sampleDirichlet(new Float64Array(k).fill(2), rng, s);
        return s;
      })();
      const s = Float64Array.from({ length: k }, () => 0.5 + u());
      const g = Float64Array.from({ length: k }, () => 0.1 * u());
      return {
        name: form,
        numDomains: k,
        losses: (p) => {
          let d = 0;
          for (let j = 0; j < k; j++) d += (Math.sqrt(p[j]!) - Math.sqrt(star[j]!)) ** 2;
          return Float64Array.from({ length: k }, (_, i) => c[i]! + s[i]! * d + g[i]! * p[i]! ** 2);
        },
      };
    }
    case "power": {
      const alpha = Float64Array.from({ length: k }, () => 0.05 + 0.2 * u());
      const eps = Float64Array.from({ length: k }, () => 0.01 + 0.05 * u());
      return {
        name: form,
        numDomains: k,
        losses: (p) => Float64Array.from({ length: k }, (_, i) => c[i]! * (eps[i]! + mix(p, i)) ** -alpha[i]!),
      };
    }
  }
}

/** The world's optimum on the simplex (candidate search, then projected gradient from the best few). */
export function optimumOf(w: World, rng: Rng): { proportions: Float64Array; value: number } {
  const k = w.numDomains;
  const box = { lower: new Float64Array(k), upper: new Float64Array(k).fill(1) };
  const f = (p: Float64Array, g: Float64Array): number => {
    const v = worldTarget(w, p);
    const h = 1e-7;
    const q = Float64Array.from(p);
    for (let j = 0; j < k; j++) {
      q[j] = p[j]! + h;
      g[j] = (worldTarget(w, q) - v) / h;
      q[j] = p[j]!;
    }
    return v;
  };
  const starts: Float64Array[] = [new Float64Array(k).fill(1 / k)];
  const p = new Float64Array(k);
  const scored: { p: Float64Array; v: number }[] = [];
  for (let i = 0; i < 4000; i++) {
    sampleDirichlet(new Float64Array(k).fill(i % 2 ? 1 : 0.3), rng, p);
    scored.push({ p: Float64Array.from(p), v: worldTarget(w, p) });
  }
  scored.sort((a, b) => a.v - b.v);
  for (const s of scored.slice(0, 4)) starts.push(s.p);
  let best = { proportions: starts[0]!, value: Infinity };
  for (const s of starts) {
    const r = minimizeOnSimplex(f, s, box, { maxIterations: 3000 });
    if (r.value < best.value) best = { proportions: r.p, value: r.value };
  }
  return best;
}

/** The swarm designs the study compares. */
export const SWARM_DESIGNS = ["flat", "prior-centred"] as const;
export type SwarmDesign = (typeof SWARM_DESIGNS)[number];

/**
 * Draws n mixtures: "flat" a Dirichlet(1) cover of the simplex; "prior-centred" Dirichlet(10 q)
 * around a skewed prior q (half the weight on domain 0), RegMix-style. (mixlab's own swarm,
 * `designSwarm`, lives in mixers/ and is drawn by the callers.)
 */
export function drawSwarm(design: SwarmDesign, k: number, n: number, rng: Rng): Float64Array {
  const alpha = new Float64Array(k);
  if (design === "flat") alpha.fill(1);
  else for (let j = 0; j < k; j++) alpha[j] = 10 * (j === 0 ? 0.5 : 0.5 / (k - 1));
  const out = new Float64Array(n * k);
  const p = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    sampleDirichlet(alpha, rng, p);
    out.set(p, i * k);
  }
  return out;
}

/** Observed losses of a swarm in a world, with Gaussian evaluation noise of sd `noise`. */
export function observe(w: World, weights: Float64Array, noise: number, rng: Rng): Float64Array[] {
  const k = w.numDomains;
  const n = weights.length / k;
  const comps = Array.from({ length: k }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    const l = w.losses(weights.subarray(i * k, (i + 1) * k));
    for (let j = 0; j < k; j++) comps[j]![i] = l[j]! + noise * rng.nextNormal();
  }
  return comps;
}
