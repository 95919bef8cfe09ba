// Aioli (ALGORITHMS.md §3.2): realised probe batches (largest remainder, within one sequence of
// nominal for every k ≤ 16 and batch ≥ k), exact recovery of A under the dynamic linear law with
// W built from realised counts, the EMA bound max p / min p ≤ e^η, the EG base, the schedule and
// its defaults, the conditioning warning and the refusals.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createOnlineMixer } from "../../mixers/online.js";
import type { AioliMixer } from "../../mixers/aioli/index.js";
import { probeCounts, probeMixture } from "../../mixers/aioli/probes.js";

const names = (k: number) => Array.from({ length: k }, (_, i) => `d${i}`);
const make = (k: number, options: Record<string, unknown>, seed = 1) =>
  createOnlineMixer("aioli", { domains: names(k), seed, options }) as AioliMixer;
const lossOf = (m: AioliMixer, f: (i: number) => number) => Object.fromEntries(m.domains.map((d, i) => [d, f(i)]));

/**
 * Drives a mixer under the dynamic linear law L_i ← L_i − Σ_j A_ij p_j per step (ALGORITHMS.md
 * §3.1), with p the mixer's proportions; returns the proportions of every step.
 */
function linearRun(
  m: AioliMixer,
  a: number[][],
  steps: number,
  start = 10,
  noise?: (s: number, i: number) => number,
  onStep?: (p: Record<string, number>) => void,
): Record<string, number>[] {
  const k = a.length;
  const loss = new Array<number>(k).fill(start);
  const out: Record<string, number>[] = [];
  for (let s = 0; s < steps; s++) {
    if (m.evalDue(s)) m.observe({ kind: "eval", step: s, loss: lossOf(m, (i) => loss[i]! + (noise?.(s, i) ?? 0)) });
    const p = m.proportions();
    out.push(p);
    onStep?.(p);
    for (let i = 0; i < k; i++) loss[i] = loss[i]! - m.domains.reduce((acc, d, j) => acc + a[i]![j]! * p[d]!, 0);
  }
  return out;
}

/** Domain counts of the property tests: every k ≤ 16. */
const SIZES = fc.integer({ min: 2, max: 16 });
const UNIT = fc.double({ min: 0, max: 1, noNaN: true });

const normalised = (a: number[][]) => {
  const s = a.flat().reduce((x, y) => x + y, 0);
  return a.map((r) => r.map((v) => v / s));
};

describe("aioli probes", () => {
  it("apportions every probe batch within one sequence of nominal (k ≤ 16, batch ≥ k)", () => {
    fc.assert(
      fc.property(SIZES, fc.integer({ min: 0, max: 1000 }), UNIT, (k, extra, u) => {
        const b = k + extra;
        const h = 1 / k + (1 - 1 / k) * Math.max(u, 1e-9);
        const counts = probeCounts(k, h, b);
        const m = new Float64Array(k);
        for (let j = 0; j < k; j++) {
          probeMixture(k, j, h, m);
          let total = 0;
          for (let i = 0; i < k; i++) {
            const c = counts[j * k + i]!;
            total += c;
            expect(Math.abs(c - m[i]! * b)).toBeLessThan(1);
          }
          expect(total).toBe(b);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("gives the seven-group probe its 75% (the reference's rounding gave 25%)", () => {
    // §3.2: k = 7, h = 0.75, batch 8: 6 sequences on the target, the 2 left to the others.
    const counts = probeCounts(7, 0.75, 8);
    for (let j = 0; j < 7; j++) {
      expect(counts[j * 7 + j]).toBe(6);
      expect(Array.from(counts.subarray(j * 7, j * 7 + 7)).reduce((x, y) => x + y, 0)).toBe(8);
    }
  });

  it("serves each probe step's realised counts as its proportions and counts them in the budget", () => {
    fc.assert(
      fc.property(SIZES, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 1000 }), (k, extra, seed) => {
        const b = k + extra;
        let m: AioliMixer;
        try {
          m = make(k, { batchSize: b, roundSteps: k * 2 + 3, lpRounds: 1, lpSteps: 2, oneHotFactor: 0.75 }, seed);
        } catch (e) {
          // Rounding can make the probes linearly dependent; the mixer refuses such a batch.
          expect(String(e)).toContain("expected a batch whose rounded probe mixtures are linearly independent");
          return;
        }
        const seen = new Float64Array(k);
        for (let s = 0; s < 2 * k + 3; s++) {
          if (m.evalDue(s)) m.observe({ kind: "eval", step: s, loss: lossOf(m, () => 5) });
          const counts = m.batchCounts();
          const p = m.proportions();
          if (s < 2 * k) {
            expect(counts).not.toBeNull();
            m.domains.forEach((d, i) => {
              expect(p[d]).toBe(counts![d]! / b);
              seen[i] = seen[i]! + counts![d]!;
            });
          } else expect(counts).toBeNull();
        }
        expect(m.diagnostics().probeSteps).toBe(2 * k);
        const samples = m.diagnostics().probeSamplesPerDomain as Record<string, number>;
        expect(Object.values(samples)).toEqual(Array.from(seen));
      }),
      { numRuns: 60, seed: 3 },
    );
  });

  it("refuses a batch whose rounded probes are linearly dependent", () => {
    // k = 4, h = 0.3, batch 4: every probe rounds to one sequence per domain.
    expect(() => make(4, { batchSize: 4, oneHotFactor: 0.3, roundSteps: 100 })).toThrow(
      "options of aioli: batchSize: expected a batch whose rounded probe mixtures are linearly independent " +
        "(oneHotFactor 0.3, 4 domains), got 4",
    );
  });
});

describe("aioli", () => {
  const A = [
    [0.5, 0.1, 0.0],
    [0.2, 0.4, 0.0],
    [0.3, 0.3, 0.2],
  ];

  it("recovers A exactly under the dynamic linear law, de-mixing with the realised W", () => {
    // Batch 7 cannot hold h = 0.5 exactly (3.5 sequences): the realised W differs from the
    // nominal one, and only the realised one recovers A.
    const m = make(3, { batchSize: 7, roundSteps: 40, lpRounds: 2, lpSteps: 3 });
    linearRun(m, A, 25);
    const est = m.diagnostics().A as number[][];
    const truth = normalised(A);
    est.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(truth[i]![j]!, 12)));
    expect((m.diagnostics().realisedW as number[][])[0]).toEqual([3 / 7, 2 / 7, 2 / 7]); // nominal [0.5, 0.25, 0.25]
    // p^1 ∝ exp(η · column sums of the normalised A) from the uniform prior.
    const g = [0, 1, 2].map((j) => truth.reduce((x, r) => x + r[j]!, 0));
    const w = g.map((v) => Math.exp(0.2 * v));
    const p = m.proportions();
    m.domains.forEach((d, j) => expect(p[d]).toBeCloseTo(w[j]! / (w[0]! + w[1]! + w[2]!), 12));
  });

  it("keeps only A_ii = β_ii / W_ii with the diagonal option", () => {
    const diag = [
      [0.6, 0, 0],
      [0, 0.3, 0],
      [0, 0, 0.1],
    ];
    const m = make(3, { batchSize: 7, roundSteps: 40, lpRounds: 2, lpSteps: 3, diagonal: true });
    linearRun(m, diag, 25);
    const est = m.diagnostics().A as number[][];
    const truth = normalised(diag);
    est.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(truth[i]![j]!, 12)));
  });

  it("answers p^t in summary() during probes too (proportions() is the probe)", () => {
    const m = make(3, { batchSize: 8, roundSteps: 20, lpRounds: 1, lpSteps: 2 });
    linearRun(m, A, 21, 100); // one round, then the second round's first probe
    expect(m.diagnostics().phase).toBe("probe");
    const pt = m.summary();
    expect(m.proportions()).not.toEqual(pt);
    const truth = normalised(A);
    const g = [0, 1, 2].map((j) => truth.reduce((x, r) => x + r[j]!, 0));
    const w = g.map((v) => Math.exp(0.2 * v));
    m.domains.forEach((d, j) => expect(pt[d]).toBeCloseTo(w[j]! / (w[0]! + w[1]! + w[2]!), 12));
  });

  it("starts EG from the prior (default) or from uniform, after a warm-up on the prior", () => {
    const prior = { d0: 0.6, d1: 0.2, d2: 0.2 };
    const truth = normalised(A);
    const g = [0, 1, 2].map((j) => truth.reduce((x, r) => x + r[j]!, 0));
    for (const egBase of ["prior", "uniform"] as const) {
      const schedule = { roundSteps: 40, lpRounds: 1, lpSteps: 2, oneHotFactor: 0.5 };
      const m = make(3, { batchSize: 8, warmupSteps: 10, prior, egBase, ...schedule });
      const traj = linearRun(m, A, 20);
      for (let s = 0; s < 10; s++) expect(traj[s]).toEqual(prior);
      expect(m.evalDue(10)).toBe(false); // evaluated at 10 and after each probe
      const base = egBase === "prior" ? [0.6, 0.2, 0.2] : [1 / 3, 1 / 3, 1 / 3];
      const w = base.map((b, j) => b * Math.exp(0.2 * g[j]!));
      const p = m.proportions();
      m.domains.forEach((d, j) => expect(p[d]).toBeCloseTo(w[j]! / (w[0]! + w[1]! + w[2]!), 12));
    }
  });

  it("keeps max p / min p ≤ e^η with EMA (uniform base), not without", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 16, maxLength: 16 }),
        fc.double({ min: 0.05, max: 1.5, noNaN: true }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        (flat, eta, gamma) => {
          const a = [0, 1, 2, 3].map((i) => flat.slice(4 * i, 4 * i + 4));
          const schedule = { roundSteps: 20, lpRounds: 1, lpSteps: 2 };
          const m = make(4, { batchSize: 16, ...schedule, eta, ema: gamma, egBase: "uniform" }, 3);
          let checked = 0;
          linearRun(m, a, 200, 1000, (s, i) => Math.sin(s * 7 + i) * 0.05, (p) => {
            if (m.diagnostics().phase !== "train") return; // probes are not the mixture
            const v = Object.values(p);
            expect(Math.max(...v) / Math.min(...v)).toBeLessThanOrEqual(Math.exp(eta) * (1 + 1e-12));
            checked++;
          });
          expect(checked).toBeGreaterThan(100);
        },
      ),
      { numRuns: 20, seed: 11 },
    );
    // Cumulative EG (no EMA) keeps moving: after 10 rounds the ratio exceeds e^η.
    const m = make(3, { batchSize: 8, roundSteps: 20, lpRounds: 1, lpSteps: 2, eta: 0.2 });
    linearRun(m, A, 200, 1000);
    const v = Object.values(m.proportions());
    expect(Math.max(...v) / Math.min(...v)).toBeGreaterThan(Math.exp(0.2));
  });

  it("resolves the schedule defaults from the run and the README guidance", () => {
    const two = make(2, { batchSize: 8, totalSteps: 5000 });
    expect(two.diagnostics().schedule).toEqual({
      warmupSteps: 0,
      roundSteps: 250,
      lpRounds: 4,
      lpSteps: 4,
      oneHotFactor: 0.625,
      rounds: 20,
      egBase: "prior",
    });
    // 22 domains, 250-step rounds: 4 sweeps of 4 steps would take 352 steps; the default
    // keeps the probes under 70% of a round by cutting the sweeps to 1 (88 steps).
    const many = make(22, { batchSize: 64 });
    expect(many.diagnostics().schedule).toEqual({
      warmupSteps: 0,
      roundSteps: 250,
      lpRounds: 1,
      lpSteps: 4,
      oneHotFactor: 0.5,
      rounds: null,
      egBase: "prior",
    });
    expect(() => make(22, { batchSize: 64, lpRounds: 4, lpSteps: 4, roundSteps: 300 })).toThrow(
      "options of aioli: roundSteps: expected rounds longer than their 352 probe steps " +
        "(k·lpRounds·lpSteps = 22·4·4), got rounds of 300 steps",
    );
  });

  it("warns when the de-mixing solve is ill-conditioned (1/a > 5)", () => {
    const m = make(8, { batchSize: 64, oneHotFactor: 0.2, roundSteps: 100, lpRounds: 1, lpSteps: 2 });
    expect(m.diagnostics().warnings).toEqual([
      "oneHotFactor 0.2 with 8 domains: the de-mixing solve amplifies noise in the loss differences " +
        "by up to 1/a = 11.67 (> 5); raise oneHotFactor",
    ]);
    expect(make(8, { batchSize: 64, roundSteps: 100, lpRounds: 1, lpSteps: 2 }).diagnostics().warnings).toEqual([]);
  });

  it("takes evaluations only when due, and none after the last round", () => {
    const m = make(2, { batchSize: 8, totalSteps: 20, roundSteps: 10, lpRounds: 1, lpSteps: 2 });
    const due = Array.from({ length: 20 }, (_, s) => s).filter((s) => {
      const d = m.evalDue(s);
      if (d) m.observe({ kind: "eval", step: s, loss: { d0: 3, d1: 3 - s / 100 } });
      return d;
    });
    expect(due).toEqual([0, 2, 4, 10, 12, 14]);
    expect(() => m.observe({ kind: "eval", step: 20, loss: { d0: 1, d1: 1 } })).toThrow(
      "aioli event: step: expected no more evaluations (the last round began at step 10), got 20",
    );
    const n = make(2, { batchSize: 8, roundSteps: 10, lpRounds: 1, lpSteps: 2 });
    n.observe({ kind: "eval", step: 0, loss: { d0: 3, d1: 3 } });
    expect(() => n.observe({ kind: "eval", step: 3, loss: { d0: 3, d1: 3 } })).toThrow(
      "aioli event: step: expected the evaluation due at step 2 (see evalDue), got 3",
    );
    expect(() => n.observe({ kind: "eval", step: 2, loss: { d0: 3 } })).toThrow(
      "aioli event: loss.d1: expected a validation loss for every domain, got nothing",
    );
  });
});
