// ODM (ALGORITHMS.md §3.6): the exploration schedule, the first updates of each variant by hand,
// warm-up, reward clipping, merging of the events of one step, and reproducibility of the
// arm draws after a mid-run restore (the reference's process-global RNG cannot resume).
import { describe, expect, it } from "vitest";
import { createOnlineMixer } from "../../mixers/online.js";
import { explorationRate } from "../../mixers/odm/index.js";
import { Env, drive, replay, trajectory } from "./online-env.js";
import { createRng } from "../../src/rng/index.js";

const D2 = ["a", "b"];

describe("odm", () => {
  it("explores at ε_t = min(1/K, sqrt(ln K / (K t)))", () => {
    expect(explorationRate(22, 0)).toBe(1 / 22);
    expect(explorationRate(2, 1)).toBe(0.5); // sqrt(ln 2 / 2) = 0.589 > 1/2
    expect(explorationRate(2, 2)).toBeCloseTo(Math.sqrt(Math.log(2) / 4), 15);
    // §3.6: about 0.001 per arm for K = 22 at step 100k.
    expect(explorationRate(22, 100_000)).toBeCloseTo(0.0011853, 6);
  });

  it("smoothed-mean (paper): importance-weighted reward of the pulled arm, softmax policy", () => {
    const m = createOnlineMixer("odm", { domains: D2, seed: 1, options: { pull: "arm" } });
    // Step 0: ε_1 = 1/2, so π_0 is uniform whatever R̂; one arm is drawn from it.
    const p0 = m.proportions();
    const arm = p0.a === 1 ? "a" : "b";
    const other = arm === "a" ? "b" : "a";
    m.observe({ kind: "train", step: 0, loss: { [arm]: 2 }, tokens: { [arm]: 512 } });
    // R̂_arm = 0.9·0 + 0.1·2/0.5 = 0.4; π_1 = (1 − 2ε_2)·softmax(ε_1 R̂) + ε_2.
    expect((m.diagnostics().rewardEstimates as Record<string, number>)[arm]).toBeCloseTo(0.4, 15);
    const eps2 = Math.sqrt(Math.log(2) / 4);
    const soft = Math.exp(0.5 * 0.4) / (Math.exp(0.5 * 0.4) + 1);
    const piArm = (1 - 2 * eps2) * soft + eps2;
    expect(m.summary()[arm]).toBeCloseTo(piArm, 14);
    expect(m.summary()[other]).toBeCloseTo(1 - piArm, 14);
    const h = -(piArm * Math.log(piArm) + (1 - piArm) * Math.log(1 - piArm));
    expect(m.diagnostics().policyEntropy).toBeCloseTo(h, 14);
  });

  it("exp3: cumulative ℓ/10 over π; mixed: smoothed exp(ℓ), policy linear in R̂", () => {
    const e = createOnlineMixer("odm", { domains: D2, seed: 1, options: { variant: "exp3", pull: "batch" } });
    e.observe({ kind: "train", step: 0, loss: { a: 2, b: 1 }, tokens: { a: 10, b: 10 } });
    e.observe({ kind: "train", step: 1, loss: { a: 2 }, tokens: { a: 10 } });
    expect(e.diagnostics().rewardEstimates).toEqual({ a: 0.4, b: 0.1 });
    const x = createOnlineMixer("odm", { domains: D2, seed: 1, options: { variant: "mixed" } });
    x.observe({ kind: "train", step: 0, loss: { a: 2, b: 1 }, tokens: { a: 10, b: 10 } });
    const ra = 0.1 * Math.exp(2);
    const rb = 0.1 * Math.exp(1);
    const eps = Math.sqrt(Math.log(2) / 4);
    expect(x.proportions().a).toBeCloseTo((1 - 2 * eps) * (ra / (ra + rb)) + eps, 14);
  });

  it("refuses a loss whose exponentiated reward would overflow (mixed variant)", () => {
    const x = createOnlineMixer("odm", { domains: D2, seed: 1, options: { variant: "mixed", rewardScale: 10 } });
    expect(() => x.observe({ kind: "train", step: 0, loss: { a: 71, b: 1 }, tokens: { a: 10, b: 10 } })).toThrow(
      "odm event: loss.a: expected at most 70.98 (exp(rewardScale·loss) must be finite), got 71",
    );
  });

  it("matches a direct transcription of the policy and update over 60 steps (3 variants)", () => {
    // Steps with random losses and random subsets of domains; the expected policy is recomputed
    // from the equations of ALGORITHMS.md §3.6 with plain arrays.
    const K = 4;
    const domains = ["a", "b", "c", "d"];
    for (const variant of ["smoothed-mean", "exp3", "mixed"] as const) {
      const m = createOnlineMixer("odm", { domains, seed: 1, options: { variant, warmupSteps: 3 } });
      const rng = createRng(9);
      const r = [0, 0, 0, 0];
      const scale = variant === "exp3" ? 0.1 : 1;
      const eps = (t: number) => (t <= 0 ? 1 / K : Math.min(1 / K, Math.sqrt(Math.log(K) / (K * t))));
      for (let s = 0; s < 60; s++) {
        let pi: number[];
        if (s < 3) pi = [0.25, 0.25, 0.25, 0.25];
        else {
          const base =
            variant === "mixed"
              ? r.map((v) => (r.reduce((x, y) => x + y, 0) > 0 ? v / r.reduce((x, y) => x + y, 0) : 1 / K))
              : r.map((v) => Math.exp(eps(s) * v));
          const z = base.reduce((x, y) => x + y, 0);
          const raw = base.map((v) => (1 - K * eps(s + 1)) * (v / z) + eps(s + 1));
          const total = raw.reduce((x, y) => x + y, 0);
          pi = raw.map((v) => v / total);
        }
        const p = m.proportions();
        domains.forEach((d, i) => expect(p[d]).toBeCloseTo(pi[i]!, 12));
        const loss: Record<string, number> = {};
        const tokens: Record<string, number> = {};
        domains.forEach((d, i) => {
          if (rng.next() < 0.3 && (i < K - 1 || Object.keys(loss).length > 0)) return; // never an empty step
          const l = 1 + 3 * rng.next();
          loss[d] = l;
          tokens[d] = 64;
          if (variant === "mixed") r[i] = 0.9 * r[i]! + 0.1 * Math.exp(l);
          else if (variant === "exp3") r[i] = r[i]! + scale * l;
          else r[i] = 0.9 * r[i]! + 0.1 * scale * l;
        });
        m.observe({ kind: "train", step: s, loss, tokens });
      }
    }
  });

  it("keeps every step's policy inside minShare / maxShare", () => {
    const domains = ["web", "code", "math"];
    const transfer = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const spec = { domains, floor: [3, 1, 0.5], amp: [1, 2, 2], transfer, tau: 40 };
    for (const pull of ["arm", "batch"] as const) {
      const options = { pull, rewardScale: 20, minShare: 0.2, maxShare: { web: 0.45 }, warmupSteps: 5 };
      const m = createOnlineMixer("odm", { domains, seed: 2, options });
      const freeOptions = { pull: "batch", rewardScale: 20, warmupSteps: 5 };
      const free = createOnlineMixer("odm", { domains, seed: 2, options: freeOptions });
      drive(free, new Env(spec), { steps: 200 });
      expect(free.summary().web).toBeGreaterThan(0.6); // without the box the policy would leave it
      let steps = 0;
      drive(m, new Env(spec), {
        steps: 200,
        onStep: () => {
          const p = m.summary(); // the policy (in arm mode proportions() is one-hot)
          expect(p.web!).toBeLessThanOrEqual(0.45 + 1e-12);
          for (const d of domains) expect(p[d]!).toBeGreaterThanOrEqual(0.2 - 1e-12);
          expect(Math.abs(p.web! + p.code! + p.math! - 1)).toBeLessThan(1e-12);
          steps++;
        },
      });
      expect(steps).toBe(200);
      expect(m.summary().web).toBeCloseTo(0.45, 12);
    }
    const bad = (options: Record<string, unknown>) => () => createOnlineMixer("odm", { domains, seed: 0, options });
    expect(bad({ minShare: 0.5 })).toThrow(
      "options of odm: minShare: expected floors and caps that leave room for a mixture, " +
        "got the minimum shares sum to 1.50000 > 1",
    );
    expect(bad({ minShare: { code: 0.3 }, maxShare: { code: 0.2 } })).toThrow(
      "options of odm: minShare: expected floors and caps that leave room for a mixture, " +
        'got domain "code": minimum 0.3 exceeds maximum 0.2',
    );
    expect(bad({ maxShare: { wiki: 0.2 } })).toThrow(
      "options of odm: maxShare.wiki: expected one of the mixer's domains (web, code, math), got an unknown domain",
    );
  });

  it("clips the importance-weighted reward at rewardClip", () => {
    const options = { variant: "exp3", rewardScale: 1, rewardClip: 3 };
    const m = createOnlineMixer("odm", { domains: D2, seed: 1, options });
    m.observe({ kind: "train", step: 0, loss: { a: 5, b: 1 }, tokens: { a: 10, b: 10 } });
    expect(m.diagnostics().rewardEstimates).toEqual({ a: 3, b: 1 });
  });

  it("trains the warm-up (default 2% of totalSteps) on the initial mixture", () => {
    const initial = { a: 0.8, b: 0.2 };
    const m = createOnlineMixer("odm", { domains: D2, seed: 1, options: { totalSteps: 1000, initial } });
    expect(m.diagnostics().warmupSteps).toBe(20);
    for (let s = 0; s < 20; s++) {
      expect(m.proportions()).toEqual(initial);
      m.observe({ kind: "train", step: s, loss: { a: 1, b: 4 }, tokens: { a: 80, b: 20 } });
    }
    // After the warm-up the bandit uses what it learnt during it: b's loss is higher.
    expect(m.proportions().b).toBeGreaterThan(0.5);
  });

  it("merges the events of one optimizer step into one update (gradient accumulation)", () => {
    const one = createOnlineMixer("odm", { domains: D2, seed: 1, options: {} });
    const four = createOnlineMixer("odm", { domains: D2, seed: 1, options: {} });
    for (let s = 0; s < 5; s++) {
      one.observe({ kind: "train", step: s, loss: { a: 2.5, b: 1 }, tokens: { a: 400, b: 400 } });
      for (let q = 0; q < 4; q++) {
        four.observe({ kind: "train", step: s, loss: { a: q < 2 ? 2 : 3, b: 1 }, tokens: { a: 100, b: 100 } });
      }
    }
    expect(four.proportions().a).toBeCloseTo(one.proportions().a!, 14);
    expect(four.diagnostics().timesObserved).toEqual({ a: 5, b: 5 });
  });

  it("refuses in arm mode a step whose data is not the pulled arm alone", () => {
    const m = createOnlineMixer("odm", { domains: D2, seed: 5, options: { pull: "arm" } });
    const arm = m.proportions().a === 1 ? "a" : "b";
    expect(() => m.observe({ kind: "train", step: 0, loss: { a: 1, b: 1 }, tokens: { a: 1, b: 1 } })).toThrow(
      `odm event: loss: expected only the arm pulled at step 0 ("${arm}"), got ["a","b"]`,
    );
    expect(() => m.observe({ kind: "train", step: 0, loss: { a: 1 } })).toThrow(
      "odm event: tokens: expected a token count for every domain in loss, got nothing",
    );
  });

  it("is reproducible after a mid-run restore with 22 domains (same arms, same policy)", () => {
    const domains = Array.from({ length: 22 }, (_, i) => `d${i}`);
    const spec = {
      domains,
      floor: domains.map((_, i) => 0.5 + (i % 5) * 0.5),
      amp: domains.map(() => 1),
      transfer: domains.map((_, i) => domains.map((_, j) => (i === j ? 1 : 0.05))),
      tau: 30,
      batch: 32,
    };
    const options = { pull: "arm", totalSteps: 300 };
    const make = (state?: ReturnType<ReturnType<typeof createOnlineMixer>["state"]>) =>
      createOnlineMixer("odm", { domains, seed: 99, options, ...(state ? { state } : {}) });
    const tape = drive(make(), new Env(spec), { steps: 300 });
    const arms = trajectory(tape).map((p) => Object.keys(p).find((d) => p[d] === 1));
    expect(new Set(arms).size).toBeGreaterThan(10); // the bandit explores many arms
    const cut = tape.findIndex((e) => e.op === "evalDue" && e.step === 150);
    const a = make();
    expect(replay(a, tape, 0, cut)).toBeNull();
    const b = make(JSON.parse(JSON.stringify(a.state())));
    expect(replay(b, tape, cut)).toBeNull();
    expect(() => createOnlineMixer("odm", { domains, seed: 100, options, state: a.state() })).toThrow(
      "odm state: data.seed: expected the mixer's seed 100, got 99",
    );
  });
});
