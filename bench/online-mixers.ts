// bench/online-mixers.ts — an online mixer's work per training step (observe + proportions, and
// evalDue for the evaluation-driven methods) in µs, for k = 8 and 22 domains, against the step
// time of the tiny proxy (0.11M parameters, batch 16 × 64) trained in the same run on the
// embedded corpus with the fastest backend available (`auto`: blas where the addon loads, else
// wasm): the ratio is the overhead the mixer adds to a proxy step (target < 1%).
// Evaluation passes are the trainer's cost and are not counted (Aioli's probes evaluate every
// domain several times per round; Skill-It once per round).
// Run: npm run bench:online-mixers   (not part of the test gate)

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createOnlineMixer } from "../mixers/online.js";
import type { MixerEvent } from "../mixers/types.js";
import { createRng } from "../src/rng/index.js";
import { loadTf } from "../src/proxy/backend.js";
import { trainProxy } from "../src/proxy/train.js";
import { PRESETS } from "../src/proxy/model.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const STEPS = 20_000;

/** Per-method options for a long run of `STEPS` steps. */
function optionsFor(method: string, k: number): Record<string, unknown> {
  switch (method) {
    case "aioli":
      return { batchSize: 64, totalSteps: STEPS };
    case "skillit":
      return {
        graph: Array.from({ length: k }, (_, j) => Array.from({ length: k }, (_, i) => (i === j ? 1 : 0.1))),
        totalSteps: STEPS,
      };
    case "odm":
      return { totalSteps: STEPS };
    default:
      return {};
  }
}

/** Mean µs per step of a mixer fed pre-built events (built before timing). */
function measureMixer(method: string, k: number): number {
  const domains = Array.from({ length: k }, (_, i) => `domain${i}`);
  const rng = createRng(5);
  const m = createOnlineMixer(method, { domains, seed: 1, options: optionsFor(method, k) });
  const trains: MixerEvent[] = [];
  const evals: MixerEvent[] = [];
  for (let s = 0; s < STEPS; s++) {
    const loss: Record<string, number> = {};
    const tokens: Record<string, number> = {};
    const excess: Record<string, number> = {};
    for (const d of domains) {
      loss[d] = 2 + rng.next() - s / STEPS;
      tokens[d] = 1024;
      excess[d] = 0.1 * rng.next();
    }
    trains.push({ kind: "train", step: s, loss, tokens, excess });
    evals.push({ kind: "eval", step: s, loss });
  }
  const train = m.accepts.includes("train");
  let sink = 0;
  const t0 = performance.now();
  for (let s = 0; s < STEPS; s++) {
    if (m.evalDue(s)) m.observe(evals[s]!);
    const p = m.proportions();
    sink += p[domains[0]!]!;
    if (train) m.observe(trains[s]!);
  }
  const us = ((performance.now() - t0) * 1000) / STEPS;
  if (!Number.isFinite(sink)) throw new Error("non-finite proportions");
  return us;
}

async function proxyStepMs(): Promise<{ ms: number; backend: string }> {
  const { tf, backend } = await loadTf("auto");
  const times: number[] = [];
  const domains = ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"];
  await trainProxy({
    tf,
    backend,
    config: PRESETS.tiny!,
    train: join(ROOT, "datasets", "corpus", "train"),
    heldout: join(ROOT, "datasets", "corpus", "heldout"),
    proportions: Object.fromEntries(domains.map((d) => [d, 1 / domains.length])),
    steps: 40,
    batchSize: 16,
    seed: 1,
    evalWindows: 1,
    logEvery: 1,
    onStep: () => times.push(performance.now()),
  });
  const warm = 5;
  return { ms: (times[times.length - 1]! - times[warm - 1]!) / (times.length - warm), backend };
}

async function main(): Promise<void> {
  const { ms: stepMs, backend } = await proxyStepMs();
  console.log(`tiny proxy step (${backend}, batch 16 × 64, 1 thread): ${stepMs.toFixed(2)} ms`);
  console.log("method   k   µs/step   overhead vs proxy step");
  for (const method of ["odm", "doremi", "skillit", "aioli"]) {
    for (const k of [8, 22]) {
      measureMixer(method, k); // warm-up (JIT)
      const us = Math.min(measureMixer(method, k), measureMixer(method, k));
      const share = ((us / 1000 / stepMs) * 100).toFixed(3);
      console.log(`${method.padEnd(8)} ${String(k).padStart(2)} ${us.toFixed(2).padStart(9)}   ${share}%`);
    }
  }
}

await main();
