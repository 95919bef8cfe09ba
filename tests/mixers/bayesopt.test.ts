import { describe, expect, it } from "vitest";
import { expectedImprovement, logExpectedImprovement, logH, normalCdf, erfcx } from "../../mixers/bayesopt/acquisition.js";
import { fitGp, predictGp, conditionGp, gpObjective } from "../../mixers/bayesopt/gp.js";
import { createRng } from "../../src/rng/index.js";

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
    const hyper = { lengthscales: Float64Array.of(1), outputVariance: 1, noiseVariance: 2e-8, biasVariance: 0, power: 0 };
    const gp = conditionGp(Float64Array.of(0, 1), Float64Array.of(1, 1), Float64Array.of(0, 1), 1, false, hyper, 0.5, 0.5);
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
        expect(g[i]!).toBeCloseTo((gpObjective(a, t, x, z, y, n, d, mf) - gpObjective(b, t, x, z, y, n, d, mf)) / 2e-6, 4);
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
