// ODM (ALGORITHMS.md §3.6): the exploration schedule, the first updates of each variant by hand,
// warm-up, reward clipping, merging of the events of one step, and reproducibility of the
// arm draws after a mid-run restore (the reference's process-global RNG cannot resume).
import { describe, expect, it } from "vitest";
import { createOnlineMixer } from "../../mixers/online.js";
import { explorationRate } from "../../mixers/odm/index.js";
import { Env, drive, replay, trajectory } from "./online-env.js";

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
