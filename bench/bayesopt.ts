// bench/bayesopt.ts — Bayesian optimisation over mixtures:
//  1. time per suggestion with 50, 200 and 1,000 observed runs over 17 domains (target: < 1 s at 200);
//  2. synthetic mixing laws with known optima (5, 10, 20 domains): regret after a budget, BO with
//     a third of the runs against random search and a one-shot RegMix swarm with all of them;
//  3. ADMIRE's pool replay on RegMix's released runs (1M, 60M and 1B fidelities): cumulative cost,
//     in 1B-run units, to recommend a mixture within the top 5% of the 1B pool, against random search.
// Run: npm run bench:bayesopt   (not part of the test gate)

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng, type Rng } from "../src/rng/index.js";
import { sampleDirichlet } from "../src/core/dirichlet.js";
import { resolveConstraints } from "../src/core/constraints.js";
import { suggestBayesOpt, bayesopt } from "../mixers/bayesopt/index.js";
import { regmix } from "../mixers/regmix/index.js";
import { fitGp, predictGp, features } from "../mixers/bayesopt/gp.js";
import { logExpectedImprovement, logAugmentedEi } from "../mixers/bayesopt/acquisition.js";
import { readFrame } from "../src/runs/frame.js";
import { buildRunsTable, joinFrames, resolveTarget } from "../src/runs/table.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const now = () => performance.now() / 1000;
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** A synthetic DML-style law with transfer: mean_i [c_i + exp(t_i · p)], optimum found by search. */
function syntheticLaw(k: number, seed: number) {
  const rng = createRng(seed).derive(`law${k}`);
  const T = Array.from({ length: k }, (_, i) =>
    Array.from({ length: k }, (_, j) => (i === j ? -(1.5 + rng.next()) : 0.6 * (rng.next() - 0.3))),
  );
  const C = Array.from({ length: k }, () => 1 + rng.next());
  const f = (p: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < k; i++) {
      let z = 1;
      for (let j = 0; j < k; j++) z += T[i]![j]! * p[j]!;
      s += C[i]! + Math.exp(z);
    }
    return s / k;
  };
  // Optimum: projected-gradient-free search — many Dirichlet starts + hill-climb (dense enough for k ≤ 20).
  let best = Infinity;
  const p = new Float64Array(k);
  const q = new Float64Array(k);
  const alpha = new Float64Array(k);
  for (let s = 0; s < 4000; s++) {
    sampleDirichlet(new Float64Array(k).fill(1), rng, p);
    let v = f(p);
    for (let it = 0; it < 200; it++) {
      for (let i = 0; i < k; i++) alpha[i] = p[i]! * 400 + 0.01;
      sampleDirichlet(alpha, rng, q);
      const w = f(q);
      if (w < v) {
        v = w;
        p.set(q);
      }
    }
    best = Math.min(best, v);
  }
  return { f, optimum: best };
}

function draw(k: number, n: number, rng: Rng): Float64Array {
  const out = new Float64Array(n * k);
  const p = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    sampleDirichlet(new Float64Array(k).fill(1), rng, p);
    out.set(p, i * k);
  }
  return out;
}

async function main(): Promise<void> {
  console.log("mixlab Bayesian optimisation benchmark\n");
  // 1. Time per suggestion.
  const k17 = 17;
  const law17 = syntheticLaw(k17, 1);
  console.log(`1. time per suggestion (17 domains, one proposal, 2048 candidates, default options)`);
  for (const n of [50, 200, 1000]) {
    const rng = createRng(n);
    const w = draw(k17, n, rng);
    const y = Float64Array.from(
      { length: n },
      (_, i) => law17.f(w.subarray(i * k17, (i + 1) * k17)) + 0.01 * rng.nextNormal(),
    );
    const t0 = now();
    suggestBayesOpt(
      { domains: Array.from({ length: k17 }, (_, i) => `d${i}`), weights: w, y, fidelity: null },
      1,
      resolveConstraints(Array.from({ length: k17 }, (_, i) => `d${i}`)),
      {},
      createRng(0),
    );
    console.log(`   ${String(n).padStart(5)} runs: ${(now() - t0).toFixed(2)} s${n === 200 ? "  (target < 1 s)" : ""}`);
  }

  // 2. Synthetic laws.
  console.log(
    `\n2. regret on synthetic laws with known optima` +
      ` (mean over 3 seeds; regret = true loss of the recommendation − optimum)`,
  );
  for (const k of [5, 10, 20]) {
    const law = syntheticLaw(k, 7);
    const domains = Array.from({ length: k }, (_, i) => `d${i}`);
    const cons = resolveConstraints(domains);
    const budget = 48;
    const third = budget / 3;
    const rBo: number[] = [];
    const rBoObs: number[] = [];
    const rRand: number[] = [];
    const rRegmix: number[] = [];
    for (const seed of [1, 2, 3]) {
      const rng = createRng(seed);
      // BO: 6 random runs, then one run at a time until a third of the budget.
      const init = 6;
      let w = draw(k, init, rng);
      let y = Float64Array.from({ length: init }, (_, i) => law.f(w.subarray(i * k, (i + 1) * k)));
      while (y.length < third) {
        const props = suggestBayesOpt(
          { domains, weights: w, y, fidelity: null },
          1,
          cons,
          {},
          rng.derive(`bo${y.length}`),
        );
        const nw = new Float64Array(w.length + k);
        nw.set(w);
        props.forEach((p, j) => nw.set(p.proportions, w.length + j * k));
        const ny = new Float64Array(y.length + 1);
        ny.set(y);
        props.forEach((p, j) => (ny[y.length + j] = law.f(p.proportions)));
        w = nw;
        y = ny;
      }
      // BO's recommendation: the minimum of the GP posterior mean (what `mixlab fit --method bayesopt` returns).
      const fittedBo = bayesopt.fit({ domains, weights: w, target: y }, bayesopt.parseOptions({}), rng.derive("fitbo"));
      rBo.push(law.f(fittedBo.recommend(cons, rng.derive("recbo")).proportions) - law.optimum);
      rBoObs.push(Math.min(...y) - law.optimum);
      // Random search with the full budget: best observed.
      const wr = draw(k, budget, rng.derive("random"));
      let br = Infinity;
      for (let i = 0; i < budget; i++) br = Math.min(br, law.f(wr.subarray(i * k, (i + 1) * k)));
      rRand.push(br - law.optimum);
      // One-shot RegMix swarm with the full budget: fit trees, recommend by top-k candidates.
      const ws = draw(k, budget, rng.derive("swarm"));
      const ys = Float64Array.from({ length: budget }, (_, i) => law.f(ws.subarray(i * k, (i + 1) * k)));
      const fitted = regmix.fit(
        { domains, weights: ws, target: ys },
        regmix.parseOptions({ numCandidates: 100_000, minDataInLeaf: 5 }),
        rng.derive("rm"),
      );
      const rec = fitted.recommend(cons, rng.derive("rec"));
      rRegmix.push(law.f(rec.proportions) - law.optimum);
    }
    console.log(
      `   ${String(k).padStart(2)} domains: BO with ${third} runs ${mean(rBo).toFixed(4)}` +
        ` (best run seen ${mean(rBoObs).toFixed(4)})` +
        `   random search with ${budget} ${mean(rRand).toFixed(4)}` +
        `   RegMix swarm with ${budget} ${mean(rRegmix).toFixed(4)}` +
        `   → BO ${
          mean(rBo) <= Math.min(mean(rRand), mean(rRegmix))
            ? "matches or beats both with a third of the runs"
            : "does not match both"
        }`,
    );
  }

  // 3. RegMix replay (ADMIRE's pool protocol).
  console.log(
    `\n3. RegMix replay: pool = 256 mixtures at 1M (cost 0.001) and 60M (0.06)` +
      ` + the first 48 1B runs (cost 1); target: Pile-CC loss at 1B`,
  );
  const D = join(ROOT, "datasets", "regmix");
  const load = (m: string, l: string) =>
    buildRunsTable(joinFrames(readFrame(join(D, m)), readFrame(join(D, l)), "index"), {
      weightsPrefix: "train_the_pile_",
      lossPattern: "metric/the_pile_{domain}_val_loss",
    });
  const t1m = load("test_mixture_1m.csv", "test_pile_loss_1m.csv");
  const t60 = load("test_mixture_60m.csv", "test_pile_loss_60m.csv");
  const t1b = load("test_mixture_1B.csv", "test_pile_loss_1B.csv");
  const k = t1m.domains.length;
  const pool: { p: Float64Array; z: number; y: number; big: number }[] = [];
  const y1m = resolveTarget(t1m, "loss.pile_cc").values;
  const y60 = resolveTarget(t60, "loss.pile_cc").values;
  const y1b = resolveTarget(t1b, "loss.pile_cc").values;
  for (let i = 0; i < 256; i++) pool.push({ p: t1m.weights.slice(i * k, (i + 1) * k), z: 0.001, y: y1m[i]!, big: -1 });
  for (let i = 0; i < 256; i++) pool.push({ p: t60.weights.slice(i * k, (i + 1) * k), z: 0.06, y: y60[i]!, big: -1 });
  for (let i = 0; i < 48; i++) pool.push({ p: t1b.weights.slice(i * k, (i + 1) * k), z: 1, y: y1b[i]!, big: i });
  const bigLoss = Array.from(y1b.subarray(0, 48));
  const threshold = [...bigLoss].sort((a, b) => a - b)[Math.ceil(0.05 * 48) - 1]!; // top 5% of 48 = best 3
  const replay = (seed: number, multiFidelity: boolean): number => {
    const rng = createRng(seed).derive(multiFidelity ? "mf" : "sf");
    const allowed = pool.map((c, i) => (multiFidelity || c.z === 1 ? i : -1)).filter((i) => i >= 0);
    const observed: number[] = [];
    const start = multiFidelity ? allowed.filter((i) => pool[i]!.z === 0.001) : allowed;
    while (observed.length < 2) {
      const i = start[rng.nextInt(start.length)]!;
      if (!observed.includes(i)) observed.push(i);
    }
    let cost = observed.reduce((a, i) => a + pool[i]!.z, 0);
    for (let it = 0; it < 200; it++) {
      const xs = new Float64Array(observed.length * k);
      observed.forEach((i, j) => xs.set(features(pool[i]!.p), j * k));
      const gp = fitGp(
        xs,
        multiFidelity ? Float64Array.from(observed, (i) => pool[i]!.z) : null,
        Float64Array.from(observed, (i) => pool[i]!.y),
        k,
        rng.derive(`gp${it}`),
        { restarts: 1 },
      );
      // Recommendation: lowest posterior mean at z = 1 over the 1B pool mixtures.
      const bigIdx = pool.map((c, i) => (c.z === 1 ? i : -1)).filter((i) => i >= 0);
      const bx = new Float64Array(bigIdx.length * k);
      bigIdx.forEach((i, j) => bx.set(features(pool[i]!.p), j * k));
      const m = new Float64Array(bigIdx.length);
      const v = new Float64Array(bigIdx.length);
      predictGp(gp, bx, multiFidelity ? new Float64Array(bigIdx.length).fill(1) : null, m, v);
      let rec = 0;
      for (let j = 1; j < m.length; j++) if (m[j]! < m[rec]!) rec = j;
      if (bigLoss[pool[bigIdx[rec]!]!.big]! <= threshold) return cost;
      // Acquisition over unobserved pool points.
      const bestMean = Math.min(...Array.from(m));
      let bestScore = -Infinity;
      let pick = -1;
      const one = new Float64Array(1);
      const ov = new Float64Array(1);
      for (const i of allowed) {
        if (observed.includes(i)) continue;
        const f = features(pool[i]!.p);
        predictGp(gp, f, multiFidelity ? Float64Array.of(1) : null, one, ov);
        const logEi = logExpectedImprovement(one[0]!, Math.sqrt(ov[0]!), bestMean);
        let score = logEi;
        if (multiFidelity && pool[i]!.z < 1) {
          const mz = new Float64Array(1);
          const vz = new Float64Array(1);
          predictGp(gp, f, Float64Array.of(pool[i]!.z), mz, vz);
          // Correlation proxy: the prior correlation between fidelities at one point.
          const h = gp.hyper;
          const zc = pool[i]!.z;
          const corr =
            h.outputVariance /
            Math.sqrt(
              h.outputVariance * (h.outputVariance + h.biasVariance * (1 - zc) ** 2 * (1 + zc * zc) ** h.power),
            );
          score = logAugmentedEi(logEi, corr, vz[0]! / (gp.yStd * gp.yStd), h.noiseVariance, 1 / zc);
        }
        if (score > bestScore) {
          bestScore = score;
          pick = i;
        }
      }
      if (pick < 0) return cost;
      observed.push(pick);
      cost += pool[pick]!.z;
    }
    return cost;
  };
  const randomCost = (seed: number): number => {
    const rng = createRng(seed).derive("random");
    const order = Int32Array.from({ length: 48 }, (_, i) => i);
    rng.shuffle(order);
    let best = Infinity;
    for (let t = 0; t < 48; t++) {
      best = Math.min(best, bigLoss[order[t]!]!);
      if (best <= threshold) return t + 1;
    }
    return 48;
  };
  const seeds = [1, 2, 3, 4, 5];
  const mf = seeds.map((s) => replay(s, true));
  const sf = seeds.map((s) => replay(s, false));
  const rnd = seeds.map(randomCost);
  const expectedRandom = (48 + 1) / (3 + 1);
  console.log(
    `   cost to a top-5% recommendation (1B-run units), 5 seeds: multi-fidelity BO ${mean(mf).toFixed(2)}` +
      ` [${mf.map((c) => c.toFixed(2)).join(", ")}]`,
  );
  console.log(
    `                                                        single-fidelity BO ${mean(sf).toFixed(2)}` +
      ` [${sf.map((c) => c.toFixed(0)).join(", ")}]`,
  );
  console.log(
    `                                                        random search ${mean(rnd).toFixed(2)}` +
      ` (expected ${expectedRandom.toFixed(2)})`,
  );
  console.log(
    `   speed-up over random search: multi-fidelity ${(expectedRandom / mean(mf)).toFixed(1)}×,` +
      ` single-fidelity ${(expectedRandom / mean(sf)).toFixed(1)}×`,
  );
}

await main();
