// DoReMi (ALGORITHMS.md §3.4): the EG step by hand, per-token vs domain-mean clipping, absent
// domains keeping their score, one update per optimizer step whatever the gradient
// accumulation, the time average as the answer and the α/s loss weights.
import { describe, expect, it } from "vitest";
import { createOnlineMixer } from "../../mixers/online.js";
import type { DoReMiMixer } from "../../mixers/doremi/index.js";
import type { MixerEvent } from "../../mixers/types.js";
import { createRng } from "../../src/rng/index.js";

const D2 = ["a", "b"];
const make = (options: Record<string, unknown> = {}) =>
  createOnlineMixer("doremi", { domains: D2, seed: 0, options }) as DoReMiMixer;
/** A train event of two domains with 8 tokens each. */
const ev = (step: number, loss: [number, number], excess: [number, number], tokens = 8): MixerEvent => ({
  kind: "train",
  step,
  loss: { a: loss[0], b: loss[1] },
  tokens: { a: tokens, b: tokens },
  excess: { a: excess[0], b: excess[1] },
});

/** One DoReMi step by hand: α ∝ α_prev·exp(η λ), then (1 − c) α + c/k. */
function step(prev: number[], scores: number[], eta = 1, c = 1e-3): number[] {
  const w = prev.map((p, i) => p * Math.exp(eta * scores[i]!));
  const s = w.reduce((x, y) => x + y, 0);
  return w.map((v) => (1 - c) * (v / s) + c / prev.length);
}

describe("doremi", () => {
  it("updates α by exponentiated gradient on the excess loss with uniform smoothing", () => {
    const m = make();
    expect(m.weights()).toEqual({ a: 0.5, b: 0.5 });
    m.observe({ kind: "train", step: 0, loss: { a: 3, b: 2 }, tokens: { a: 10, b: 10 }, excess: { a: 1, b: 0 } });
    const a1 = step([0.5, 0.5], [1, 0]);
    expect(m.weights().a).toBeCloseTo(a1[0]!, 15); // 0.999·e/(e+1) + 0.0005 = 0.730827…
    expect(m.weights().a).toBeCloseTo(0.7308275, 7);
    // Step 1 holds only b: a keeps its score 1.
    m.observe({ kind: "train", step: 1, loss: { b: 2 }, tokens: { b: 10 }, excess: { b: 0.25 } });
    expect(m.diagnostics().excessScores).toEqual({ a: 1, b: 0.25 });
    const a2 = step(a1, [1, 0.25]);
    expect(m.weights().a).toBeCloseTo(a2[0]!, 14);
    // The answer is the time average of α_1 and α_2.
    expect(m.summary().a).toBeCloseTo((a1[0]! + a2[0]!) / 2, 14);
  });

  it("matches a direct transcription over 60 steps with absent domains and micro-batches", () => {
    const domains = ["a", "b", "c"];
    const m = createOnlineMixer("doremi", { domains, seed: 0, options: { eta: 0.7, smoothing: 0.01 } }) as DoReMiMixer;
    const rng = createRng(4);
    let alpha = [1 / 3, 1 / 3, 1 / 3];
    const score = [0, 0, 0];
    const sum = [0, 0, 0];
    for (let s = 0; s < 60; s++) {
      // Two micro-batches of the same step; a domain may be absent from both.
      const present = domains.map((_, i) => i === s % 3 || rng.next() < 0.5);
      const excess = [0, 1].map(() => domains.map(() => rng.next()));
      const tokens = [0, 1].map(() => domains.map(() => 1 + Math.floor(rng.next() * 50)));
      for (const q of [0, 1]) {
        const pick = (v: number[]) => Object.fromEntries(domains.flatMap((d, i) => (present[i] ? [[d, v[i]!]] : [])));
        const event = { kind: "train" as const, step: s, loss: pick([2, 2, 2]) };
        m.observe({ ...event, tokens: pick(tokens[q]!), excess: pick(excess[q]!) });
      }
      domains.forEach((_, i) => {
        if (!present[i]) return;
        const n = tokens[0]![i]! + tokens[1]![i]!;
        score[i] = (excess[0]![i]! * tokens[0]![i]! + excess[1]![i]! * tokens[1]![i]!) / n;
      });
      alpha = step(alpha, score, 0.7, 0.01);
      alpha.forEach((v, i) => (sum[i] = sum[i]! + v));
      domains.forEach((d, i) => expect(m.weights()[d]).toBeCloseTo(alpha[i]!, 12));
    }
    domains.forEach((d, i) => expect(m.summary()[d]).toBeCloseTo(sum[i]! / 60, 12));
  });

  it("clips per token (event's excess) or per domain mean (computed from reference)", () => {
    // Half the tokens 1 nat above the reference, half 1.5 below: per-token clipping gives 0.5,
    // the domain mean difference is −0.25 and clips to 0.
    const token = make();
    token.observe({ ...ev(0, [2.75, 2], [0.5, 0], 2), reference: { a: 3, b: 2 } });
    expect(token.diagnostics().excessScores).toEqual({ a: 0.5, b: 0 });
    const domain = make({ clip: "domain" });
    const { excess: _unused, ...noExcess } = ev(0, [2.75, 2.5], [0, 0], 2);
    domain.observe({ ...noExcess, reference: { a: 3, b: 2 } });
    expect(domain.diagnostics().excessScores).toEqual({ a: 0, b: 0.5 });
  });

  it("requires the reference or excess its clipping needs", () => {
    const one = { kind: "train" as const, step: 0, loss: { a: 1 }, tokens: { a: 4 } };
    expect(() => make({ clip: "domain" }).observe(one)).toThrow(
      "doremi event: reference: expected a reference loss for every domain in loss, got nothing",
    );
    expect(() => make().observe({ ...one, reference: { a: 1 } })).toThrow(
      "doremi event: excess: expected a clipped excess loss for every domain in loss, got nothing; " +
        'or give reference and the option clip: "domain"',
    );
    expect(() => make().observe({ ...one, excess: { a: 1, b: 2 } })).toThrow(
      'doremi event: excess.b: expected only domains present in loss, got "b"',
    );
  });

  it("updates once per optimizer step whatever the gradient accumulation", () => {
    // The same 20 steps reported as 1, 2 and 8 micro-batch events per step (micro-batches with
    // different excess whose token-weighted mean is the step's) give the same weights, the
    // same average and 20 updates.
    const runs = [1, 2, 8].map((parts) => {
      const m = make({ eta: 0.5 });
      for (let s = 0; s < 20; s++) {
        const ea = 0.1 + 0.05 * (s % 3);
        const eb = 0.3 - 0.01 * s;
        for (let q = 0; q < parts; q++) {
          const skew = parts === 1 ? 0 : q % 2 === 0 ? 0.05 : -0.05;
          m.observe(ev(s, [2, 2], [ea + skew, eb], 64 / parts));
        }
      }
      return m;
    });
    for (const m of runs) {
      expect(m.diagnostics().updates).toBe(20);
      expect(m.weights().a).toBeCloseTo(runs[0]!.weights().a!, 13);
      expect(m.summary().a).toBeCloseTo(runs[0]!.summary().a!, 13);
    }
    // Applying every micro-batch as its own step would move further: the merge matters.
    const naive = make({ eta: 0.5 });
    for (let s = 0; s < 160; s++) naive.observe(ev(s, [2, 2], [0.1, 0.3]));
    expect(Math.abs(naive.weights().b! - runs[2]!.weights().b!)).toBeGreaterThan(0.1);
  });

  it("samples from the fixed distribution s and weights losses by α/s", () => {
    const m = make({ sampling: { a: 0.25, b: 0.75 }, initial: { a: 0.6, b: 0.4 } });
    expect(m.proportions()).toEqual({ a: 0.25, b: 0.75 });
    expect(m.lossWeights().a).toBeCloseTo(0.6 / 0.25, 14);
    expect(m.lossWeights().b).toBeCloseTo(0.4 / 0.75, 14);
    m.observe({ kind: "train", step: 0, loss: { a: 2, b: 2 }, tokens: { a: 16, b: 48 }, excess: { a: 0, b: 1 } });
    expect(m.proportions()).toEqual({ a: 0.25, b: 0.75 });
    expect(m.lossWeights().b).toBeCloseTo(m.weights().b! / 0.75, 14);
    expect(m.diagnostics().lossWeights).toEqual(m.lossWeights());
  });

  it("keeps a JSON-safe state when a weight underflows without smoothing", () => {
    const m = make({ eta: 50, smoothing: 0 });
    for (let s = 0; s < 40; s++) m.observe(ev(s, [3, 1], [1, 0]));
    expect(m.weights().b).toBe(0); // exp(−2000) underflows
    const text = JSON.stringify(m.state());
    expect(text).not.toContain("null");
    const options = { eta: 50, smoothing: 0 };
    const back = createOnlineMixer("doremi", { domains: D2, seed: 0, options, state: JSON.parse(text) });
    for (const x of [m, back]) x.observe(ev(40, [1, 3], [0, 1]));
    expect(back.state()).toEqual(m.state());
  });
});
