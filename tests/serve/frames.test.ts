// The pool of frame buffers: reuses the smallest buffer that fits, keeps no more than its bound,
// and never takes a buffer that was transferred away (detached).

import { describe, expect, it } from "vitest";
import { FramePool } from "../../src/serve/frames.js";

describe("FramePool", () => {
  it("hands out page-rounded buffers and reuses the smallest free one that fits", () => {
    const pool = new FramePool();
    const a = pool.take(5000);
    expect(a.length).toBe(5000);
    expect(a.buffer.byteLength).toBe(8192);
    const b = pool.take(70_000);
    expect(b.buffer.byteLength).toBe(73_728);
    pool.give(b.buffer);
    pool.give(a.buffer);
    expect(pool.held).toBe(8192 + 73_728);
    const c = pool.take(6000);
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(6000);
    const d = pool.take(40_000);
    expect(d.buffer).toBe(b.buffer);
    expect(pool.held).toBe(0);
    expect(pool.take(100).buffer).not.toBe(a.buffer);
  });

  it("gives back each of many small buffers once", () => {
    const pool = new FramePool();
    const slabs = Array.from({ length: 15_000 }, () => pool.take(4000).buffer);
    for (const s of slabs) pool.give(s);
    expect(pool.held).toBe(15_000 * 4096);
    const again = new Set(Array.from({ length: 15_000 }, () => pool.take(4000).buffer));
    expect(again.size).toBe(15_000);
    const given = new Set(slabs);
    expect([...again].every((s) => given.has(s))).toBe(true);
    expect(pool.held).toBe(0);
  });

  it("does not hand a buffer over twice the size to a small frame", () => {
    const pool = new FramePool();
    const big = pool.take(100_000).buffer;
    pool.give(big);
    expect(pool.take(1000).buffer).not.toBe(big);
    expect(pool.take(50_000).buffer).toBe(big);
  });

  it("keeps at most maxBytes free and ignores detached buffers", () => {
    const pool = new FramePool(10_000);
    const a = pool.take(4096).buffer;
    const b = pool.take(4096).buffer;
    const c = pool.take(4096).buffer;
    pool.give(a);
    pool.give(b);
    pool.give(c); // over the bound: dropped
    expect(pool.held).toBe(8192);
    const gone = pool.take(4096).buffer;
    structuredClone(gone, { transfer: [gone] });
    expect(gone.byteLength).toBe(0);
    pool.give(gone);
    expect(pool.held).toBe(4096);
  });
});
