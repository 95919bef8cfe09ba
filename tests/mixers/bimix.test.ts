import { describe, expect, it } from "vitest";
import { bimix } from "../../mixers/bimix/index.js";
import { createRng } from "../../src/rng/index.js";
import { sampleDirichlet } from "../../src/core/dirichlet.js";
import { InputError } from "../../src/errors.js";

describe("BiMix", () => {
  it("recovers a known bivariate law across training amounts and predicts unseen amounts", () => {
    // L_i = (r_i + 0.01)^(−α_i) · (P_i s^(−β_i) + Q_i) for two eval domains, runs at 4 amounts.
    const truth = [
      { alpha: 0.2, p: 40, beta: 0.5, q: 2 },
      { alpha: 0.1, p: 25, beta: 0.4, q: 1.5 },
    ];
    const rng = createRng(4);
    const amounts = [100, 200, 400, 800];
    const n = 120;
    const w = new Float64Array(n * 2);
    const comps = [new Float64Array(n), new Float64Array(n)];
    const amount = new Float64Array(n);
    const p = new Float64Array(2);
    for (let i = 0; i < n; i++) {
      sampleDirichlet([1, 1], rng, p);
      w.set(p, i * 2);
      amount[i] = amounts[i % 4]!;
      truth.forEach((t, d) => (comps[d]![i] = (p[d]! + 0.01) ** -t.alpha * (t.p * amount[i]! ** -t.beta + t.q)));
    }
    const target = Float64Array.from({ length: n }, (_, i) => (comps[0]![i]! + comps[1]![i]!) / 2);
    const input = {
      domains: ["a", "b"],
      weights: w,
      target,
      amount,
      components: { names: ["loss.a", "loss.b"], values: comps },
    };
    const law = bimix.fit(input, bimix.parseOptions({ targetAmount: 3200 }), createRng(0));
    const probe = Float64Array.from([0.3, 0.7]);
    const want = truth.reduce((s, t, d) => s + (probe[d]! + 0.01) ** -t.alpha * (t.p * 3200 ** -t.beta + t.q), 0) / 2;
    // Extrapolating 4× beyond the largest amount seen: within 1%.
    expect(Math.abs(law.predict(probe)[0]! / want - 1)).toBeLessThan(0.01);
  });

  it("refuses eval losses that match no training domain", () => {
    const input = {
      domains: ["a", "b"],
      weights: Float64Array.from([0.5, 0.5]),
      target: Float64Array.from([3]),
      components: { names: ["loss.c"], values: [Float64Array.from([3])] },
    };
    expect(() => bimix.fit(input, bimix.parseOptions({}), createRng(0))).toThrow(InputError);
    expect(() => bimix.fit(input, bimix.parseOptions({}), createRng(0))).toThrow(
      /expected eval losses named loss.<domain> for training domains, got "loss.c"/,
    );
  });
});
