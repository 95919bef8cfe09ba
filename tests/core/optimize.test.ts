import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { lbfgs, minimizeOnSimplex, smallestK } from "../../src/core/optimize.js";
import { TopKCollector } from "../../src/core/topk.js";
import { createRng } from "../../src/rng/index.js";

describe("L-BFGS", () => {
  it("finds the Rosenbrock minimum (1, 1)", () => {
    const f = (x: Float64Array, g: Float64Array): number => {
      const [a, b] = [x[0]!, x[1]!];
      g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
      g[1] = 200 * (b - a * a);
      return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
    };
    const r = lbfgs(f, Float64Array.from([-1.2, 1]), { maxIterations: 500 });
    expect(r.x[0]).toBeCloseTo(1, 5);
    expect(r.x[1]).toBeCloseTo(1, 5);
  });
});

describe("minimizeOnSimplex", () => {
  it("matches the Lagrange solution of a separable power law (BiMix's optimum)", () => {
    // min Σ K_i r_i^(−α_i) on the simplex: r_i(λ) = (α_i K_i / λ)^(1/(α_i+1)), Σ r_i(λ) = 1.
    const K = [1, 2, 0.5, 3];
    const A = [0.3, 0.1, 0.5, 0.2];
    const rOf = (lambda: number) => K.map((k, i) => ((A[i]! * k) / lambda) ** (1 / (A[i]! + 1)));
    let lo = 1e-9;
    let hi = 1e9;
    for (let it = 0; it < 300; it++) {
      const mid = Math.sqrt(lo * hi);
      if (rOf(mid).reduce((a, b) => a + b, 0) > 1) lo = mid;
      else hi = mid;
    }
    const exact = rOf(Math.sqrt(lo * hi));
    const f = (r: Float64Array, g: Float64Array): number => {
      let s = 0;
      for (let i = 0; i < 4; i++) {
        const v = K[i]! * r[i]! ** -A[i]!;
        s += v;
        g[i] = (-A[i]! * v) / r[i]!;
      }
      return s;
    };
    const box = { lower: new Float64Array(4).fill(1e-9), upper: new Float64Array(4).fill(1) };
    const res = minimizeOnSimplex(f, new Float64Array(4).fill(0.25), box, { maxIterations: 20_000, tolerance: 1e-15 });
    for (let i = 0; i < 4; i++) expect(res.p[i]!).toBeCloseTo(exact[i]!, 5);
  });

  it("puts a linear objective on the cheapest vertex the box allows", () => {
    const c = [3, 1, 2];
    const f = (r: Float64Array, g: Float64Array): number => {
      g.set(c);
      return c[0]! * r[0]! + c[1]! * r[1]! + c[2]! * r[2]!;
    };
    const res = minimizeOnSimplex(f, Float64Array.from([1 / 3, 1 / 3, 1 / 3]), {
      lower: new Float64Array(3),
      upper: Float64Array.from([1, 0.6, 1]),
    });
    expect(res.p[1]).toBeCloseTo(0.6, 9);
    expect(res.p[2]).toBeCloseTo(0.4, 9);
  });
});

describe("top-k selection", () => {
  it("smallestK and TopKCollector agree with a full sort (ties by first index)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 30 }),
        (vals, k) => {
          const x = Float64Array.from(vals);
          const want = Array.from(x.keys()).sort((a, b) => x[a]! - x[b]! || a - b).slice(0, k);
          expect(Array.from(smallestK(x, k))).toEqual(want);
          const c = new TopKCollector(k, 1);
          const ids = Float64Array.from(x.keys());
          for (let i = 0; i < x.length; i++) c.offer(x[i]!, ids, i);
          expect(Array.from(c.results().vectors)).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("is deterministic", () => {
    const r = createRng(0);
    const x = Float64Array.from({ length: 1000 }, () => r.next());
    expect(Array.from(smallestK(x, 5))).toEqual(Array.from(smallestK(Float64Array.from(x), 5)));
  });
});
