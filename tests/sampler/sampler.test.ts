import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createSampler, type Sample, type Sampler } from "../../src/sampler/sampler.js";
import { MemorySource } from "../../src/sampler/sources.js";
import { apportion, FeistelPermutation } from "../../src/sampler/plan.js";

/** Token-shard-like domains with a fixed length per record, so token and sample shares are known. */
function corpus(sizes: number[], lengths: number[]) {
  const names = sizes.map((_, i) => `d${i}`);
  const sources = sizes.map(
    (n, i) => new MemorySource(
      Array.from({ length: n }, (_, r) => ({ tokens: new Int32Array(lengths[i]!).fill(r) })),
      names[i],
    ),
  );
  return { names, sources };
}
const take = (s: Sampler, n: number): Sample[] => [...s.samples(n)];
const key = (x: Sample) => `${x.index}:${x.domain}:${x.domainIndex}:${x.record}:${x.epoch}`;

describe("apportionment", () => {
  it("counts add up exactly and each is within one of its share", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 5000 }),
        (w, B) => {
          const s = w.reduce((a, b) => a + b, 0);
          if (!(s > 0)) return;
          const q = w.map((x) => x / s);
          const c = apportion(q, B);
          expect(c.reduce((a, b) => a + b, 0)).toBe(B);
          q.forEach((x, i) => expect(Math.abs(c[i]! - x * B)).toBeLessThan(1 + 1e-9));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("Feistel permutation", () => {
  it("is a bijection of [0, n)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
        (n, k) => {
          const p = new FeistelPermutation(n, Uint32Array.from(k));
          const seen = new Uint8Array(n);
          for (let i = 0; i < n; i++) seen[p.at(i)]!++;
          expect(seen.every((v) => v === 1)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("sampler", () => {
  it(
    "known answer: a hand-worked plan (B = 4, samples 1/2 : 1/4 : 1/4, smooth order) gives this exact order",
    async () => {
      // Counts per block: d0 2, d1 1, d2 1. Megatron's greedy deficit order per block: d0 d1 d2 d0.
      const c = corpus([3, 2, 5], [1, 1, 1]);
      const s = await createSampler(
        { corpus: c, proportions: {
          d0: 0.5,
          d1: 0.25,
          d2: 0.25,
        }, blockSize: 4, order: "smooth", unit: "samples", seed: 1 },
      );
      const got = take(s, 8).map((x) => `${x.domain}#${x.domainIndex}`);
      expect(got).toEqual(["d0#0", "d1#0", "d2#0", "d0#1", "d0#2", "d1#1", "d2#1", "d0#3"]);
      // d0 has 3 records: its 4th sample (domainIndex 3) starts epoch 1.
      expect(s.sampleAt(7).epoch).toBe(1);
    },
  );

  it("non-regression snapshot: the shuffled order for seed 0 (labelled; no reference exists)", async () => {
    const s = await createSampler(
      { corpus: corpus([10, 10], [1, 1]), proportions: { d0: 0.75, d1: 0.25 }, blockSize: 8, unit: "samples", seed: 0 },
    );
    expect(
      take(s, 8).map((x) => `${x.domain}:${x.record}`).join(" "),
    ).toMatchInlineSnapshot(`"d0:7 d0:9 d0:4 d0:6 d1:9 d0:5 d1:3 d0:2"`);
  });

  it("every block holds the exact counts; shares are within one sample per block", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 8, max: 200 }),
        fc.integer({ min: 0, max: 1000 }),
        async (w, B, seed) => {
          const s0 = w.reduce((a, b) => a + b, 0);
          const p = Object.fromEntries(w.map((x, i) => [`d${i}`, x / s0]));
          const s = await createSampler(
            { corpus: corpus(
              w.map(() => 50),
              w.map(() => 3),
            ), proportions: p, blockSize: B, unit: "samples", seed, warn: () => {} },
          );
          const want = apportion(w.map((x) => x / s0), B);
          const samples = take(s, 3 * B);
          for (let b = 0; b < 3; b++) {
            const got = new Array(w.length).fill(0);
            for (const x of samples.slice(b * B, (b + 1) * B)) got[Number(x.domain.slice(1))]++;
            expect(got).toEqual(Array.from(want));
            got.forEach((g, i) => expect(Math.abs(g - (w[i]! / s0) * B)).toBeLessThan(1 + 1e-9));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("each domain's records are a permutation per epoch (no record repeated within an epoch)", async () => {
    const s = await createSampler(
      { corpus: corpus([7, 13], [1, 1]), proportions: { d0: 0.5, d1: 0.5 }, blockSize: 10, unit: "samples", seed: 3 },
    );
    const byDomainEpoch = new Map<string, number[]>();
    for (const x of take(s, 400)) {
      const k = `${x.domain}/${x.epoch}`;
      byDomainEpoch.set(k, [...(byDomainEpoch.get(k) ?? []), x.record]);
    }
    for (const [k, recs] of byDomainEpoch) {
      expect(new Set(recs).size).toBe(recs.length);
      const n = k.startsWith("d0") ? 7 : 13;
      if (recs.length === n) expect([...recs].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });

  it("same seed → same stream; another seed → another", async () => {
    const mk = (seed: number) => createSampler(
      { corpus: corpus([100, 100, 100], [2, 3, 5]), proportions: { d0: 0.2, d1: 0.3, d2: 0.5 }, blockSize: 64, seed },
    );
    const a = take(await mk(7), 500).map(key);
    expect(take(await mk(7), 500).map(key)).toEqual(a);
    expect(take(await mk(8), 500).map(key)).not.toEqual(a);
  });

  it("ranks and loader workers partition the global order: no duplicate, no gap", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4 }), async (W, K) => {
        const opts = {
          corpus: corpus([40, 60], [1, 1]),
          proportions: { d0: 0.5, d1: 0.5 },
          blockSize: 16,
          seed: 5,
          budgetSamples: 320,
        };
        const global = take(await createSampler(opts), Infinity).map(key);
        const union: string[] = [];
        for (let r = 0; r < W; r++) {
          const s = await createSampler({ ...opts, rank: r, worldSize: W });
          for (let w = 0; w < K; w++) for (const g of s.workerIndices(w, K)) union.push(key(s.sampleAt(g)));
        }
        expect(union.length).toBe(global.length);
        expect(new Set(union)).toEqual(new Set(global));
      }),
      { numRuns: 20 },
    );
  });

  it("resumes exactly: at any point, twice, past an epoch boundary, after a stage change, with W changed", async () => {
    const base = {
      corpus: corpus([9, 30, 50], [4, 2, 1]),
      stages: [
        { untilSamples: 96, proportions: { d0: 0.6, d1: 0.2, d2: 0.2 } },
        { proportions: { d0: 0.1, d1: 0.3, d2: 0.6 } },
      ],
      blockSize: 32,
      seed: 11,
    } as const;
    const full = take(await createSampler(base), 600).map(key);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 4 }),
        async (cut1, cut2, W2) => {
          const s1 = await createSampler(base);
          const part1 = take(s1, cut1).map(key);
          const s2 = await createSampler({ ...base, state: JSON.parse(JSON.stringify(s1.state())) });
          const part2 = take(s2, cut2).map(key);
          // Third leg on W2 ranks (same global order): interleave the ranks' streams.
          const st = s2.state();
          const ranks = await Promise.all(
            Array.from({ length: W2 }, (_, r) => createSampler({ ...base, rank: r, worldSize: W2, state: st })),
          );
          const part3: string[] = [];
          const its = ranks.map((r) => r.samples());
          while (part1.length + part2.length + part3.length < 600) for (const it of its) part3.push(
            key(it.next().value as Sample),
          );
          expect([...part1, ...part2, ...part3].slice(0, 600)).toEqual(full);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("a live setProportions takes effect at the next block boundary and replays from the state", async () => {
    const base = {
      corpus: corpus([50, 50], [1, 1]),
      proportions: { d0: 0.5, d1: 0.5 },
      blockSize: 10,
      unit: "samples" as const,
      seed: 2,
    };
    const s = await createSampler(base);
    const first = take(s, 13);
    s.setProportions({ d0: 0.9, d1: 0.1 });
    const state = s.state();
    expect(state.appended).toEqual([{ start: 20, proportions: { d0: 0.9, d1: 0.1 } }]);
    const rest = take(s, 47);
    // Samples 13–19 finish the old block (5/5); from 20 on every block is 9/1.
    const block = (from: number) => rest.filter(
      (x) => x.index >= from && x.index < from + 10,
    ).filter((x) => x.domain === "d0").length;
    expect(block(20)).toBe(9);
    expect(block(50)).toBe(9);
    expect(
      first.concat(rest.filter((x) => x.index < 20)).filter((x) => x.index >= 10 && x.domain === "d0"),
    ).toHaveLength(5);
    const resumed = await createSampler({ ...base, state });
    expect(take(resumed, 47).map(key)).toEqual(rest.map(key));
    // Nothing lost or repeated across the change: over whole blocks, d0's domain indices are 0…n−1.
    const d0 = [...first, ...rest].filter((x) => x.domain === "d0").map((x) => x.domainIndex).sort((a, b) => a - b);
    expect(d0).toEqual(d0.map((_, i) => i));
  });

  it("token-unit proportions convert by mean record length and report achieved token shares", async () => {
    const s = await createSampler(
      { corpus: corpus([100, 100], [10, 40]), proportions: { d0: 0.5, d1: 0.5 }, blockSize: 100, budgetSamples: 1000 },
    );
    // Equal token shares with lengths 10 and 40: samples 4:1.
    const rows = s.table();
    expect(rows[0]!.samplesPerBlock).toBe(80);
    expect(rows[1]!.samplesPerBlock).toBe(20);
    expect(rows[0]!.achievedTokenShare).toBeCloseTo(0.5, 12);
  });

  it("repetition caps are checked before the first sample, naming the domain", async () => {
    const opts = {
      corpus: corpus([10, 1000], [5, 5]),
      proportions: { d0: 0.5, d1: 0.5 },
      blockSize: 10,
      budgetSamples: 100,
      maxEpochs: 2,
    };
    await expect(createSampler(opts)).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: repetition: domain "d0": expected at most 2 epochs, got 5.000 (it has 10 records ≈ 50 tokens; requested share 0.5000); lower its share, raise maxEpochs, or pass onExceed: "redistribute"]`,
    );
    const s = await createSampler({ ...opts, onExceed: "redistribute" });
    const rows = s.table();
    expect(rows[0]!.epochs!).toBeLessThanOrEqual(2);
    expect(rows[1]!.achievedSampleShare).toBeGreaterThan(0.75);
  });

  it("zero-weight domains are never sampled; a weighted domain with no sample per block warns", async () => {
    const warnings: string[] = [];
    const s = await createSampler(
      { corpus: corpus([10, 10, 10], [1, 1, 1]), proportions: {
        d0: 0.999,
        d1: 0.001,
        d2: 0,
      }, blockSize: 16, unit: "samples", warn: (m) => warnings.push(m) },
    );
    expect(take(s, 200).some((x) => x.domain === "d2")).toBe(false);
    expect(warnings.join("\n")).toMatch(/domain "d1" has proportion 0.001 but gets 0 of 16 samples per block/);
  });

  it("rejects unknown domains, bad sums and a state of another plan", async () => {
    const c = corpus([10, 10], [1, 1]);
    await expect(
      createSampler({ corpus: c, proportions: { d0: 0.5, zz: 0.5 } }),
    ).rejects.toThrow(/expected domains of the corpus \(d0, d1\), got unknown "zz"/);
    await expect(
      createSampler({ corpus: c, proportions: { d0: 0.5, d1: 0.4 } }),
    ).rejects.toThrow(/expected proportions summing to 1 \(± 1e-6\), got 0.9/);
    const s = await createSampler({ corpus: c, proportions: { d0: 0.5, d1: 0.5 }, seed: 1 });
    const other = await createSampler({ corpus: c, proportions: { d0: 0.5, d1: 0.5 }, seed: 2 });
    await expect(
      createSampler({ corpus: c, proportions: { d0: 0.5, d1: 0.5 }, seed: 2, state: s.state() }),
    ).rejects.toThrow(
      `state: planSha256: expected ${other.planSha256} (this plan), got ${s.planSha256}: the corpus, proportions, seed, block size, unit, order or budget differ from the run that saved it`,
    );
  });

  it("a saved state is checked field by field before any file is opened", async () => {
    const c = corpus([10, 10], [1, 1]);
    const opts = { corpus: "/no/such/corpus", proportions: { d0: 0.5, d1: 0.5 } };
    const bad = {
      format: "mixlab.sampler-state/v1",
      planSha256: "f".repeat(64),
      consumed: 2.5,
      appended: [{ start: 0, proportions: { d0: "x" } }],
    };
    await expect(createSampler({ ...opts, state: bad as never })).rejects.toThrowErrorMatchingInlineSnapshot(`
      [InputError: state: 2 problems:
        consumed: expected an integer, got 2.5
        appended.0.proportions.d0: expected a number, got "x"]
    `);
    await expect(
      createSampler({ ...opts, state: null as never, stateSource: "ckpt.json" }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(`[InputError: ckpt.json: document: expected an object, got null]`);
    const s = await createSampler({ corpus: c, proportions: { d0: 0.5, d1: 0.5 }, blockSize: 8 });
    const st = { ...s.state(), appended: [{ start: 3, proportions: { d0: 1 } }] };
    await expect(
      createSampler({
        corpus: c, proportions: { d0: 0.5, d1: 0.5 }, blockSize: 8, state: st, stateSource: "ckpt.json",
      }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: ckpt.json: appended.0.start: expected a multiple of the block size 8, got 3]`,
    );
  });

  it("budgets: one of budgetSamples and budgetTokens, in range", async () => {
    const c = corpus([10, 10], [2, 2]);
    const p = { d0: 0.5, d1: 0.5 };
    await expect(
      createSampler({ corpus: c, proportions: p, budgetSamples: 10, budgetTokens: 20 }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: budgetSamples: expected one budget, budgetSamples or budgetTokens, got both (10 samples and 20 tokens)]`,
    );
    await expect(
      createSampler({ corpus: c, proportions: p, budgetSamples: 2 ** 60 }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: budgetSamples: expected an integer in [1, 2^53), got 1152921504606847000]`,
    );
    await expect(
      createSampler({ corpus: c, proportions: p, budgetTokens: Infinity }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: budgetTokens: expected a number of tokens > 0, got Infinity]`,
    );
    await expect(
      createSampler({ corpus: c, proportions: p, budgetTokens: 1e300 }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: budgetTokens: expected a budget under 2^53 samples, got 1e+300 tokens ≈ 5e+299 samples]`,
    );
  });

  it(
    "a domain whose records are all empty: an error naming it when it gets a share, on every path that sets one",
    async () => {
      const c = {
        names: ["full", "blank"],
        sources: [
          new MemorySource([{ text: "abc" }, { text: "de" }], "full.jsonl"),
          new MemorySource([{ text: "" }, { text: "" }], "blank.jsonl"),
        ],
      };
      await expect(
        createSampler({ corpus: c, proportions: { full: 0.9, blank: 0.1 } }),
      ).rejects.toThrowErrorMatchingInlineSnapshot(
        `[InputError: blank.jsonl: domain "blank": expected records with text, got every record measured empty (0 tokens) with a share of 0.1 in proportions; give it share 0 or remove it]`,
      );
      await expect(
        createSampler({
          corpus: c,
          stages: [{ untilSamples: 8, proportions: { full: 1 } }, { proportions: { full: 0.5, blank: 0.5 } }],
          blockSize: 8,
        }),
      ).rejects.toThrowErrorMatchingInlineSnapshot(
        `[InputError: blank.jsonl: domain "blank": expected records with text, got every record measured empty (0 tokens) with a share of 0.5 in stage 2; give it share 0 or remove it]`,
      );
      const s = await createSampler({ corpus: c, proportions: { full: 1, blank: 0 }, blockSize: 4 });
      expect([...s.samples(8)].every((x) => x.domain === "full")).toBe(true);
      expect(() => s.setProportions({ full: 0.5, blank: 0.5 })).toThrowErrorMatchingInlineSnapshot(
        `[InputError: blank.jsonl: domain "blank": expected records with text, got every record measured empty (0 tokens) with a share of 0.5 in setProportions; give it share 0 or remove it]`,
      );
      const m = await createSampler(
        { corpus: c, proportions: { full: 1, blank: 0 }, blockSize: 4, mixer: {
          proportions: () => ({ full: 0.5, blank: 0.5 }),
        } },
      );
      expect(() => [...m.samples(1)]).toThrowErrorMatchingInlineSnapshot(
        `[InputError: blank.jsonl: domain "blank": expected records with text, got every record measured empty (0 tokens) with a share of 0.5 in mixer.proportions(); give it share 0 or remove it]`,
      );
      // Empty token records too (exact lengths).
      const t = {
        names: ["a", "b"],
        sources: [
          new MemorySource([{ tokens: Int32Array.of(1) }]),
          new MemorySource([{ tokens: new Int32Array(0) }], "b.bin"),
        ],
      };
      await expect(
        createSampler({ corpus: t, proportions: { a: 0.5, b: 0.5 }, unit: "samples" }),
      ).rejects.toThrowErrorMatchingInlineSnapshot(
        `[InputError: b.bin: domain "b": expected records with tokens, got its only record empty (0 tokens) with a share of 0.5 in proportions; give it share 0 or remove it]`,
      );
    },
  );
});

describe("bulk index map", () => {
  it("mapRange equals locate index by index (strides, stage changes, smooth order)", async () => {
    for (const order of ["shuffle", "smooth"] as const) {
      const s = await createSampler(
        { corpus: corpus([37, 120, 9], [3, 1, 2]), stages: [
          { untilSamples: 200, proportions: { d0: 0.5, d1: 0.3, d2: 0.2 } },
          { proportions: { d0: 0.1, d1: 0.6, d2: 0.3 } },
        ], blockSize: 48, order, seed: 9 },
      );
      for (const [start, count, stride] of [[0, 500, 1], [5, 300, 3], [190, 64, 1], [199, 100, 7]] as const) {
        const d = new Uint16Array(count);
        const idx = new Float64Array(count);
        const rec = new Float64Array(count);
        s.plan.mapRange(start, count, stride, d, idx, rec);
        for (let i = 0; i < count; i++) {
          const want = s.sampleAt(start + i * stride);
          expect([s.domains[d[i]!], idx[i], rec[i]]).toEqual([want.domain, want.domainIndex, want.record]);
        }
      }
    }
  });
});

describe("online mixer and tf.data", () => {
  it("an online mixer is asked at each new block; its changes are live stages that replay from the state", async () => {
    let calls = 0;
    const mixer = { proportions: () => (calls++ % 2 === 0 ? { d0: 0.8, d1: 0.2 } : { d0: 0.2, d1: 0.8 }) };
    const base = {
      corpus: corpus([100, 100], [1, 1]),
      proportions: { d0: 0.5, d1: 0.5 },
      blockSize: 10,
      unit: "samples" as const,
      seed: 1,
    };
    const s = await createSampler({ ...base, mixer });
    const got = take(s, 40);
    const d0PerBlock = [0, 1, 2, 3].map((b) => got.slice(b * 10, b * 10 + 10).filter((x) => x.domain === "d0").length);
    expect(d0PerBlock).toEqual([8, 2, 8, 2]);
    expect(s.state().appended.map((a) => a.start)).toEqual([0, 10, 20, 30]);
    // Replaying with the recorded stages (no mixer) gives the same stream.
    const replay = await createSampler({ ...base, state: { ...s.state(), consumed: 0 } });
    expect(take(replay, 40).map(key)).toEqual(got.map(key));
  });

  it("toTfDataset yields next-token (xs, ys) pairs from packed batches", async () => {
    const { toTfDataset } = await import("../../src/sampler/sampler.js");
    const s = await createSampler(
      { corpus: corpus([20, 20], [5, 5]), proportions: { d0: 0.5, d1: 0.5 }, blockSize: 4, seed: 0 },
    );
    // A stand-in for the tfjs namespace: tf.data.generator and tf.tensor2d.
    const tf = {
      data: { generator: <T,>(g: () => AsyncIterator<T>) => g },
      tensor2d: (values: Int32Array, shape: [number, number]) => ({ values: Array.from(values), shape }),
    };
    const it = (
      toTfDataset(s, tf, { batchSize: 2, seqLen: 4, limit: 1 }) as () => AsyncIterator<{
        xs: { values: number[]; shape: number[] };
        ys: { values: number[] };
      }>
    )();
    const first = await it.next();
    expect(first.value.xs.shape).toEqual([2, 3]);
    // Row tokens are the record id repeated, so xs and ys hold the same values shifted by one.
    expect(first.value.xs.values.slice(1, 3)).toEqual(first.value.ys.values.slice(0, 2));
    expect((await it.next()).done).toBe(true);
  });
});
