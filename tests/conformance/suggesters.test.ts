// One suite over every registered suggester: n proposals on the simplex inside the constraint
// box, the same seed → the same rows, another seed → other rows, n above the documented maximum
// and bad options refused with an InputError naming them. A suggester joins by adding one entry to
// `cases`; a registry entry without one fails the suite.
import { describe, expect, it } from "vitest";
import { suggesters } from "../../mixers/index.js";
import type { SuggestInput } from "../../mixers/types.js";
import { createRng } from "../../src/rng/index.js";
import { sampleDirichlet } from "../../src/core/dirichlet.js";
import { resolveConstraints } from "../../src/core/constraints.js";
import { InputError } from "../../src/errors.js";

const DOMAINS = ["web", "code", "math", "books"];
const K = DOMAINS.length;

/** 24 runs of a known smooth law (minimum inside the simplex), two of them pending (NaN). */
function runsSoFar(): { weights: Float64Array; target: Float64Array } {
  const rng = createRng(7);
  const n = 24;
  const weights = new Float64Array(n * K);
  const target = new Float64Array(n);
  const p = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    sampleDirichlet([1, 1, 1, 1], rng, p);
    weights.set(p, i * K);
    target[i] = i >= n - 2 ? NaN : 2 + (p[0]! - 0.4) ** 2 + (p[1]! - 0.3) ** 2 + 0.5 * (p[2]! - 0.2) ** 2;
  }
  return { weights, target };
}

interface Case {
  /** Options that keep the suite fast. */
  readonly options: Record<string, unknown>;
  /** Options that must be refused (each one on its own). */
  readonly badOptions: Record<string, unknown>[];
}

const cases: Record<string, Case> = {
  dirichlet: {
    options: { oversample: 20 },
    badOptions: [
      { priorTemperature: 0 }, { priorTemperature: 1.5 }, { minConcentration: -1 }, { maxConcentration: 0 },
      { numConcentrations: 0 }, { maxUsage: 0 }, { minShare: 0 }, { minShare: 0.5 }, { oversample: 0 },
      { oversample: 1.5 }, { maxRejectionsPerDraw: 0 },
    ],
  },
  bayesopt: {
    options: { numCandidates: 128, restarts: 0, numRefine: 1, refineSteps: 8 },
    badOptions: [
      { acquisition: "ucb" }, { beta: -1 }, { numCandidates: 8 }, { numRefine: -1 }, { refineSteps: 1.5 },
      { restarts: -1 }, { fidelities: [0] }, { fidelities: [1.5] },
    ],
  },
};

describe.each(Object.keys(suggesters))("suggester %s", (name) => {
  const s = suggesters[name]!;
  const c = cases[name];
  it("has a conformance case", () => expect(c).toBeDefined());
  if (!c) return;
  const runs = runsSoFar();
  const base = (constraints = resolveConstraints(DOMAINS)): SuggestInput => ({
    domains: DOMAINS,
    constraints,
    ...(s.needsRuns ? runs : {}),
  });
  const opts = s.parseOptions(c.options);
  const rows = (seed: number, input = base(), n = 5) =>
    s.suggest(input, n, opts, createRng(seed)).map((r) => Array.from(r.proportions));

  it("proposes n mixtures on the simplex inside the constraint box", () => {
    const cons = resolveConstraints(DOMAINS, { minShare: { books: 0.1 }, maxShare: { web: 0.35, code: 0.5 } });
    const out = s.suggest(base(cons), 6, opts, createRng(1));
    expect(out).toHaveLength(6);
    for (const r of out) {
      expect(r.proportions).toHaveLength(K);
      expect(Math.abs(r.proportions.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
      r.proportions.forEach((v, i) => {
        expect(v).toBeGreaterThanOrEqual(cons.box.lower[i]! - 1e-9);
        expect(v).toBeLessThanOrEqual(cons.box.upper[i]! + 1e-9);
      });
      if (r.fidelity !== undefined) expect(r.fidelity > 0 && r.fidelity <= 1).toBe(true);
    }
    // The bounds bind: some proposal sits at or near them, so a suggester that ignored them would fail.
    expect(Math.min(...out.map((r) => r.proportions[3]!))).toBeLessThan(0.25);
  });

  it("same seed → the same rows; another seed → other rows", () => {
    expect(rows(3)).toEqual(rows(3));
    expect(rows(4)).not.toEqual(rows(3));
  });

  it(`refuses n outside [1, ${s.maxN}] and an impossible box`, () => {
    expect(() => s.suggest(base(), s.maxN + 1, opts, createRng(0))).toThrow(InputError);
    expect(() => s.suggest(base(), s.maxN + 1, opts, createRng(0))).toThrow(/--n: expected an integer in \[1, /);
    expect(() => s.suggest(base(), 0, opts, createRng(0))).toThrow(InputError);
    expect(() => resolveConstraints(DOMAINS, { maxShare: 0.2 })).toThrow(InputError);
  });

  it("refuses unknown and out-of-range options with an InputError naming them", () => {
    expect(() => s.parseOptions({ noSuchOption: 1 })).toThrow(/noSuchOption/);
    for (const bad of c.badOptions) {
      const key = Object.keys(bad)[0]!;
      expect(() => s.parseOptions(bad), key).toThrow(InputError);
      expect(() => s.parseOptions(bad), key).toThrow(new RegExp(`options of ${name}: ${key}`));
    }
  });

  if (s.needsRuns) {
    it("refuses to run without the runs so far", () => {
      const noRuns = { domains: DOMAINS, constraints: resolveConstraints(DOMAINS) };
      expect(() => s.suggest(noRuns, 2, opts, createRng(0))).toThrow(InputError);
    });
  }
});

describe("suggester specifics", () => {
  it("the Dirichlet swarm honours minimum shares exactly and refuses a minimum above a cap", () => {
    const d = suggesters.dirichlet!;
    const o = d.parseOptions({ oversample: 10 });
    const cons = resolveConstraints(DOMAINS, { minShare: { web: 0.3, math: 0.2 } });
    const out = d.suggest({ domains: DOMAINS, constraints: cons }, 50, o, createRng(2));
    for (const r of out) {
      expect(r.proportions[0]!).toBeGreaterThanOrEqual(0.3);
      expect(r.proportions[2]!).toBeGreaterThanOrEqual(0.2);
    }
    // Without bounds the same seed gives rows that break them: the bounds changed the design.
    const free = d.suggest({ domains: DOMAINS, constraints: resolveConstraints(DOMAINS) }, 50, o, createRng(2));
    expect(free.some((r) => r.proportions[0]! < 0.3)).toBe(true);
    // A natural prior that caps books at 15 × 0.001 = 0.015 cannot meet a 0.1 minimum.
    const prior = Float64Array.from([0.6, 0.3, 0.099, 0.001]);
    const minBooks = resolveConstraints(DOMAINS, { minShare: { books: 0.1 } });
    expect(() =>
      d.suggest({ domains: DOMAINS, prior, constraints: minBooks }, 3, o, createRng(0)),
    ).toThrowErrorMatchingInlineSnapshot(
      `[InputError: caps: books: expected a maximum share (0.01500) at least the minimum share, got a minimum of 0.1000]`,
    );
  });

  it("bayesopt proposes near the known minimum of its runs' law, with a prediction per row", () => {
    const b = suggesters.bayesopt!;
    const input = { domains: DOMAINS, constraints: resolveConstraints(DOMAINS), ...runsSoFar() };
    const out = b.suggest(input, 2, b.parseOptions(cases.bayesopt!.options), createRng(0));
    for (const r of out) {
      expect(Number.isFinite(r.predicted)).toBe(true);
      expect(r.predictedSd! >= 0).toBe(true);
    }
    const best = out[0]!.proportions;
    expect(Math.abs(best[0]! - 0.4) + Math.abs(best[1]! - 0.3)).toBeLessThan(0.35);
  });
});
