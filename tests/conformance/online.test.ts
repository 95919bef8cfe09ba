// One suite over every registered online mixer (ALGORITHMS.md §0.3, §3): proportions on the
// simplex at every step, same seed and events → identical trajectory, other seed → different
// where the method is random, state saved at any point and restored (also through JSON) →
// identical continuation, bad events and options rejected with pinned messages, and in a
// simulated environment (tests/mixers/online-env.ts) each method moves the mixture the way its
// paper says. A registered mixer without a case here fails the suite.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { onlineMixers, createOnlineMixer } from "../../mixers/online.js";
import { mergeDomainStats } from "../../mixers/common/domain-stats.js";
import { InputError } from "../../src/errors.js";
import type { MixerEvent, OnlineMixer } from "../../mixers/types.js";
import type { DoReMiMixer } from "../../mixers/doremi/index.js";
import { Env, drive, replay, trajectory, type EnvSpec, type DriveOptions } from "../mixers/online-env.js";

const DOMAINS = ["web", "code", "math"];

/** Three domains: web keeps a high loss (floor 3), code learns fast, math has a low floor. */
const ENV: EnvSpec = {
  domains: DOMAINS,
  floor: [3.0, 1.0, 0.5],
  amp: [1.0, 2.0, 2.0],
  transfer: [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ],
  tau: 40,
  reference: [2.0, 0.9, 0.6],
  batch: 64,
};

/** A skills graph, row = trained domain: training on web helps every domain. */
const GRAPH = [
  [1, 0.5, 0.5],
  [0, 1, 0],
  [0, 0, 1],
];

interface Case {
  /** Options for the generic checks (small schedules so every mechanism runs). */
  readonly options: Record<string, unknown>;
  readonly steps: number;
  /** Whether another seed must change the trajectory under `options`. */
  readonly random: boolean;
  /** `options` with one option changed (a state saved under `options` must be refused). */
  readonly otherOptions: Record<string, unknown>;
  /** Options to refuse, with the exact message. */
  readonly badOptions: readonly [Record<string, unknown>, string][];
  /** A valid next event for the mixer at a step ≥ `from` (for the rejection checks). */
  readonly validEvent: (m: OnlineMixer, from: number) => MixerEvent;
  /** How the simulated model trains on the mixer's output (default: proportions()). */
  readonly effective?: DriveOptions["effective"];
  /** The paper's direction in a simulated environment, with its tolerance. */
  readonly direction: () => void;
}

/** A valid train event for the domains the mixer's current proportions feed. */
const trainEvent = (m: OnlineMixer, step: number): MixerEvent => {
  const full: Record<string, Record<string, number>> = {
    loss: { web: 3, code: 2, math: 1 },
    tokens: { web: 100, code: 100, math: 100 },
    reference: { web: 2, code: 2, math: 1 },
    excess: { web: 1, code: 0, math: 0 },
  };
  const p = m.proportions();
  const pick = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).filter(([d]) => p[d]! > 0));
  return {
    kind: "train",
    step,
    loss: pick(full.loss!),
    tokens: pick(full.tokens!),
    reference: pick(full.reference!),
    excess: pick(full.excess!),
  };
};

const cases: Record<string, Case> = {
  odm: {
    options: { warmupSteps: 5, pull: "arm" },
    otherOptions: { warmupSteps: 5, pull: "arm", beta: 0.5 },
    steps: 80,
    random: true,
    badOptions: [
      [{ beta: 1 }, "options of odm: beta: expected a number < 1, got 1"],
      [
        { varient: "exp3" },
        'options of odm: options: expected one of "variant", "pull", "beta", "totalSteps", "warmupSteps", ' +
          '"initial", "rewardScale", "rewardClip", "minShare", "maxShare", got "varient"',
      ],
      [{ variant: "exp4" }, 'options of odm: variant: expected one of "smoothed-mean", "exp3", "mixed", got "exp4"'],
      [{ initial: { web: 0.5, code: 0.5 } }, "options of odm: initial.math: expected a finite number > 0, got nothing"],
    ],
    validEvent: trainEvent,
    direction: () => {
      // ODM's reward is the training loss, so the domain whose loss stays high (web, floor 3)
      // gains share and the easy one (math, floor 0.5) loses it; with the paper's importance
      // weighting ("arm") the policy ends ordered by loss, web ≥ 0.36 against 1/3.
      for (const pull of ["arm", "batch"] as const) {
        const m = createOnlineMixer("odm", { domains: DOMAINS, seed: 3, options: { pull, warmupSteps: 10 } });
        drive(m, new Env(ENV), { steps: 400 });
        const p = m.summary();
        expect(p.web!).toBeGreaterThan(p.code!);
        expect(p.code!).toBeGreaterThan(p.math!);
        if (pull === "arm") expect(p.web!).toBeGreaterThan(0.36);
      }
    },
  },
  doremi: {
    options: {},
    otherOptions: { eta: 0.5 },
    steps: 60,
    random: false,
    badOptions: [
      [{ eta: 0 }, "options of doremi: eta: expected a number > 0, got 0"],
      [{ clip: "tokens" }, 'options of doremi: clip: expected one of "token", "domain", got "tokens"'],
      [
        { sampling: { web: 0.5, code: 0.5, math: 0 } },
        "options of doremi: sampling.math: expected a finite number > 0, got 0",
      ],
      [{ smoothing: 2 }, "options of doremi: smoothing: expected a number ≤ 1, got 2"],
    ],
    validEvent: trainEvent,
    // The proxy samples uniformly and weights each domain's loss by α/s: it learns as if trained on α.
    effective: (m) => (m as DoReMiMixer).weights(),
    direction: () => {
      // Excess loss ℓ − ℓ_ref stays ≥ 1 on web (floor 3, reference 2) however much it trains,
      // while code (floor 1, ref 0.9) and math (floor 0.5, ref 0.6) can be trained to ≈ 0
      // excess. Group DRO minimises the worst excess: the weights go to the domain with the
      // largest excess until the others' excess comes down to web's, so the final excesses
      // end within 0.1 of each other (uniform training leaves them ≈ 1 apart) and the average
      // weights favour web (ᾱ_web ≥ 0.75; measured 0.846).
      const excess = (env: Env) => DOMAINS.map((d, i) => env.evalLosses()[d]! - ENV.reference![i]!);
      const m = createOnlineMixer("doremi", { domains: DOMAINS, seed: 1, options: {} }) as DoReMiMixer;
      const env = new Env(ENV);
      drive(m, env, { steps: 400, effective: (x) => (x as DoReMiMixer).weights() });
      const avg = m.summary();
      expect(avg.web!).toBeGreaterThan(0.75);
      expect(avg.code!).toBeGreaterThan(avg.math!);
      const e = excess(env);
      expect(Math.max(...e) - Math.min(...e)).toBeLessThan(0.1);
      const uniformEnv = new Env(ENV);
      for (let s = 0; s < 400; s++) uniformEnv.train({ web: 1 / 3, code: 1 / 3, math: 1 / 3 });
      const u = excess(uniformEnv);
      expect(Math.max(...u) - Math.min(...u)).toBeGreaterThan(0.9);
    },
  },
  skillit: {
    options: { graph: GRAPH, roundSteps: 7 },
    otherOptions: { graph: GRAPH, roundSteps: 7, eta: 0.5 },
    steps: 60,
    random: false,
    badOptions: [
      [{ roundSteps: 7 }, "options of skillit: graph: expected an array, got nothing"],
      [
        {
          graph: [
            [1, 0],
            [0, 1],
          ],
        },
        "options of skillit: 3 problems:\n  graph: expected 3 rows (one per domain), got 2",
      ],
      [{ graph: GRAPH, window: 0 }, "options of skillit: window: expected a number ≥ 1, got 0"],
      [{ graph: GRAPH, eta: -1 }, "options of skillit: eta: expected a number > 0, got -1"],
    ],
    validEvent: (m) => {
      const step = m.diagnostics().nextEvalStep as number;
      return { kind: "eval", step, loss: { web: 3, code: 2, math: 1 } };
    },
    direction: () => {
      // Skill-It moves toward the domains whose graph row (what training on them does for
      // every evaluated domain) times the recent losses is large: training on web helps all
      // three here, so web leads, and the mixture is exactly b ⊙ exp(η Σ_i G_ji Σ_τ L_i^τ)
      // over the last three evaluations (tolerance 1e-12).
      const options = { graph: GRAPH, roundSteps: 20, eta: 0.2 };
      const m = createOnlineMixer("skillit", { domains: DOMAINS, seed: 1, options });
      const tape = drive(m, new Env({ ...ENV, transfer: [[1, 0, 0], [0.5, 1, 0], [0.5, 0, 1]] }), { steps: 200 });
      const evals = tape.flatMap((e) => (e.op === "observe" ? [e.event.loss] : []));
      expect(evals.length).toBe(10);
      const window = evals.slice(-3);
      const summed = DOMAINS.map((d) => window.reduce((x, l) => x + l[d]!, 0));
      const score = DOMAINS.map((_, j) => summed.reduce((acc, l, i) => acc + GRAPH[j]![i]! * l, 0));
      const w = score.map((g) => Math.exp(0.2 * g));
      const p = m.proportions();
      DOMAINS.forEach((d, j) => expect(p[d]).toBeCloseTo(w[j]! / (w[0]! + w[1]! + w[2]!), 12));
      expect(p.web!).toBeGreaterThan(Math.max(p.code!, p.math!) + 0.1);
    },
  },
  aioli: {
    options: { batchSize: 64, roundSteps: 30, lpRounds: 2, lpSteps: 2 },
    otherOptions: { batchSize: 64, roundSteps: 30, lpRounds: 2, lpSteps: 2, eta: 0.5 },
    steps: 100,
    random: true,
    badOptions: [
      [{}, "options of aioli: batchSize: expected a number, got nothing"],
      [{ batchSize: 2 }, "options of aioli: batchSize: expected an integer ≥ 3 (the number of domains), got 2"],
      [
        { batchSize: 64, oneHotFactor: 1 / 3 },
        "options of aioli: oneHotFactor: expected a number in (1/3, 1] " +
          "(h = 1/k makes every probe stratified and W singular), got 0.3333333333333333",
      ],
      [
        { batchSize: 64, roundSteps: 12, lpRounds: 2, lpSteps: 2 },
        "options of aioli: roundSteps: expected rounds longer than their 12 probe steps " +
          "(k·lpRounds·lpSteps = 3·2·2), got rounds of 12 steps",
      ],
      [{ batchSize: 64, ema: 1 }, "options of aioli: ema: expected a number < 1, got 1"],
      [
        { batchSize: 64, egBase: "flat" },
        'options of aioli: egBase: expected one of "prior", "uniform", got "flat"',
      ],
    ],
    validEvent: (m) => {
      const step = m.diagnostics().nextEvalStep as number;
      return { kind: "eval", step, loss: { web: 3, code: 2, math: 1 } };
    },
    direction: () => {
      // Training on web lowers every domain's loss (column web of the true A is large), training
      // on code or math only their own: Aioli's estimated A has the largest column sum on web
      // and the mixture moves toward it (p_web ≥ 0.45 after 15 rounds at η = 0.2, from 1/3).
      const options = { batchSize: 64, totalSteps: 600, roundSteps: 40, lpRounds: 2, lpSteps: 3 };
      const m = createOnlineMixer("aioli", { domains: DOMAINS, seed: 4, options });
      drive(m, new Env({ ...ENV, transfer: [[1, 0, 0], [0.6, 1, 0], [0.6, 0, 1]], tau: 200 }), { steps: 600 });
      const p = m.proportions();
      const a = m.diagnostics().A as number[][];
      const colSums = DOMAINS.map((_, j) => a.reduce((x, row) => x + row[j]!, 0));
      expect(colSums[0]!).toBeGreaterThan(Math.max(colSums[1]!, colSums[2]!));
      expect(p.web!).toBeGreaterThan(0.45);
      expect(p.web!).toBeGreaterThan(Math.max(p.code!, p.math!) + 0.15);
      // The estimate is close to the true A normalised to sum 1 (the environment's law is not
      // linear in the steps, so within 0.05 per entry rather than exactly).
      const truth = [[1, 0, 0], [0.6, 1, 0], [0.6, 0, 1]].map((row) => row.map((v) => v / 4.2));
      a.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - truth[i]![j]!)).toBeLessThan(0.05)));
    },
  },
};

describe("online mixer conformance", () => {
  it("every registered online mixer has a conformance case", () => {
    expect(Object.keys(cases).sort()).toEqual(Object.keys(onlineMixers).sort());
  });

  for (const [name, c] of Object.entries(cases)) {
    describe(name, () => {
      const make = (seed = 7, state?: ReturnType<OnlineMixer["state"]>) =>
        createOnlineMixer(name, { domains: DOMAINS, seed, options: c.options, ...(state ? { state } : {}) });
      const effective = c.effective ? { effective: c.effective } : {};
      const run = (seed = 7) => drive(make(seed), new Env(ENV), { steps: c.steps, ...effective });

      it("gives proportions on the simplex naming every domain at every step", () => {
        const m = make();
        const check = (p: Record<string, number>) => {
          expect(Object.keys(p).sort()).toEqual([...DOMAINS].sort());
          let s = 0;
          for (const d of DOMAINS) {
            expect(p[d]!).toBeGreaterThanOrEqual(0);
            s += p[d]!;
          }
          expect(Math.abs(s - 1)).toBeLessThanOrEqual(1e-12);
        };
        check(m.proportions());
        drive(m, new Env(ENV), { steps: c.steps, onStep: (_s, p) => check(p), ...effective });
        check(m.summary());
      });

      it("is reproducible: same seed and events → identical trajectory", () => {
        expect(trajectory(run(7))).toEqual(trajectory(run(7)));
        if (c.random) expect(trajectory(run(8))).not.toEqual(trajectory(run(7)));
      });

      it("continues identically from a state saved at any point (also through JSON)", () => {
        const tape = run(11);
        fc.assert(
          fc.property(fc.integer({ min: 0, max: tape.length }), fc.boolean(), (cut, viaJson) => {
            const a = make(11);
            expect(replay(a, tape, 0, cut)).toBeNull();
            const saved = a.state();
            const state = viaJson ? JSON.parse(JSON.stringify(saved)) : saved;
            expect(JSON.parse(JSON.stringify(saved))).toEqual(saved);
            const b = make(11, state);
            expect(replay(b, tape, cut)).toBeNull();
          }),
          { numRuns: 25, seed: 42 },
        );
      });

      it("rejects a state of another method, other domains or damaged data", () => {
        const st = make().state();
        const withState = (domains: string[], options: Record<string, unknown>, seed = 7) => () =>
          createOnlineMixer(name, { domains, seed, options, state: st });
        const at = `${name} state:`;
        expect(withState(["web", "code", "maths"], c.options)).toThrow(
          `${at} domains: expected ["web","code","maths"] (the mixer's domains, in order), got ["web","code","math"]`,
        );
        expect(() => make(7, { ...st, method: "other" })).toThrow(`${at} method: expected "${name}", got "other"`);
        expect(() => make(7, { ...st, data: { ...st.data, bogus: 1 } })).toThrow(
          `${at} data: expected no field "bogus" (not part of the format), got one`,
        );
        expect(withState(DOMAINS, c.options, 8)).toThrow(`${at} data.seed: expected the mixer's seed 8, got 7`);
        const changed = Object.keys(c.otherOptions).find((key) => c.otherOptions[key] !== c.options[key])!;
        const why = "a state continues only under the options it was saved with";
        const saved = JSON.stringify((st.data.options as Record<string, unknown>)[changed]);
        const wanted = JSON.stringify(c.otherOptions[changed]);
        expect(withState(DOMAINS, c.otherOptions)).toThrow(
          `${at} data.options.${changed}: expected the mixer's ${wanted} (${why}), got ${saved}`,
        );
      });

      it("rejects bad events with pinned messages", () => {
        const m = make();
        const family = onlineMixers[name]!;
        let last = -1;
        for (let i = 0; i < 3; i++) {
          const e = c.validEvent(m, last + 1);
          m.observe(e);
          last = e.step;
        }
        const before = m.state();
        const other = family.accepts.includes("train") ? "eval" : "train";
        const ok = c.validEvent(m, last + 1);
        const rejects = (event: MixerEvent, message: string) =>
          expect(() => m.observe(event)).toThrow(`${name} event: ${message}`);
        const d = Object.keys(ok.loss)[0]!;
        const loss = (v: number) => ({ ...ok, loss: { ...ok.loss, [d]: v } });
        const tokens = (v: number) => ({ ...ok, tokens: { ...ok.tokens, [d]: v } });
        if (!family.accepts.includes(other)) {
          const kinds = family.accepts.map((k) => JSON.stringify(k)).join(" or ");
          rejects({ ...ok, kind: other }, `kind: expected ${kinds} (what ${name} observes), got "${other}"`);
        }
        rejects(
          { ...ok, loss: { ...ok.loss, wiki: 1 } },
          "loss.wiki: expected one of the mixer's domains (web, code, math), got an unknown domain",
        );
        rejects(loss(Number.NaN), `loss.${d}: expected a finite number ≥ 0, got NaN`);
        rejects(loss(-1), `loss.${d}: expected a finite number ≥ 0, got -1`);
        rejects(loss(2e6), `loss.${d}: expected at most 1000000 nats per token, got 2000000`);
        rejects({ ...ok, step: 1.5 }, "step: expected an integer ≥ 0, got 1.5");
        rejects({ ...ok, step: last - 1 },
          `step: expected a step ≥ ${last} (the last one observed), got ${last - 1}`,
        );
        if (ok.kind === "train") {
          rejects(tokens(-3), `tokens.${d}: expected a finite number > 0, got -3`);
          rejects(tokens(Infinity), `tokens.${d}: expected a finite number > 0, got Infinity`);
          rejects(tokens(1e300), `tokens.${d}: expected at most 2^53 tokens, got 1e+300`);
        }
        // A rejected event changes nothing; the valid one is then accepted.
        expect(m.state()).toEqual(before);
        m.observe(ok);
      });

      it("throws only InputErrors and stays on the simplex whatever the events (fuzzed)", () => {
        const value = fc.oneof(
          fc.double({ min: 0, max: 20, noNaN: true }),
          fc.constantFrom(Number.NaN, -1, Infinity, 0, 1e308),
        );
        const event = fc.record({
          kind: fc.constantFrom("train", "eval"),
          stepShift: fc.integer({ min: -2, max: 3 }),
          due: fc.boolean(),
          domains: fc.subarray([...DOMAINS, "wiki"]),
          loss: fc.array(value, { minLength: 4, maxLength: 4 }),
          tokens: fc.array(value, { minLength: 4, maxLength: 4 }),
          extra: fc.array(value, { minLength: 4, maxLength: 4 }),
        });
        fc.assert(
          fc.property(fc.array(event, { maxLength: 40 }), (events) => {
            const m = make(3);
            let last = 0;
            for (const e of events) {
              const pick = (v: number[]) => Object.fromEntries(e.domains.map((d, i) => [d, v[i]!]));
              const next = m.diagnostics().nextEvalStep;
              const step = e.due && typeof next === "number" && next >= 0 ? next : Math.max(0, last + e.stepShift);
              const extra = pick(e.extra);
              const ev: MixerEvent = {
                kind: e.kind,
                step,
                loss: pick(e.loss),
                tokens: pick(e.tokens),
                reference: extra,
                excess: extra,
              };
              const before = JSON.stringify(m.state());
              try {
                m.observe(ev);
                last = step;
              } catch (err) {
                expect(err).toBeInstanceOf(InputError);
                expect(JSON.stringify(m.state())).toBe(before);
              }
              const p = m.proportions();
              const v = DOMAINS.map((d) => p[d]!);
              expect(v.every((x) => x >= 0 && Number.isFinite(x))).toBe(true);
              expect(Math.abs(v.reduce((x, y) => x + y, 0) - 1)).toBeLessThanOrEqual(1e-12);
              const st = m.state();
              expect(JSON.parse(JSON.stringify(st))).toEqual(st); // every number finite
            }
          }),
          { numRuns: 40, seed: 5 },
        );
      });

      it("refuses unknown and out-of-range options", () => {
        for (const [raw, message] of c.badOptions) {
          expect(() => createOnlineMixer(name, { domains: DOMAINS, seed: 1, options: raw })).toThrow(message);
        }
        const create = (domains: string[], seed: number) => () =>
          createOnlineMixer(name, { domains, seed, options: c.options });
        expect(create(["web"], 1)).toThrow(`${name}: domains: expected at least 2 domain names, got ["web"]`);
        expect(create(["web", "web"], 1)).toThrow(`${name}: domains: expected distinct names, got "web" twice`);
        expect(create(["web", "__proto__"], 1)).toThrow(
          `${name}: domains: expected names other than "__proto__", got "__proto__"`,
        );
        expect(create(DOMAINS, -1)).toThrow("seed: expected an integer in [0, 4294967295], got -1");
      });

      it("makes the same update on two ranks that feed the merged statistics (mergeDomainStats)", () => {
        // Each rank sees part of every batch (rank 0 ⌈n/2⌉ sequences of a domain, rank 1 the rest)
        // with per-sequence losses that differ between ranks; both merge the two ranks' sums
        // and observe the merged event. Both must match a single process fed the global means.
        const ranks = [make(5), make(5)];
        const single = make(5);
        const env = new Env(ENV);
        for (let s = 0; s < c.steps; s++) {
          const due = single.evalDue(s);
          for (const r of ranks) expect(r.evalDue(s)).toBe(due);
          if (due) {
            const ev = { kind: "eval" as const, step: s, loss: env.evalLosses() };
            for (const m of [single, ...ranks]) m.observe(ev);
          }
          const p = single.proportions();
          for (const r of ranks) expect(r.proportions()).toEqual(p);
          const counts = env.counts(p);
          if (single.accepts.includes("train")) {
            const global = env.trainEvent(s, counts);
            const perRank = [0, 1].map((rank) => {
              const lossSum: Record<string, number> = {};
              const referenceSum: Record<string, number> = {};
              const excessSum: Record<string, number> = {};
              const tokens: Record<string, number> = {};
              for (const d in global.loss) {
                // Rank 0 gets ⌈n/2⌉ sequences with loss ℓ + 0.1, rank 1 the rest with ℓ − δ so
                // the token-weighted mean is ℓ.
                const n = global.tokens![d]! / 128;
                const mine = rank === 0 ? Math.ceil(n / 2) : Math.floor(n / 2);
                if (mine === 0) continue;
                const other = n - mine;
                const shift = rank === 0 ? 0.1 : other > 0 ? (-0.1 * (n - mine)) / mine : 0;
                tokens[d] = mine * 128;
                lossSum[d] = (global.loss[d]! + (rank === 0 && other === 0 ? 0 : shift)) * mine * 128;
                referenceSum[d] = global.reference![d]! * mine * 128;
                excessSum[d] = global.excess![d]! * mine * 128;
              }
              return { lossSum, referenceSum, excessSum, tokens };
            });
            const merged = mergeDomainStats(perRank);
            for (const r of ranks) r.observe({ kind: "train", step: s, ...merged });
            single.observe(global);
          }
          env.train(c.effective ? c.effective(single, p) : p);
        }
        expect(ranks[0]!.state()).toEqual(ranks[1]!.state());
        for (const d of DOMAINS) expect(ranks[0]!.summary()[d]).toBeCloseTo(single.summary()[d]!, 9);
      });

      it("moves the mixture the way its paper says in a simulated environment", () => {
        c.direction();
      });
    });
  }

  it("is the registry the public entry exports", async () => {
    const api = await import("../../src/index.js");
    expect(api.createOnlineMixer).toBe(createOnlineMixer);
    expect(api.onlineMixers).toBe(onlineMixers);
    expect(api.mergeDomainStats).toBe(mergeDomainStats);
    expect(Object.keys(api.onlineMixers).sort()).toEqual(["aioli", "doremi", "odm", "skillit"]);
  });

  it("refuses an unknown method name", () => {
    expect(() => createOnlineMixer("bandit", { domains: DOMAINS, seed: 1 })).toThrow(
      'online mixer: expected one of "odm", "doremi", "skillit", "aioli", got "bandit"',
    );
  });
});

describe("mergeDomainStats", () => {
  it("merges sums and means into token-weighted means in rank order", () => {
    const two = mergeDomainStats([
      { lossSum: { web: 30 }, tokens: { web: 10 } },
      { loss: { web: 2 }, tokens: { web: 30 } },
    ]);
    expect(two).toEqual({ loss: { web: 2.25 }, tokens: { web: 40 } });
    const merged = mergeDomainStats([
      { loss: { b: 1, a: 2 }, reference: { b: 0.5, a: 1 }, tokens: { b: 10, a: 10 } },
      { loss: { a: 4, c: 3 }, reference: { a: 3, c: 3 }, tokens: { a: 30, c: 5, d: 0 } },
    ]);
    expect(merged).toEqual({
      loss: { b: 1, a: 3.5, c: 3 },
      reference: { b: 0.5, a: 2.5, c: 3 },
      tokens: { b: 10, a: 40, c: 5 },
    });
    expect(Object.keys(merged.loss)).toEqual(["b", "a", "c"]);
  });

  it("names the rank and field of bad statistics", () => {
    const merge = (perRank: Parameters<typeof mergeDomainStats>[0]) => () => mergeDomainStats(perRank);
    expect(merge([])).toThrow("mergeDomainStats: expected a non-empty array of per-rank statistics, got []");
    const bad = merge([
      { loss: { a: 1 }, tokens: { a: 1 } },
      { loss: { a: Number.NaN }, tokens: { a: -1 } },
    ]);
    expect(bad).toThrowErrorMatchingInlineSnapshot(`
      [InputError: mergeDomainStats: 2 problems:
        rank 1, tokens.a: expected a finite number ≥ 0, got -1
        rank 1, loss.a: expected a finite number ≥ 0, got NaN]
    `);
    expect(merge([{ loss: { a: 1 }, lossSum: { a: 1 }, tokens: { a: 1 } }])).toThrow(
      "mergeDomainStats: rank 0, loss: expected either loss or lossSum, got both",
    );
    expect(merge([{ loss: { a: 1 }, tokens: {} }])).toThrow(
      "mergeDomainStats: rank 0, tokens.a: expected a token count for every domain in loss, got nothing",
    );
    expect(merge([{ loss: { a: 1 }, tokens: { a: 1, b: 2 } }])).toThrow(
      "mergeDomainStats: rank 0, loss.b: expected a value for every domain with tokens, got nothing",
    );
    const partial = merge([
      { loss: { a: 1 }, excess: { a: 0 }, tokens: { a: 1 } },
      { loss: { a: 1 }, tokens: { a: 1 } },
    ]);
    expect(partial).toThrow(
      "mergeDomainStats: excess: expected excess (or excessSum) from every rank or none, got it from 1 of 2",
    );
  });

});
