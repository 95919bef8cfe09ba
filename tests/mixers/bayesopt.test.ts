import { describe, expect, it } from "vitest";
import {
  expectedImprovement,
  logExpectedImprovement,
  logH,
  normalCdf,
  erfcx,
} from "../../mixers/bayesopt/acquisition.js";
import { fitGp, predictGp, conditionGp, gpObjective } from "../../mixers/bayesopt/gp.js";
import { createRng } from "../../src/rng/index.js";
import { sampleDirichlet } from "../../src/core/dirichlet.js";
import { l1Distance } from "../../src/core/simplex.js";
import { resolveConstraints } from "../../src/core/constraints.js";
import { suggestBayesOpt } from "../../mixers/bayesopt/index.js";

describe("acquisition known answers", () => {
  it("EI of N(0, 1) against 0.5 is 0.19780 (botorch test_analytic: best_f 0.5, mean 0, sd 1, maximisation)", () => {
    // For minimisation this is the loss N(0, 1) against best −0.5 mirrored: σ h((μ − best)/σ), z = −0.5.
    // Reference (Python: phi(z) + z*Phi(z) with math.erfc): h(−0.5) = 0.19779655740130608.
    expect(Math.exp(logH(-0.5))).toBeCloseTo(0.1977965574, 7);
    expect(expectedImprovement(0, 1, -0.5)).toBeCloseTo(0.1977965574, 7);
    expect(expectedImprovement(2, 3, 2)).toBeCloseTo(3 * 0.3989422804, 6);
  });
  it("log EI stays finite and accurate far in the tail", () => {
    // Reference (Python math.erfc): h(−10) = 7.47456025458266e-25, h(−6) = 1.5635697959707935e-10.
    expect(logH(-10)).toBeCloseTo(Math.log(7.47456025458266e-25), 4);
    expect(logH(-6)).toBeCloseTo(Math.log(1.5635697959707935e-10), 4);
    expect(Number.isFinite(logExpectedImprovement(0, 1e-3, -1))).toBe(true);
    // Either side of the switch to the asymptotic series (reference: Python math.erfc).
    expect(logH(-7.999)).toBeCloseTo(-37.11412535142644, 4);
    expect(logH(-8.001)).toBeCloseTo(-37.13060414444232, 4);
    expect(logH(-30)).toBeLessThan(logH(-20));
  });
  it("normal cdf and erfcx", () => {
    expect(normalCdf(1.959963985)).toBeCloseTo(0.975, 7);
    expect(erfcx(0)).toBeCloseTo(1, 6);
  });
});

describe("GP known answers", () => {
  it("posterior of a hand-worked two-point GP (fixed hyperparameters)", () => {
    // Features x1 = 0, x2 = 1 (one dim), ℓ = 1, σ0² = 1, noise 1e-8 (+1e-8 floor), y = (0, 1) standardised by hand:
    // mean 0.5, sd 0.5 → ys = (−1, 1). Matérn-5/2 at r = 1: m = (1 + √5 + 5/3) e^{−√5} = 0.523994.
    // At x* = 0.5: k* = m(0.5) = (1 + √5/2 + 5/12) e^{−√5/2} = 0.828649 for both points;
    // by symmetry μ* = mean = 0.5; var* = 1 − 2 k*² / (1 + m) = 0.099069 (×0.25 in original units).
    const hyper = {
      lengthscales: Float64Array.of(1),
      outputVariance: 1,
      noiseVariance: 2e-8,
      biasVariance: 0,
      power: 0,
    };
    const gp = conditionGp(
      Float64Array.of(0, 1),
      Float64Array.of(1, 1),
      Float64Array.of(0, 1),
      1,
      false,
      hyper,
      0.5,
      0.5,
    );
    const mu = new Float64Array(1);
    const v = new Float64Array(1);
    predictGp(gp, Float64Array.of(0.5), null, mu, v);
    const m1 = (1 + Math.sqrt(5) + 5 / 3) * Math.exp(-Math.sqrt(5));
    const kstar = (1 + Math.sqrt(5) / 2 + 5 / 12) * Math.exp(-Math.sqrt(5) / 2);
    expect(m1).toBeCloseTo(0.523994, 5);
    expect(kstar).toBeCloseTo(0.828649, 5);
    expect(mu[0]).toBeCloseTo(0.5, 9);
    expect(v[0]).toBeCloseTo(0.25 * (1 - (2 * kstar * kstar) / (1 + m1)), 6);
    predictGp(gp, Float64Array.of(1), null, mu, v);
    expect(mu[0]).toBeCloseTo(1, 6);
    expect(v[0]).toBeLessThan(1e-6);
  });

  it("the marginal-likelihood gradient matches finite differences (single and multi-fidelity)", () => {
    const rng = createRng(1);
    const n = 10;
    const d = 3;
    const x = Float64Array.from({ length: n * d }, () => rng.next());
    const z = Float64Array.from({ length: n }, () => [0.1, 0.5, 1][rng.nextInt(3)]!);
    const y = Float64Array.from({ length: n }, (_, i) => Math.sin(3 * x[i * d]!) + x[i * d + 1]!);
    for (const mf of [false, true]) {
      const p = d + 2 + (mf ? 2 : 0);
      const th = Float64Array.from({ length: p }, () => 0.3 * rng.nextNormal());
      const g = new Float64Array(p);
      gpObjective(th, g, x, z, y, n, d, mf);
      for (let i = 0; i < p; i++) {
        const a = Float64Array.from(th);
        const b = Float64Array.from(th);
        a[i] = a[i]! + 1e-6;
        b[i] = b[i]! - 1e-6;
        const t = new Float64Array(p);
        expect(g[i]!).toBeCloseTo(
          (gpObjective(a, t, x, z, y, n, d, mf) - gpObjective(b, t, x, z, y, n, d, mf)) / 2e-6,
          4,
        );
      }
    }
  });

  it("fits a smooth function and predicts held-out points", () => {
    const rng = createRng(3);
    const n = 40;
    const x = Float64Array.from({ length: n * 2 }, () => rng.next());
    const f = (a: number, b: number) => Math.sin(4 * a) + b * b;
    const y = Float64Array.from({ length: n }, (_, i) => f(x[2 * i]!, x[2 * i + 1]!));
    const gp = fitGp(x, null, y, 2, rng);
    const mu = new Float64Array(1);
    const v = new Float64Array(1);
    predictGp(gp, Float64Array.of(0.3, 0.6), null, mu, v);
    expect(Math.abs(mu[0]! - f(0.3, 0.6))).toBeLessThan(0.05);
  });
});

describe("linear algebra", () => {
  it("choleskyInverse(L) · K = I", async () => {
    const { cholesky, choleskyInverse } = await import("../../mixers/bayesopt/gp.js");
    const rng = createRng(5);
    const n = 7;
    const a = Float64Array.from({ length: n * n }, () => rng.next());
    const k = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = i === j ? 0.5 : 0;
      for (let t = 0; t < n; t++) s += a[i * n + t]! * a[j * n + t]!;
      k[i * n + j] = s;
    }
    const inv = choleskyInverse(cholesky(k, n, 0).l, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += inv[i * n + t]! * k[t * n + j]!;
      expect(s).toBeCloseTo(i === j ? 1 : 0, 9);
    }
  });
});

describe("suggester", () => {
  const k = 4;
  const domains = ["a", "b", "c", "d"];
  const truth = (p: ArrayLike<number>) => 3 + (p[0]! - 0.4) ** 2 + (p[1]! - 0.3) ** 2 + 0.5 * p[3]!;
  const data = (n: number, seed: number) => {
    const rng = createRng(seed);
    const w = new Float64Array(n * k);
    const p = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      sampleDirichlet([1, 1, 1, 1], rng, p);
      w.set(p, i * k);
    }
    return {
      domains,
      weights: w,
      y: Float64Array.from({ length: n }, (_, i) => truth(w.subarray(i * k, (i + 1) * k))),
      fidelity: null,
    };
  };

  it("proposes distinct mixtures on the simplex inside the constraints, deterministically per seed", () => {
    const cons = resolveConstraints(domains, { maxShare: { a: 0.35 }, minShare: { d: 0.02 } });
    const run = (seed: number) => suggestBayesOpt(data(12, 1), 3, cons, { numCandidates: 256 }, createRng(seed));
    const a = run(7);
    expect(a).toHaveLength(3);
    for (const p of a) {
      expect(Math.abs(p.proportions.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-9);
      expect(p.proportions[0]!).toBeLessThanOrEqual(0.35 + 1e-9);
      expect(p.proportions[3]!).toBeGreaterThanOrEqual(0.02 - 1e-9);
    }
    expect(l1Distance(a[0]!.proportions, a[1]!.proportions)).toBeGreaterThan(1e-6);
    expect(run(7).map((p) => Array.from(p.proportions))).toEqual(a.map((p) => Array.from(p.proportions)));
  });

  it("treats rows without a target as pending: proposals avoid them", () => {
    const d = data(12, 2);
    const y = Float64Array.from(d.y);
    y[10] = NaN;
    y[11] = NaN;
    const props = suggestBayesOpt({ ...d, y }, 2, resolveConstraints(domains), { numCandidates: 256 }, createRng(1));
    for (const p of props) {
      for (const r of [10, 11]) {
        expect(l1Distance(p.proportions, d.weights.subarray(r * k, (r + 1) * k))).toBeGreaterThan(1e-6);
      }
    }
  });

  it("with fidelities, proposes (mixture, fidelity) pairs among the given fidelities", () => {
    const d = data(16, 3);
    const fidelity = Float64Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 0.01 : 1));
    const y = Float64Array.from(d.y, (v, i) => (fidelity[i] === 1 ? v : v + 0.3));
    const props = suggestBayesOpt(
      { ...d, y, fidelity },
      3,
      resolveConstraints(domains),
      { numCandidates: 256, fidelities: [0.01, 1] },
      createRng(2),
    );
    for (const p of props) expect([0.01, 1]).toContain(p.fidelity);
  });

  it("needs at least two finished runs", () => {
    const d = data(3, 4);
    const y = Float64Array.of(3, NaN, NaN);
    expect(() => suggestBayesOpt({ ...d, y }, 1, resolveConstraints(domains), {}, createRng(0))).toThrow(
      /needs at least 2 finished runs, got 1/,
    );
  });
});

describe("ask/tell object", () => {
  it("observe → suggest → recommend improves on a known law", async () => {
    const { createBayesOpt } = await import("../../mixers/bayesopt/index.js");
    const f = (p: ArrayLike<number>) => 3 + (p[0]! - 0.5) ** 2 + (p[1]! - 0.2) ** 2 + (p[2]! - 0.3) ** 2;
    const bo = createBayesOpt({ domains: ["a", "b", "c"], seed: 1, options: { numCandidates: 256 } });
    const rng = createRng(9);
    const p = new Float64Array(3);
    for (let i = 0; i < 5; i++) {
      sampleDirichlet([1, 1, 1], rng, p);
      bo.observe(p, f(p));
    }
    for (let round = 0; round < 8; round++) {
      const [next] = await bo.suggest(1);
      bo.observe(next!.proportions, f(next!.proportions));
    }
    const rec = await bo.recommend();
    expect(f(rec.proportions) - 3).toBeLessThan(0.01);
    expect(() => bo.observe([0.5, 0.6, 0.1], 3)).toThrow(/expected proportions summing to 1, got 1.2/);
  });
});
