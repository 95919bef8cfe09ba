// Schedules (`stages`, as `mixlab train --online -o` writes them) in the exporters: OLMo-core and
// Levanter stage lists, one phase as a Megatron blend, the static answer, and a clear refusal
// naming the format when it cannot hold a schedule.
import { describe, expect, it } from "vitest";
import { parseProportions } from "../../src/export/proportions.js";
import { exportProportions } from "../../src/export/formats.js";
import { tokenWeightedAverage } from "../../src/cli/commands/train-online.js";
import type { OnlineRunResult } from "../../src/proxy/online.js";

const doc = parseProportions(
  JSON.stringify({
    format: "mixlab.proportions/v1",
    domains: { web: 0.5, code: 0.3, math: 0.2 },
    order: ["web", "code", "math"],
    stages: [
      { untilTokens: 4096, domains: { web: 0.6, code: 0.4, math: 0 } },
      { untilTokens: 10240, domains: { web: 0.3, code: 0.3, math: 0.4 } },
    ],
    method: "odm",
    online: {
      method: "odm",
      options: {},
      seed: 1,
      trajectory: [
        { step: 0, tokens: 0, proportions: { web: 0.6, code: 0.4, math: 0 } },
        {
          step: 1,
          tokens: 4096,
          proportions: { web: 0.6, code: 0.4, math: 0 },
          trainLoss: { web: 3.1, code: 2.2 },
          evalLoss: { web: 3, code: 2, math: 4 },
        },
      ],
    },
  }),
  "p.json",
);

describe("schedules in the exporters", () => {
  it("OLMo-core: one source mixture per stage with its token range; Levanter: [sequence index, weights]", () => {
    expect(JSON.parse(exportProportions(doc, "olmo"))).toEqual({
      stages: [
        {
          name: "stage-1",
          start_tokens: 0,
          max_tokens: 4096,
          source_configs: [
            { source_name: "web", target_ratio: 0.6, max_repetition_ratio: 1, paths: ["web/*.npy"] },
            { source_name: "code", target_ratio: 0.4, max_repetition_ratio: 1, paths: ["code/*.npy"] },
          ],
        },
        {
          name: "stage-2",
          start_tokens: 4096,
          max_tokens: 6144,
          source_configs: [
            { source_name: "web", target_ratio: 0.3, max_repetition_ratio: 1, paths: ["web/*.npy"] },
            { source_name: "code", target_ratio: 0.3, max_repetition_ratio: 1, paths: ["code/*.npy"] },
            { source_name: "math", target_ratio: 0.4, max_repetition_ratio: 1, paths: ["math/*.npy"] },
          ],
        },
      ],
    });
    expect(JSON.parse(exportProportions(doc, "levanter", { seqLen: 512 }))).toEqual({
      train_weights: [
        [0, { web: 0.6, code: 0.4 }],
        [8, { web: 0.3, code: 0.3, math: 0.4 }],
      ],
    });
    expect(() => exportProportions(doc, "levanter")).toThrow(
      "--seq-len: levanter: expected the tokens per sequence to turn the 2 stages' token bounds " +
        "into sequence indices, got none",
    );
  });

  it(
    "one phase as a Megatron blend, or the static answer; formats with one mixture refuse a schedule by name",
    () => {
      expect(exportProportions(doc, "megatron", { phase: 2 })).toBe(
        "0.3 web_text_document 0.3 code_text_document 0.4 math_text_document\n",
      );
      expect(exportProportions(doc, "megatron", { phase: 1 })).toBe("0.6 web_text_document 0.4 code_text_document\n");
      expect(exportProportions(doc, "megatron", { static: true })).toBe(
        "0.5 web_text_document 0.3 code_text_document 0.2 math_text_document\n",
      );
      for (const f of ["megatron", "hf", "streaming"] as const) {
        expect(() => exportProportions(doc, f)).toThrow(
          `--format: ${f}: expected a format that holds a schedule (json, olmo, levanter) for a document with 2 stages, got ${f}, which holds one mixture; pass --phase N (1..2) for one phase's blend or --static for the static answer \`domains\``,
        );
      }
      expect(() => exportProportions(doc, "megatron", { phase: 3 })).toThrow(
        "--phase: expected a stage number in 1..2 (the document has 2 stages), got 3",
      );
      expect(JSON.parse(exportProportions(doc, "hf", { phase: 1 }))).toEqual({
        datasets: ["web", "code"],
        probabilities: [0.6, 0.4],
        stopping_strategy: "all_exhausted",
      });
      // json keeps everything, the online trajectory included.
      expect(JSON.parse(exportProportions(doc, "json")).online.trajectory[1].evalLoss).toEqual({
        web: 3,
        code: 2,
        math: 4,
      });
    },
  );

  it("the online object is checked by the schema", () => {
    const bad = {
      format: "mixlab.proportions/v1",
      domains: { a: 1 },
      online: { method: "odm", options: {}, seed: 1, trajectory: [{ step: -1, tokens: 0, proportions: { a: 1 } }] },
    };
    expect(() => parseProportions(JSON.stringify(bad), "p.json")).toThrow("p.json: online.trajectory.0.step:");
  });

  it("--online-answer average: the mixtures trained with, weighted by the tokens of each step", () => {
    const trajectory = [
      { step: 0, tokens: 0, proportions: { a: 0.5, b: 0.5 } },
      { step: 1, tokens: 100, proportions: { a: 1, b: 0 } },
      { step: 2, tokens: 400, proportions: { a: 0, b: 1 } },
    ];
    const avg = tokenWeightedAverage({ trajectory } as unknown as OnlineRunResult);
    expect(avg.a).toBeCloseTo(0.25, 12);
    expect(avg.b).toBeCloseTo(0.75, 12);
  });
});
