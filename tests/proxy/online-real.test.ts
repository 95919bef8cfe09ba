// The online trainer with the registered mixers (mixers/online.ts): Aioli stopped in the middle
// of its probes and DoReMi (with its reference) resume from the checkpoint to the uninterrupted
// run's losses, trajectory and answer; Aioli's probe steps appear in the stages.
import { describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { loadTf } from "../../src/proxy/backend.js";
import { trainWithMethod } from "../../src/proxy/online.js";
import { PRESETS } from "../../src/proxy/model.js";
import { createOnlineMixer } from "../../mixers/online.js";

const TRAIN = join(ROOT, "datasets", "corpus", "train");
const HELD = join(ROOT, "datasets", "corpus", "heldout");

describe("online trainer with the real mixers", () => {
  it("aioli stopped mid-probe and doremi stopped mid-run resume to the uninterrupted result", async () => {
    const dir = tmp();
    try {
      const { tf, backend } = await loadTf("wasm", () => {});
      const base = {
        tf, backend, config: { ...PRESETS.tiny!, seqLen: 16 }, train: TRAIN, heldout: HELD,
        steps: 12, batchSize: 8, seed: 5, evalWindows: 2, open: { cacheDir: join(dir, "cache") },
        createMixer: createOnlineMixer,
      };
      const aioli = { ...base, method: "aioli", mixerOptions: { roundSteps: 12, lpRounds: 1, lpSteps: 1 } };
      const whole = await trainWithMethod(aioli);
      // Round 0: evaluation at step 0, then 8 one-step probes (one per domain), each its own mixture.
      expect(whole.run.stages.length).toBeGreaterThanOrEqual(9);
      expect(whole.run.trajectory.filter((p) => p.evalLoss).length).toBeGreaterThanOrEqual(9);
      const ck = join(dir, "aioli.ckpt");
      await trainWithMethod({ ...aioli, checkpoint: ck, checkpointEvery: 1, stopAfter: 5 });
      const rest = await trainWithMethod({ ...aioli, checkpoint: ck, checkpointEvery: 1 });
      expect(rest.run.resumedFrom).toBe(5);
      expect(rest.run.lossPerDomain).toEqual(whole.run.lossPerDomain);
      expect(rest.run.trajectory).toEqual(whole.run.trajectory);
      expect(rest.run.summary).toEqual(whole.run.summary);

      const doremi = { ...base, steps: 6, method: "doremi" };
      const d1 = await trainWithMethod(doremi);
      const ck2 = join(dir, "doremi.ckpt");
      await trainWithMethod({ ...doremi, checkpoint: ck2, checkpointEvery: 2, stopAfter: 3 });
      const d2 = await trainWithMethod({ ...doremi, checkpoint: ck2, checkpointEvery: 2 });
      expect(d2.run.resumedFrom).toBe(2);
      expect(d2.run.lossPerDomain).toEqual(d1.run.lossPerDomain);
      expect(d2.run.summary).toEqual(d1.run.summary);
      // DoReMi samples uniformly; its weights moved off uniform (the trajectory records α_t).
      expect(d1.run.stages).toHaveLength(1);
      expect(Object.values(d1.run.summary!).some((v) => Math.abs(v - 1 / 8) > 1e-3)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
