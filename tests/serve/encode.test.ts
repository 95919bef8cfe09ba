// The wire encoding of one batch: the smallest width that holds every id (scanned, or bounded by
// the corpus's storage type), the header's fields with the caller's first, and negative ids refused.

import { describe, expect, it } from "vitest";
import { decodeBatches, encodeBatch } from "../../src/serve/encode.js";
import type { TokenBatch } from "../../src/sampler/sampler.js";

const batch = (ids: number[], rows = 2): TokenBatch => ({
  tokens: Int32Array.from(ids),
  domainPerRow: Int32Array.from({ length: rows }, (_, i) => i),
  indexPerRow: Float64Array.from({ length: rows }, (_, i) => 10 + i),
  truncatedTokens: 1,
  padTokens: 2,
});

describe("encodeBatch", () => {
  it.each([
    { ids: [0, 1, 254, 255], width: 1 },
    { ids: [0, 256, 3, 4], width: 2 },
    { ids: [65535, 0, 1, 2], width: 2 },
    { ids: [1, 2, 3, 65536], width: 4 },
    { ids: [2 ** 31 - 1, 0, 0, 0], width: 4 },
  ])("scans $ids to width $width and decodes to the same ids", ({ ids, width }) => {
    const e = encodeBatch(batch(ids), 2, { step: 3, rank: 1 });
    const [d] = decodeBatches(e.body);
    expect(d!.header.width).toBe(width);
    expect(Array.from(d!.tokens)).toEqual(ids);
    expect(e.body.length % 4).toBe(0);
    const length = e.body.readUInt32LE(0);
    expect(e.body.subarray(4, 4 + length).toString()).toBe(
      '{"step":3,"rank":1,"rows":2,"seqLen":2,"width":' + width +
        ',"domainPerRow":[0,1],"indexPerRow":[10,11],"truncatedTokens":1,"padTokens":2}',
    );
  });

  it("takes the width from maxId without scanning past the first id above 255", () => {
    expect(decodeBatches(encodeBatch(batch([1, 2, 3, 4]), 2, {}, 65535).body)[0]!.header.width).toBe(1);
    const e = encodeBatch(batch([300, 2, 3, 4]), 2, {}, 65535);
    expect(decodeBatches(e.body)[0]!.header).toMatchObject({ width: 2, rows: 2 });
    expect(e.body.toString("utf8", 4, 4 + e.body.readUInt32LE(0))).toMatch(/^\{"rows":2,/);
  });

  it("refuses a negative id, naming the smallest", () => {
    expect(() => encodeBatch(batch([5, -3, 7, -9]), 2, {})).toThrow("expected token ids ≥ 0, got -9");
  });
});
