import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  normalize,
  repairEuclidean,
  repairMultiplicative,
  ilr,
  ilrInverse,
  softmax,
  entropy,
  boxInfeasibility,
} from "../../src/core/simplex.js";
import { sampleDirichlet, sampleGamma } from "../../src/core/dirichlet.js";
import { createRng } from "../../src/rng/index.js";

const mixture = (k: number) =>
  fc.array(fc.double({ min: 0.001, max: 10, noNaN: true }), { minLength: k, maxLength: k }).map((w) => normalize(w));

describe("simplex", () => {
  it("normalises and rejects negative or empty weights", () => {
    expect(Array.from(normalize([1, 3]))).toEqual([0.25, 0.75]);
    expect(() => normalize([1, -1])).toThrow(/entry 1 must be a finite number ≥ 0, got -1/);
    expect(() => normalize([0, 0])).toThrow(/positive sum/);
  });

  it("repairs into a box: feasible, sums to one, idempotent (both variants)", () => {
    fc.assert(
      fc.property(
        mixture(6),
        fc.array(fc.double({ min: 0, max: 0.1, noNaN: true }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.double({ min: 0.2, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }),
        (p, lo, hi) => {
          const box = { lower: Float64Array.from(lo), upper: Float64Array.from(hi) };
          if (boxInfeasibility(box)) return;
          for (const repair of [repairMultiplicative, repairEuclidean]) {
            const q = repair(p, box);
            let s = 0;
            for (let i = 0; i < 6; i++) {
              expect(q[i]!).toBeGreaterThanOrEqual(box.lower[i]! - 1e-12);
              expect(q[i]!).toBeLessThanOrEqual(box.upper[i]! + 1e-12);
              s += q[i]!;
            }
            expect(Math.abs(s - 1)).toBeLessThan(1e-9);
            const again = repair(q, box);
            for (let i = 0; i < 6; i++) expect(again[i]!).toBeCloseTo(q[i]!, 9);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("multiplicative repair keeps the ratios of the free domains", () => {
    const q = repairMultiplicative(Float64Array.from([0.7, 0.2, 0.1]), {
      lower: new Float64Array(3),
      upper: Float64Array.from([0.5, 1, 1]),
    });
    expect(q[0]).toBeCloseTo(0.5, 12);
    expect(q[1]! / q[2]!).toBeCloseTo(2, 12);
  });

  it("ilr is an isometry onto R^(k−1) with an exact inverse", () => {
    fc.assert(
      fc.property(mixture(5), (p) => {
        const back = ilrInverse(ilr(p, 1e-300));
        for (let i = 0; i < 5; i++) expect(back[i]!).toBeCloseTo(p[i]!, 10);
      }),
      { numRuns: 100 },
    );
    // Known answer for k = 2: z = (1/√2) ln(p1/p2).
    expect(ilr([0.8, 0.2])[0]).toBeCloseTo(Math.log(4) / Math.SQRT2, 12);
  });

  it("softmax and entropy known answers", () => {
    const s = softmax([0, Math.log(3)]);
    expect(s[0]).toBeCloseTo(0.25, 15);
    expect(s[1]).toBeCloseTo(0.75, 15);
    expect(entropy([0.5, 0.5])).toBeCloseTo(Math.log(2), 15);
    expect(entropy([1, 0])).toBe(0);
  });
});

describe("gamma and Dirichlet sampling", () => {
  // Moments: Gamma(α, 1) has mean α and variance α. Tolerances ≈ 5 standard errors.
  it.each([0.05, 0.3, 1, 2.5, 12])("Gamma(%f) has mean α and variance α", (alpha) => {
    const rng = createRng(11);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const g = sampleGamma(alpha, rng);
      s += g;
      s2 += g * g;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    expect(Math.abs(mean - alpha)).toBeLessThan(5 * Math.sqrt(alpha / n));
    expect(Math.abs(variance / alpha - 1)).toBeLessThan(alpha < 0.1 ? 0.25 : 0.06);
  });

  it("Dirichlet draws lie on the simplex and have mean α/Σα", () => {
    const rng = createRng(2);
    const alpha = [0.2, 0.5, 1.3];
    const mean = [0, 0, 0];
    const n = 50_000;
    const p = new Float64Array(3);
    for (let i = 0; i < n; i++) {
      sampleDirichlet(alpha, rng, p);
      expect(Math.abs(p[0]! + p[1]! + p[2]! - 1)).toBeLessThan(1e-12);
      for (let j = 0; j < 3; j++) mean[j] += p[j]! / n;
    }
    alpha.forEach((a, j) => expect(mean[j]!).toBeCloseTo(a / 2, 2));
  });
});
