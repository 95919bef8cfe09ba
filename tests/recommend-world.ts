// Builds a runs table from a synthetic world and a swarm (shared by the recommendation tests).
import { buildRunsTable, mixturesFrame, type RunsTable } from "../src/runs/table.js";
import { observe, type World } from "../src/core/worlds.js";
import { createRng } from "../src/rng/index.js";

/** Domain names d0, d1, … */
export const names = (k: number): string[] => Array.from({ length: k }, (_, j) => `d${j}`);

/** A runs table (w.d*, loss.d*) of a world observed at the given mixtures. */
export function worldTable(w: World, weights: Float64Array, noise: number, seed: number): RunsTable {
  const k = w.numDomains;
  const comps = observe(w, weights, noise, createRng(seed).derive("noise"));
  const frame = mixturesFrame(
    "world.csv",
    names(k),
    weights,
    comps.map((c, j) => [`loss.d${j}`, Array.from(c)] as const),
  );
  return buildRunsTable(frame);
}
