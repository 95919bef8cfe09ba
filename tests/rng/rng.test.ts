import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { philox4x32, philoxFill } from "../../src/rng/philox.js";
import { createRng, rngFromState } from "../../src/rng/index.js";

const hex = (a: Uint32Array): string => Array.from(a, (x) => x.toString(16).padStart(8, "0")).join(" ");

describe("Philox4x32-10", () => {
  // Known-answer vectors from Random123 (kat_vectors, "philox4x32 10" lines).
  it.each([
    [[0, 0, 0, 0], [0, 0], "6627e8d5 e169c58d bc57ac4c 9b00dbd8"],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], "408f276d 41c83b0e a20bc7c6 6d5451fd"],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], "d16cfe09 94fdcceb 5001e420 24126ea1"],
  ])("matches the Random123 vector for counter %j key %j", (c, k, want) => {
    const out = new Uint32Array(4);
    philox4x32(c[0]!, c[1]!, c[2]!, c[3]!, k[0]!, k[1]!, out);
    expect(hex(out)).toBe(want);
  });

  it("fills buffers exactly as the block function does", () => {
    const buf = new Uint32Array(64);
    philoxFill(2 ** 40 + 7, 123, 456, buf);
    const one = new Uint32Array(4);
    for (let b = 0; b < 16; b++) {
      const c = 2 ** 40 + 7 + b;
      philox4x32(c >>> 0, Math.floor(c / 2 ** 32), 0, 0, 123, 456, one);
      expect(Array.from(buf.subarray(4 * b, 4 * b + 4))).toEqual(Array.from(one));
    }
  });
});

describe("Rng", () => {
  it("is deterministic per seed and differs across seeds", () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const xs = Array.from({ length: 10 }, () => a.next());
    expect(Array.from({ length: 10 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 10 }, () => c.next())).not.toEqual(xs);
  });

  it("resumes exactly from a saved state at any position", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 2000 }), (seed, skip) => {
        const r = createRng(seed);
        for (let i = 0; i < skip; i++) r.nextUint32();
        const state = JSON.parse(JSON.stringify(r.getState()));
        const resumed = rngFromState(state);
        for (let i = 0; i < 300; i++) expect(resumed.nextUint32()).toBe(r.nextUint32());
      }),
      { numRuns: 50 },
    );
  });

  it("derives named streams without consuming the parent", () => {
    const r = createRng(1);
    const before = r.getState();
    const d1 = r.derive("proposals").next();
    expect(r.getState()).toEqual(before);
    expect(createRng(1).derive("proposals").next()).toBe(d1);
    expect(createRng(1).derive("sampler").next()).not.toBe(d1);
  });

  it("draws uniforms with the right mean and integers without bias", () => {
    const r = createRng(3);
    let s = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) s += r.next();
    expect(Math.abs(s / n - 0.5)).toBeLessThan(0.005); // sd of the mean ≈ 0.00065
    const counts = new Array(3).fill(0);
    for (let i = 0; i < 30_000; i++) counts[r.nextInt(3)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400); // ≈ 4.9 sd
  });

  it("rejects a seed that is not a uint32", () => {
    expect(() => createRng(-1)).toThrowErrorMatchingInlineSnapshot(
      `[InputError: seed: expected an integer in [0, 4294967295], got -1]`,
    );
    expect(() => createRng(1.5)).toThrow(/expected an integer/);
  });

  it("shuffles into a permutation", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 200 }), (seed, n) => {
        const a = Int32Array.from({ length: n }, (_, i) => i);
        createRng(seed).shuffle(a);
        expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
      { numRuns: 30 },
    );
  });
});
