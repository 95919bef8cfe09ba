// bench/recommend.ts — how good are the recommendations, and do the warnings fire when they are bad?
// Over synthetic worlds with a known optimum (src/core/worlds.ts: four functional forms, optima
// drawn independently of the swarms), three swarm designs (mixlab's own `suggest --method
// dirichlet` swarm around a uniform prior; a flat Dirichlet(1) cover; a RegMix-style swarm centred
// on a skewed prior, most weight on one domain) and 32/64/128 runs with evaluation noise, it fits
// every law and `auto` (risk mean and pessimistic) and reports, per method, the share of the gap
// from the uniform mixture to the optimum that the recommendation closes (1 = optimum, 0 = no
// better than uniform, < 0 worse), mean and worst case, and how often a support warning was raised
// when the recommendation was worse than the best run of the table. The baseline measured in the
// same run is the best observed run itself (what a user gets by picking the best proxy).
// Run: npm run build && node dist/bench/recommend.js   (MIXLAB_BENCH_QUICK=1 for a smoke run)

import { createRng } from "../src/rng/index.js";
import {
  createWorld,
  optimumOf,
  worldTarget,
  observe,
  drawSwarm,
  WORLD_FORMS,
  type World,
} from "../src/core/worlds.js";
import { buildRunsTable, mixturesFrame } from "../src/runs/table.js";
import { designSwarm, DirichletSwarmOptionsSchema } from "../mixers/dirichlet/index.js";
import { fitRuns, type Risk } from "../src/fit.js";

const QUICK = process.env.MIXLAB_BENCH_QUICK === "1";
const K = 5;
const SIZES = QUICK ? [32] : [32, 64, 128];
const SEEDS = [1];
const DESIGNS = ["mixlab-swarm", "flat", "prior-centred"] as const;
const LAWS = ["regmix", "regmix-linear", "dml", "loglinear", "bimix", "bayesopt"];
const NOISE = 0.003;

interface Outcome {
  gap: number;
  worseThanBest: boolean;
  warned: boolean;
}
const results = new Map<string, Outcome[]>();
const add = (m: string, o: Outcome) => results.set(m, [...(results.get(m) ?? []), o]);

function table(w: World, weights: Float64Array, seed: number) {
  const comps = observe(w, weights, NOISE, createRng(seed).derive("noise"));
  const domains = Array.from({ length: K }, (_, j) => `d${j}`);
  return buildRunsTable(
    mixturesFrame("world.csv", domains, weights, comps.map((c, j) => [`loss.d${j}`, Array.from(c)] as const)),
  );
}

const t0 = performance.now();
let configs = 0;
// MIXLAB_BENCH_FORMS=bowl,power runs a subset of the world forms.
const FORMS = process.env.MIXLAB_BENCH_FORMS
  ? WORLD_FORMS.filter((f) => process.env.MIXLAB_BENCH_FORMS!.split(",").includes(f))
  : [...WORLD_FORMS];
for (const form of FORMS) {
  for (const seed of SEEDS) {
    const world = createWorld(form, K, createRng(seed).derive(`world ${form}`));
    const opt = optimumOf(world, createRng(seed).derive("optimum"));
    const uniformLoss = worldTarget(world, new Float64Array(K).fill(1 / K));
    const gapOf = (p: Float64Array) => (uniformLoss - worldTarget(world, p)) / (uniformLoss - opt.value);
    for (const design of DESIGNS) {
      for (const n of SIZES) {
        const rng = createRng(seed).derive(`swarm ${design} ${n}`);
        const weights =
          design === "mixlab-swarm"
            ? designSwarm(
                { domains: Array.from({ length: K }, (_, j) => `d${j}`), n },
                DirichletSwarmOptionsSchema.parse({}),
                rng,
              )
            : drawSwarm(design, K, n, rng);
        const t = table(world, weights, seed);
        let bestRun = Infinity;
        for (let i = 0; i < n; i++) {
          bestRun = Math.min(bestRun, worldTarget(world, weights.subarray(i * K, (i + 1) * K)));
        }
        add("best observed run", {
          gap: (uniformLoss - bestRun) / (uniformLoss - opt.value),
          worseThanBest: false,
          warned: false,
        });
        configs++;
        const record = (name: string, method: string, risk: Risk | undefined, cvFolds: number) => {
          try {
            const auto = method === "auto";
            // Laws alone: the options auto gives them, no bootstrap (auto keeps its 8 replicates).
            const lawOptions: Record<string, Record<string, unknown>> = {
              regmix: { numCandidates: 100_000, minDataInLeaf: Math.min(20, Math.max(2, Math.floor(n / 10))) },
              dml: { numStarts: 8 },
            };
            const r = fitRuns({
              table: t,
              target: `mean:${t.domains.map((d) => `loss.${d}`).join(",")}`,
              method,
              seed,
              cvFolds,
              ...(risk ? { risk } : {}),
              ...(auto
                ? { options: { regmix: { numCandidates: 100_000 } } }
                : { options: lawOptions[method] ?? {}, bootstrap: 0 }),
            });
            const truth = worldTarget(world, r.recommendation.proportions);
            const o = {
              gap: gapOf(r.recommendation.proportions),
              worseThanBest: truth > bestRun,
              warned: r.diagnostics.some((d) => d.code !== "domain-not-varied"),
            };
            add(name, o);
            console.error(JSON.stringify({ form, design, n, seed, method: name, chosen: r.method, ...o }));
          } catch (e) {
            console.error(`${name} on ${form}/${design}/${n}/seed ${seed}: ${(e as Error).message.split("\n")[0]}`);
          }
        };
        for (const law of LAWS) record(law, law, undefined, 5);
        record("auto (risk mean)", "auto", "mean", 5);
        record("auto (risk pessimistic)", "auto", "pessimistic", 5);
      }
    }
  }
}

const pad = (s: string, w: number) => s.padEnd(w);
console.log(
  `Recommendation study: ${FORMS.length} world forms × ${SEEDS.length} seeds × ${DESIGNS.length} swarm designs` +
    ` × runs ${SIZES.join("/")} = ${configs} tables, ${K} domains, noise sd ${NOISE}`,
);
console.log(
  `${pad("method", 26)} ${pad("mean gap closed", 16)} ${pad("worst", 8)} ${pad("worse than best run", 20)}` +
    ` warned when worse`,
);
for (const [m, os] of results) {
  const gaps = os.map((o) => o.gap);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const worst = Math.min(...gaps);
  const worse = os.filter((o) => o.worseThanBest);
  const warned = worse.filter((o) => o.warned).length;
  console.log(
    `${pad(m, 26)} ${pad(mean.toFixed(3), 16)} ${pad(worst.toFixed(3), 8)} ${pad(`${worse.length}/${os.length}`, 20)}` +
      ` ${m === "best observed run" ? "—" : `${warned}/${worse.length}`}`,
  );
}
const best = results.get("best observed run")!.map((o) => o.gap);
for (const m of ["auto (risk mean)", "auto (risk pessimistic)"]) {
  const a = results.get(m)?.map((o) => o.gap) ?? [];
  if (a.length === best.length) {
    const ratio = a.reduce((s, v) => s + v, 0) / best.reduce((s, v) => s + v, 0);
    console.log(`ratio ${m} / best observed run, mean gap closed: ${ratio.toFixed(3)}`);
  }
}
console.log(`${((performance.now() - t0) / 1000).toFixed(0)} s`);
