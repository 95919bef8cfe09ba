// The proxy trainer on the embedded corpus (wasm backend): it learns, losses differ by domain,
// the same seed gives identical losses, and no tensor leaks across steps or runs.
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { loadTf } from "../../src/proxy/backend.js";
import { trainProxy, learningRate } from "../../src/proxy/train.js";
import { PRESETS, parameterCount } from "../../src/proxy/model.js";
import { loadBlas } from "../../src/proxy/blas.js";

const TRAIN = join(ROOT, "datasets", "corpus", "train");
const HELD = join(ROOT, "datasets", "corpus", "heldout");
const DOMAINS = ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"];
const uniform = Object.fromEntries(DOMAINS.map((d) => [d, 1 / DOMAINS.length]));

describe("proxy trainer", () => {
  it("a tiny proxy learns, per-domain losses differ, same seed → same losses and weights, no tensor leak", async () => {
    const { tf, backend } = await loadTf("wasm", () => {});
    const cacheDir = join(tmp(), "cache");
    const weights: { name: string; values: Float32Array }[][] = [];
    const onWeights = (w: { name: string; values: Float32Array }[]) => void weights.push(w);
    const opts = {
      tf, backend, config: { ...PRESETS.tiny!, seqLen: 32 }, train: TRAIN, heldout: HELD, proportions: uniform,
      steps: 40, batchSize: 8, seed: 3, evalWindows: 8, open: { cacheDir }, onWeights,
    };
    const before = tf.memory().numTensors;
    const a = await trainProxy(opts);
    const after = tf.memory().numTensors;
    expect(after).toBe(before);
    const values = Object.values(a.lossPerDomain);
    // Uniform over 256 bytes is ln 256 = 5.545 nats; 40 small steps get well below it.
    expect(Math.max(...values)).toBeLessThan(4.2);
    expect(Math.max(...values) - Math.min(...values)).toBeGreaterThan(0.1);
    expect(a.bitsPerBytePerDomain.code).toBeCloseTo(a.lossPerDomain.code! / Math.LN2, 12);
    const b = await trainProxy(opts);
    expect(b.lossPerDomain).toEqual(a.lossPerDomain);
    // The trained weights themselves, bit for bit (equal losses could hide different weights).
    expect(weights).toHaveLength(2);
    expect(weights[1]!.map((w) => w.name)).toEqual(weights[0]!.map((w) => w.name));
    weights[0]!.forEach((w, i) =>
      expect(Buffer.from(weights[1]![i]!.values.buffer).equals(Buffer.from(w.values.buffer)), w.name).toBe(true),
    );
    expect(tf.memory().numTensors).toBe(before);
    const c = await trainProxy({ ...opts, seed: 4, evalEvery: 20 });
    expect(c.lossPerDomain).not.toEqual(a.lossPerDomain);
    // Another seed: other initial weights and batches, so other trained weights in every variable.
    expect(weights).toHaveLength(3);
    weights[0]!.forEach((w, i) =>
      expect(Buffer.from(weights[2]![i]!.values.buffer).equals(Buffer.from(w.values.buffer)), w.name).toBe(false),
    );
    // Intermediate evaluation every 20 steps: one point at step 20, every domain, not the final values.
    expect(c.evalCurve.map((e) => e.step)).toEqual([20]);
    expect(Object.keys(c.evalCurve[0]!.lossPerDomain).sort()).toEqual([...DOMAINS].sort());
    expect(Object.values(c.evalCurve[0]!.lossPerDomain).every((v) => Number.isFinite(v) && v < 5.6)).toBe(true);
    expect(c.evalCurve[0]!.lossPerDomain).not.toEqual(c.lossPerDomain);
  }, 120_000);

  it("schedules and sizes", () => {
    expect(learningRate(0, 100, 1e-3, 10, "cosine")).toBeCloseTo(1e-4, 12);
    expect(learningRate(9, 100, 1e-3, 10, "cosine")).toBeCloseTo(1e-3, 12);
    expect(learningRate(100, 100, 1e-3, 10, "cosine")).toBeCloseTo(1e-4, 12);
    expect(learningRate(55, 100, 1e-3, 10, "linear")).toBeCloseTo(5.5e-4, 12);
    // Reference proxy of the issue: vocab 256, d 128, 2 layers, 4 heads, sequence 128 ≈ 0.45M parameters.
    expect(parameterCount(PRESETS.ref!)) .toBeGreaterThan(0.4e6);
    expect(parameterCount(PRESETS.ref!)).toBeLessThan(0.5e6);
  });
});

describe("ensemble", () => {
  it(
    "K proxies trained together equal each trained alone (same seeds → same losses within float tolerance)",
    async () => {
      const { trainEnsemble } = await import("../../src/proxy/train.js");
      const { tf, backend } = await loadTf("wasm", () => {});
      const cacheDir = join(tmp(), "cache");
      const base = {
        tf, backend, config: { ...PRESETS.tiny!, seqLen: 32 }, train: TRAIN, heldout: HELD,
        steps: 12, batchSize: 4, evalWindows: 6, open: { cacheDir },
      };
      const members = [
        { proportions: uniform, seed: 1 },
        { proportions: { code: 0.7, speeches: 0.3 }, seed: 2 },
        { proportions: { math: 1 }, seed: 3 },
      ];
      const before = tf.memory().numTensors;
      const together = await trainEnsemble({ ...base, members });
      expect(tf.memory().numTensors).toBe(before);
      for (let k = 0; k < members.length; k++) {
        const alone = await trainProxy({ ...base, proportions: members[k]!.proportions, seed: members[k]!.seed });
        for (const d of DOMAINS) expect(together[k]!.lossPerDomain[d]!).toBeCloseTo(alone.lossPerDomain[d]!, 4);
      }
      // Different mixtures give different losses.
      expect(together[1]!.lossPerDomain.code).not.toBeCloseTo(together[2]!.lossPerDomain.code!, 3);
    },
    180_000,
  );
});

describe("data-parallel threads", () => {
  it(
    "two threads equal one (float rounding), are deterministic, leak nothing, and bad counts are refused",
    async () => {
      const { trainEnsemble } = await import("../../src/proxy/train.js");
      const { tf, backend } = await loadTf("wasm", () => {});
      const base = {
        tf, backend, config: { ...PRESETS.tiny!, seqLen: 32 }, train: TRAIN, heldout: HELD,
        steps: 8, batchSize: 6, evalWindows: 4, open: { cacheDir: join(tmp(), "cache") },
      };
      const members = [
        { proportions: uniform, seed: 11 },
        { proportions: { code: 0.6, math: 0.4 }, seed: 12 },
      ];
      const before = tf.memory().numTensors;
      const one = await trainEnsemble({ ...base, members });
      const two = await trainEnsemble({ ...base, members, threads: 2 });
      const again = await trainEnsemble({ ...base, members, threads: 3 });
      const againToo = await trainEnsemble({ ...base, members, threads: 3 });
      expect(tf.memory().numTensors).toBe(before);
      for (let k = 0; k < members.length; k++) {
        for (const d of DOMAINS) {
          expect(two[k]!.lossPerDomain[d]!).toBeCloseTo(one[k]!.lossPerDomain[d]!, 4);
          expect(again[k]!.lossPerDomain[d]!).toBeCloseTo(one[k]!.lossPerDomain[d]!, 4);
        }
        expect(againToo[k]!.lossPerDomain).toEqual(again[k]!.lossPerDomain);
        expect(two[k]!.tokens).toBe(one[k]!.tokens);
      }
      await expect(trainEnsemble({ ...base, members, threads: 7 })).rejects.toThrow(
        /threads: expected at most the batch size \(6\) threads, got 7/,
      );
      await expect(trainEnsemble({ ...base, members, threads: 2, kernels: "tf" })).rejects.toThrow(
        /threads: data-parallel threads need the fused CPU kernels/,
      );
      await expect(trainEnsemble({ ...base, members, threads: 0 })).rejects.toThrow(
        /threads: expected a whole number ≥ 1, got 0/,
      );
    },
    120_000,
  );

  it("a gradient worker that has exited fails the request instead of leaving the step waiting", async () => {
    const { createGradientPool } = await import("../../src/proxy/parallel.js");
    const pool = await createGradientPool(1, "wasm", { ...PRESETS.tiny!, seqLen: 8 }, [1]);
    await pool.close();
    const shard = {
      xs: new Int32Array(8),
      ys: new Int32Array(8),
      mask: new Float32Array(8),
      rows: 1,
      denom: Float32Array.from([1]),
    };
    await expect(pool.gradients([shard])).rejects.toThrow(/gradient worker 1 failed: exited with code/);
  }, 60_000);

  it.skipIf(!loadBlas().blas)("on the blas backend too (the workers load it themselves)", async () => {
    const { trainEnsemble } = await import("../../src/proxy/train.js");
    const { tf, backend } = await loadTf("blas", () => {});
    expect(backend).toBe("blas");
    const base = {
      tf, backend, config: { ...PRESETS.tiny!, seqLen: 32 }, train: TRAIN, heldout: HELD,
      steps: 6, batchSize: 4, evalWindows: 4, open: { cacheDir: join(tmp(), "cache") },
    };
    const members = [{ proportions: uniform, seed: 21 }];
    const [one] = await trainEnsemble({ ...base, members });
    const [two] = await trainEnsemble({ ...base, members, threads: 2 });
    for (const d of DOMAINS) expect(two!.lossPerDomain[d]!).toBeCloseTo(one!.lossPerDomain[d]!, 4);
    expect(two!.backend).toBe("blas");
    await loadTf("wasm", () => {});
  }, 120_000);
});
