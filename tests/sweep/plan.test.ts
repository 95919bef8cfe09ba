// The sweep plan: keys cover every setting that changes a result; done runs are left out.
import { describe, expect, it } from "vitest";
import { otherSettings, planSweep, resolveSettings, runKey, type RunSettings } from "../../src/sweep/plan.js";
import { PRESETS } from "../../src/proxy/model.js";
import type { Cell, Frame } from "../../src/runs/frame.js";

const base: RunSettings = resolveSettings({
  model: "tiny",
  config: PRESETS.tiny!,
  steps: 10,
  batchSize: 4,
  seed: 0,
  corpusSha256: "c0",
});
const p = { code: 0.25, legal: 0.75 };

describe("runKey", () => {
  it("changes with every setting that changes a result", () => {
    const k = runKey(p, base);
    const variants: Partial<RunSettings>[] = [
      { lr: 1e-3 }, { warmup: 5 }, { schedule: "linear" }, { weightDecay: 0 }, { clip: 0.5 }, { evalWindows: 24 },
      { corpusSha256: "c1" }, { tokenizer: "bpe" }, { steps: 11 }, { batchSize: 8 }, { seed: 1 },
      { config: { ...PRESETS.tiny!, untiedHead: true } },
    ];
    const keys = variants.map((v) => runKey(p, { ...base, ...v }));
    for (const other of keys) expect(other).not.toBe(k);
    expect(new Set(keys).size).toBe(variants.length);
    expect(runKey({ code: 0.5, legal: 0.5 }, base)).not.toBe(k);
  });

  it("ignores the preset's name, key order and zero shares; is 16 hex digits", () => {
    const k = runKey(p, base);
    expect(k).toMatch(/^[0-9a-f]{16}$/);
    expect(runKey({ legal: 0.75, code: 0.25, math: 0 }, { ...base, model: "renamed" })).toBe(k);
  });

  it("defaults are the trainer's: warm-up 10% of steps, cosine, weight decay 0.1, clip 1, 16 eval windows", () => {
    const defaults = { lr: 3e-3, warmup: 1, schedule: "cosine", weightDecay: 0.1, clip: 1, evalWindows: 16 };
    expect(base).toMatchObject(defaults);
    expect(base.tokenizer).toBe("bytes");
  });
});

describe("planSweep", () => {
  it("keeps one spec per key and leaves out the done ones", () => {
    const mixtures = [p, { code: 1, legal: 0 }, { ...p }, { code: 0.5, legal: 0.5 }];
    const keys = mixtures.map((m) => runKey(m, base));
    const plan = planSweep({ mixtures, settings: base, done: new Set([keys[1]!]) });
    expect(plan.keys).toEqual(keys);
    expect(plan.todo.map((s) => s.key)).toEqual([keys[0], keys[3]]);
    expect(plan).toMatchObject({ done: 1, repeated: 1 });
  });
});

describe("otherSettings", () => {
  it("describes rows made with other settings, column by column", () => {
    const cells = new Map<string, Cell[]>([
      ["run_id", ["a", "b", "c"]],
      ["lr", [0.01, 0.01, base.lr]],
      ["corpus_sha256", ["c9", "c9", "c0"]],
    ]);
    const frame: Frame = { source: "runs.csv", columns: [...cells.keys()], cells, numRows: 3 };
    const mine = [runKey(p, base)];
    const lines = otherSettings(frame, base, mine);
    expect(lines).toContain("lr: 0.01 in 2 rows (here 0.003)");
    expect(lines).toContain("corpus_sha256: c9 in 2 rows (here c0)");
    expect(lines.find((l) => l.startsWith("warmup:"))).toBe("warmup: (not recorded) in 3 rows (here 1)");
  });
});
