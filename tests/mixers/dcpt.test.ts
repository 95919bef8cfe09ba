// D-CPT law (mixers/dcpt): recovers its own functional form and the optimal domain share.
import { describe, expect, it } from "vitest";
import { dcpt } from "../../mixers/dcpt/index.js";
import { createRng } from "../../src/rng/index.js";
import { resolveConstraints } from "../../src/core/constraints.js";

const domains = ["med", "web"];
// Truth: the domain loss in r, the general loss in 1 − r, same form, ε = 0.01.
const dom = (r: number) => 1.8 + 0.4 * r ** 0.7 + 0.05 * (r + 0.01) ** -0.6;
const gen = (r: number) => 2.5 + 0.2 * (1 - r) + 0.03 * (1 - r + 0.01) ** -0.5;
const n = 24;
const rs = Array.from({ length: n }, (_, i) => (i + 0.5) / n);
const input = {
  domains,
  weights: Float64Array.from(rs.flatMap((r) => [r, 1 - r])),
  target: Float64Array.from(rs, (r) => (dom(r) + gen(r)) / 2),
  components: { names: ["loss.med", "loss.web"], values: [Float64Array.from(rs, dom), Float64Array.from(rs, gen)] },
};

describe("D-CPT law", () => {
  const law = dcpt.fit(input, dcpt.parseOptions({}), createRng(0));

  it("fits its own form to within 2e-3 of loss, inside and between the runs", () => {
    for (const r of [0.01, 0.1, 0.37, 0.8, 0.99]) {
      expect(law.predict(Float64Array.of(r, 1 - r))[0]).toBeCloseTo((dom(r) + gen(r)) / 2, 2);
    }
  });

  it("recommends the share that minimises the mean loss (grid of the truth: r* = 0.2612, mean loss 2.37406)", () => {
    let best = { r: 0, v: Infinity };
    for (let i = 0; i <= 100_000; i++) {
      const r = i / 100_000;
      const v = (dom(r) + gen(r)) / 2;
      if (v < best.v) best = { r, v };
    }
    const rec = law.recommend(resolveConstraints(domains), createRng(0));
    const r = rec.proportions[0]!;
    expect((dom(r) + gen(r)) / 2 - best.v).toBeLessThan(1e-4);
    expect(rec.proportions[0]! + rec.proportions[1]!).toBeCloseTo(1, 12);
  });

  it("keeps the share inside the constraint box", () => {
    const rec = law.recommend(resolveConstraints(domains, { minShare: { med: 0.4 } }), createRng(0));
    expect(rec.proportions[0]).toBeCloseTo(0.4, 6);
  });

  it("needs a domain it can vary", () => {
    expect(() =>
      dcpt.fit(
        { ...input, weights: Float64Array.from(rs.flatMap(() => [0.5, 0.5])) },
        dcpt.parseOptions({}),
        createRng(0),
      ),
    ).toThrow("dcpt: expected runs that vary the share of med, got 0.5 in every run");
  });
});
