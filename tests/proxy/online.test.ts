// The online proxy trainer with a small deterministic mixer (tests/sampler/mixer-fixture.ts):
// per-domain statistics reach the mixer after every step, the mixer steers the sampler, the
// trajectory and stages account for every token, a run stopped and resumed from its checkpoint
// ends identical to an uninterrupted one, and DoReMi's reweight mode uses α/s and the reference.
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { loadTf } from "../../src/proxy/backend.js";
import { domainStats, trainOnline, type OnlineTrainOptions } from "../../src/proxy/online.js";
import { PRESETS } from "../../src/proxy/model.js";
import { createChaser } from "../sampler/mixer-fixture.js";
import type { MixerEvent, OnlineMixer, OnlineMixerState } from "../../mixers/types.js";

const TRAIN = join(ROOT, "datasets", "corpus", "train");
const HELD = join(ROOT, "datasets", "corpus", "heldout");
const DOMAINS = ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"];

async function setup(dir: string): Promise<Omit<OnlineTrainOptions, "mixer">> {
  const { tf, backend } = await loadTf("wasm", () => {});
  return {
    tf, backend, config: { ...PRESETS.tiny!, seqLen: 32 }, train: TRAIN, heldout: HELD,
    steps: 12, batchSize: 8, seed: 7, evalWindows: 4, open: { cacheDir: join(dir, "cache") },
  };
}

describe("online proxy trainer", () => {
  it("domainStats groups row loss sums and tokens by domain", () => {
    const s = domainStats(
      ["a", "b", "c"],
      Int32Array.from([0, 2, 0]),
      Float64Array.from([10, 6, 2]),
      Float64Array.from([5, 3, 1]),
    );
    expect(s).toEqual({ loss: { a: 2, c: 2 }, tokens: { a: 6, c: 3 } });
  });

  it(
    "the mixer observes every step and steers the sampler; the trajectory and stages account for every token",
    async () => {
      const dir = tmp();
      try {
        const base = await setup(dir);
        const events: MixerEvent[] = [];
        const inner = createChaser(DOMAINS, { eta: 20, evalEvery: 5 });
        const mixer: OnlineMixer = {
          ...inner,
          method: "chaser",
          domains: DOMAINS,
          accepts: inner.accepts,
          observe: (e) => (events.push(e), inner.observe(e)),
          proportions: inner.proportions,
          evalDue: inner.evalDue,
          summary: inner.summary,
          diagnostics: inner.diagnostics,
          state: inner.state,
        };
        const r = await trainOnline({ ...base, mixer });
        expect(r.method).toBe("chaser");
        // One train event a step, in order, plus evaluations at steps 5 and 10 (before training them).
        expect(events.map((e) => `${e.kind}${e.step}`)).toEqual([
          ...Array.from({ length: 5 }, (_, i) => `train${i}`),
          "eval5",
          ...Array.from({ length: 5 }, (_, i) => `train${i + 5}`),
          "eval10",
          "train10",
          "train11",
        ]);
        const ev = events.find((e) => e.kind === "train")!;
        expect(Object.values(ev.tokens!).reduce((a, b) => a + b, 0)).toBe(8 * 32);
        expect(Object.values(ev.loss).every((v) => v > 3 && v < 6)).toBe(true);
        expect(r.trajectory.map((p) => p.step)).toEqual(Array.from({ length: 13 }, (_, i) => i));
        expect(r.trajectory[12]!.tokens).toBe(r.tokens);
        expect(r.trajectory[5]!.evalLoss).toBeDefined();
        expect(r.trajectory[12]!.evalLoss).toEqual(r.lossPerDomain);
        // Stages: consecutive, ending at the run's tokens, each a mixture.
        expect(r.stages[r.stages.length - 1]!.untilTokens).toBe(r.tokens);
        for (const st of r.stages) expect(Object.values(st.domains).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
        expect(r.stages.length).toBeGreaterThan(1);
        // Steered: the realised shares are not uniform and sum to 1.
        const shares = Object.values(r.realisedShare);
        expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        expect(Math.max(...shares) - Math.min(...shares)).toBeGreaterThan(0.05);
        expect(readdirSync(dir)).toEqual(["cache"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );

  it("shares below 1/batch are realised over batches (largest remainder with the remainder carried)", async () => {
    const dir = tmp();
    try {
      const base = await setup(dir);
      // code 0.05 of 8 rows is 0.4 a batch: without the carry it would never be drawn.
      const p = Object.fromEntries(DOMAINS.map((d) => [d, d === "code" ? 0.05 : 0.95 / 7]));
      const fixed = (): OnlineMixer => ({
        method: "fixed",
        domains: DOMAINS,
        accepts: ["train"],
        proportions: () => p,
        observe: () => {},
        evalDue: () => false,
        summary: () => p,
        diagnostics: () => ({}),
        state: () => ({ format: "mixlab.online-mixer/v1", method: "fixed", domains: DOMAINS, data: {} }),
      });
      const r = await trainOnline({ ...base, steps: 10, mixer: fixed });
      const rows = Math.round((r.realisedShare.code! * r.tokens) / 32);
      expect(Math.abs(rows - 0.05 * 80)).toBeLessThanOrEqual(1);
      for (const d of DOMAINS.slice(1)) {
        expect(Math.abs((r.realisedShare[d]! * r.tokens) / 32 - (0.95 / 7) * 80)).toBeLessThanOrEqual(1.01);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("stopped after a checkpoint and resumed, the run ends with the same losses and trajectory", async () => {
    const dir = tmp();
    try {
      const base = await setup(dir);
      const factory = (s?: OnlineMixerState) => createChaser(DOMAINS, { eta: 3, evalEvery: 4 }, s);
      const whole = await trainOnline({ ...base, mixer: factory });
      const ck = join(dir, "run.ckpt");
      // A temporary file a killed writer left behind is removed; the first part stops at step 7 (checkpoint at 6).
      writeFileSync(join(dir, ".run.ckpt.999999.tmp"), "partial");
      const part = await trainOnline({ ...base, mixer: factory, checkpoint: ck, checkpointEvery: 3, stopAfter: 7 });
      expect(part.steps).toBe(7);
      expect(existsSync(join(dir, ".run.ckpt.999999.tmp"))).toBe(false);
      const rest = await trainOnline({ ...base, mixer: factory, checkpoint: ck, checkpointEvery: 3 });
      expect(rest.resumedFrom).toBe(6);
      expect(rest.stepsTrained).toBe(6);
      expect(rest.lossPerDomain).toEqual(whole.lossPerDomain);
      expect(rest.trajectory).toEqual(whole.trajectory);
      expect(rest.stages).toEqual(whole.stages);
      expect(rest.summary).toEqual(whole.summary);
      // A checkpoint of another run is refused before any training.
      await expect(
        trainOnline({ ...base, seed: 8, mixer: factory, checkpoint: ck, checkpointEvery: 3 }),
      ).rejects.toThrow(
        /run\.ckpt: expected a checkpoint of this run \(fingerprint [0-9a-f]{12}…\), got one of another run/,
      );
      await expect(
        trainOnline({ ...base, mixer: factory, checkpoint: join(dir, "no", "x.ckpt"), checkpointEvery: 3 }),
      ).rejects.toThrow("--checkpoint: expected a file in an existing folder");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it(
    "a mixer with lossWeights (DoReMi's form): factors of 1 train exactly like none; " +
      "the reference's per-token clipped excess reaches the mixer before the backward pass",
    async () => {
      const dir = tmp();
      try {
        const base = await setup(dir);
        const ref = await trainOnline({ ...base, steps: 6, keepModel: true });
        try {
          const events: MixerEvent[] = [];
          const order: string[] = [];
          // A constant mixer: uniform sampling, loss factors α/s = 1 on every row.
          const flat =
            (factors: (d: string) => number = () => 1) =>
            (): OnlineMixer & { lossWeights(): Record<string, number> } => ({
              method: "flat",
              domains: DOMAINS,
              accepts: ["train"],
              proportions: () => Object.fromEntries(DOMAINS.map((d) => [d, 1 / 8])),
              observe: (e) => void (events.push(e), order.push("observe")),
              lossWeights: () => (order.push("weights"), Object.fromEntries(DOMAINS.map((d) => [d, factors(d)]))),
              evalDue: () => false,
              summary: () => ({}),
              diagnostics: () => ({}),
              state: () => ({ format: "mixlab.online-mixer/v1", method: "flat", domains: DOMAINS, data: {} }),
            });
          const plain = await trainOnline({ ...base, steps: 4 });
          const weighted = await trainOnline({ ...base, steps: 4, mixer: flat(), reference: ref.model! });
          expect(weighted.lossPerDomain).toEqual(plain.lossPerDomain);
          expect(order.slice(0, 4)).toEqual(["observe", "weights", "observe", "weights"]);
          // Per-token clipping: the mean clipped excess is ≥ 0 and ≥ the clipped difference of the means (Jensen).
          expect(events).toHaveLength(4);
          for (const e of events) {
            const ex = (e as MixerEvent & { excess: Record<string, number> }).excess;
            expect(Object.keys(ex).sort()).toEqual(Object.keys(e.loss).sort());
            for (const d of Object.keys(e.loss)) {
              expect(ex[d]!).toBeGreaterThanOrEqual(Math.max(e.loss[d]! - e.reference![d]!, 0) - 1e-9);
            }
          }
          // Other factors change the update but not what is sampled.
          const skewed = await trainOnline({ ...base, steps: 4, mixer: flat((d) => (d === "code" ? 5.2 : 0.4)) });
          expect(skewed.lossPerDomain).not.toEqual(plain.lossPerDomain);
          expect(skewed.realisedShare).toEqual(plain.realisedShare);
        } finally {
          ref.model!.dispose();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
