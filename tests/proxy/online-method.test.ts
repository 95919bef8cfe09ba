// trainWithMethod's procedures around the steered run, with the test mixer standing in for the
// method: Skill-It's skills graph from single-domain runs, DoReMi's reference and iterated rounds,
// ODM's run length, and paths checked before anything trains.
import { describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { loadTf } from "../../src/proxy/backend.js";
import { naturalShares, trainWithMethod, type CreateMixer } from "../../src/proxy/online.js";
import { PRESETS } from "../../src/proxy/model.js";
import { createChaser } from "../sampler/mixer-fixture.js";

const TRAIN = join(ROOT, "datasets", "corpus", "train");
const HELD = join(ROOT, "datasets", "corpus", "heldout");

describe("online methods end to end (test mixer)", () => {
  it("skills graph, DoReMi rounds, ODM's run length, bad paths refused first", async () => {
    const dir = tmp();
    try {
      const { tf, backend } = await loadTf("wasm", () => {});
      const base = {
        tf, backend, config: { ...PRESETS.tiny!, seqLen: 32 }, train: TRAIN, heldout: HELD,
        steps: 3, batchSize: 8, seed: 2, evalWindows: 2, open: { cacheDir: join(dir, "cache") },
      };
      const seen: { name: string; options: Record<string, unknown> }[] = [];
      const createMixer: CreateMixer = (name, init) => (
        seen.push({ name, options: init.options ?? {} }), createChaser(init.domains, {}, init.state)
      );
      const natural = await naturalShares(TRAIN, base.open);
      expect(Object.values(natural).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(Math.max(...Object.values(natural))).toBeLessThan(0.5);

      const sk = await trainWithMethod({ ...base, method: "skillit", createMixer, graphSteps: 2 });
      expect(sk.graph).toHaveLength(8);
      // Training only on domain j lowers j's own held-out loss more than it lowers the mean of the others'.
      const diag = sk.graph!.map((row, j) => row[j]!);
      const off = sk.graph!.map((row, j) => row.filter((_, i) => i !== j).reduce((a, b) => a + b, 0) / 7);
      expect(diag.filter((x, j) => x > off[j]!).length).toBeGreaterThanOrEqual(6);
      expect(sk.options.graph).toEqual(sk.graph);
      expect(sk.extraSteps).toBe(16);

      expect(sk.options.totalSteps).toBe(3);
      const od = await trainWithMethod({ ...base, method: "aioli", createMixer });
      expect(od.options).toEqual({ totalSteps: 3, batchSize: 8 });

      const dr = await trainWithMethod({ ...base, method: "doremi", createMixer, rounds: 2 });
      expect(dr.rounds).toHaveLength(2);
      expect(dr.rounds![0]!.reference).toEqual(natural);
      expect(dr.rounds![1]!.reference).toEqual(dr.rounds![0]!.average);
      expect(dr.extraSteps).toBe(9);

      await expect(trainWithMethod({ ...base, method: "odm", createMixer, rounds: 2 })).rejects.toThrow(
        "--rounds: expected 1 for odm (rounds are iterated DoReMi), got 2",
      );
      await expect(
        trainWithMethod({
          ...base, method: "skillit", createMixer, checkpoint: join(dir, "nope", "c.ckpt"), checkpointEvery: 1,
        }),
      ).rejects.toThrow("--checkpoint: expected a file in an existing folder");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
