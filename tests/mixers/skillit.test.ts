// Skill-It (ALGORITHMS.md §3.3): the first round with all losses 1, the window of the last w
// evaluations restarted from the base each round, the normalize_loss / eta_schedule /
// dynamic_lambda options by hand, and the refusal of stale or missing evaluations.
import { describe, expect, it } from "vitest";
import { createOnlineMixer } from "../../mixers/online.js";

const D = ["a", "b"];
/** Row = trained domain: training on a helps b by 0.4; training on b helps a by 0.2. */
const G = [
  [1, 0.4],
  [0.2, 1],
];
const make = (options: Record<string, unknown> = {}) =>
  createOnlineMixer("skillit", { domains: D, seed: 0, options: { graph: G, roundSteps: 10, ...options } });
const STALE =
  "skillit event: step: expected the evaluation of step 10 " +
  "(round 1 starts there; Skill-It updates only on a fresh evaluation per round)";
/** p_j ∝ b_j exp(η Σ_i G_ji L_i) for summed losses L. */
function expected(sumL: number[], eta = 0.2, base = [0.5, 0.5], g = G): number[] {
  const w = base.map((b, j) => b * Math.exp(eta * (g[j]![0]! * sumL[0]! + g[j]![1]! * sumL[1]!)));
  return w.map((v) => v / (w[0]! + w[1]!));
}
const ev = (step: number, a: number, b: number) => ({ kind: "eval" as const, step, loss: { a, b } });

describe("skillit", () => {
  it("uses all losses 1 in the first round and the last w evaluations after", () => {
    const m = make();
    expect(m.evalDue(0)).toBe(true);
    expect(m.proportions().a).toBeCloseTo(expected([1, 1])[0]!, 15);
    m.observe(ev(0, 4, 2));
    expect(m.proportions().a).toBeCloseTo(expected([1, 1])[0]!, 15); // still round 0
    expect(m.evalDue(5)).toBe(false);
    expect(m.evalDue(10)).toBe(true);
    m.observe(ev(10, 3, 2));
    expect(m.proportions().a).toBeCloseTo(expected([7, 4])[0]!, 15);
    m.observe(ev(20, 2, 1.5));
    m.observe(ev(30, 1, 1.5));
    // Window 3: the step-0 evaluation has left it; each round restarts from the base.
    expect(m.proportions().a).toBeCloseTo(expected([6, 5])[0]!, 15);
    expect(m.diagnostics().impliedA).toEqual([
      [1 * 1, 0.2 * 1],
      [0.4 * 1.5, 1 * 1.5],
    ]);
  });

  it("normalizes losses by the first evaluation, schedules η, halves off-diagonal entries", () => {
    const n = make({ normalizeLoss: true, prior: { a: 0.3, b: 0.7 } });
    n.observe(ev(0, 4, 2));
    n.observe(ev(10, 2, 1));
    expect(n.proportions().a).toBeCloseTo(expected([1 + 0.5, 1 + 0.5], 0.2, [0.3, 0.7])[0]!, 15);
    const e = make({ etaSchedule: true });
    e.observe(ev(0, 4, 2));
    e.observe(ev(10, 2, 1));
    expect(e.proportions().a).toBeCloseTo(expected([6, 3], 0.2 * (6 / 3))[0]!, 15);
    const d = make({ dynamicLambda: true });
    d.observe(ev(0, 4, 2));
    d.observe(ev(10, 2, 1));
    d.observe(ev(20, 2, 1));
    const halfTwice = [
      [1, 0.1],
      [0.05, 1],
    ];
    expect(d.proportions().a).toBeCloseTo(expected([8, 4], 0.2, [0.5, 0.5], halfTwice)[0]!, 15);
  });

  it("holds isolated skills at 1/k with isolatedFixed", () => {
    // c has no edge to or from a or b: it keeps 1/3; a and b share 2/3 by the usual update.
    const g3 = [
      [1, 0.4, 0],
      [0.2, 1, 0],
      [0, 0, 1],
    ];
    const options = { graph: g3, roundSteps: 10, isolatedFixed: true };
    const m = createOnlineMixer("skillit", { domains: ["a", "b", "c"], seed: 0, options });
    m.observe({ kind: "eval", step: 0, loss: { a: 4, b: 2, c: 9 } });
    m.observe({ kind: "eval", step: 10, loss: { a: 3, b: 2, c: 9 } });
    const ab = expected([7, 4]);
    expect(m.proportions().c).toBeCloseTo(1 / 3, 15);
    expect(m.proportions().a).toBeCloseTo((2 / 3) * ab[0]!, 15);
    expect(m.proportions().b).toBeCloseTo((2 / 3) * ab[1]!, 15);
  });

  it("refuses an update on a stale, early or partial evaluation", () => {
    const m = make();
    m.observe(ev(0, 4, 2));
    // A second evaluation in the same round would update on the round's old losses again.
    expect(() => m.observe(ev(0, 4, 2))).toThrow(`${STALE}, got 0`);
    expect(() => m.observe(ev(15, 4, 2))).toThrow(`${STALE}, got 15`);
    expect(() => m.observe({ kind: "eval", step: 10, loss: { a: 1 } })).toThrow(
      "skillit event: loss.b: expected a validation loss for every domain, got nothing",
    );
    expect(() => m.observe({ kind: "train", step: 10, loss: { a: 1, b: 1 }, tokens: { a: 1, b: 1 } })).toThrow(
      'skillit event: kind: expected "eval" (what skillit observes), got "train"',
    );
    expect(() => make({ normalizeLoss: true }).observe(ev(0, 0, 1))).toThrow(
      "skillit event: loss.a: expected a positive first loss (normalizeLoss divides by it), got 0",
    );
  });

  it("refuses a graph of the wrong shape and defaults the round to 1% of the run", () => {
    expect(() => make({ graph: [[1, 0], [0]] })).toThrow(
      "options of skillit: graph[1]: expected 2 entries (one per domain), got 1",
    );
    expect(() => make({ graph: [[1, 0], [0, Number.NaN]] })).toThrow(
      "options of skillit: graph.1.1: expected a number, got NaN",
    );
    const m = createOnlineMixer("skillit", { domains: D, seed: 0, options: { graph: G, totalSteps: 40_000 } });
    expect(m.diagnostics().roundSteps).toBe(400);
  });
});
