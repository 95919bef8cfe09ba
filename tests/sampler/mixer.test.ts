// The sampler with an online mixer: one state holds both and resumes both; a state is never
// resumed with the wrong half; the mixer is asked after every earlier batch was observed; two
// ranks fed the same merged statistics agree and read the global stream without gaps or repeats.
import { describe, expect, it } from "vitest";
import { createSampler, type Sampler, type SamplerState, type TokenBatch } from "../../src/sampler/sampler.js";
import { MemorySource } from "../../src/sampler/sources.js";
import { createChaser, mergeStats } from "./mixer-fixture.js";
import type { OnlineMixer, OnlineMixerState } from "../../mixers/types.js";
import { createOnlineMixer } from "../../mixers/online.js";
import { mergeDomainStats } from "../../mixers/common/domain-stats.js";

const NAMES = ["a", "b", "c"];
/** Records whose tokens encode (domain, record), so a row's simulated loss depends on what was drawn. */
const corpus = () => ({
  names: NAMES,
  sources: NAMES.map(
    (n, d) =>
      new MemorySource(
        Array.from({ length: 50 + 10 * d }, (_, r) => ({
          tokens: Int32Array.from({ length: 16 }, (_, t) => (d * 97 + r * 13 + t) % 256),
        })),
        n,
      ),
  ),
});
/** Simulated per-row loss: domain c is hardest, with record-dependent noise. */
const rowLoss = (b: TokenBatch, row: number): number => 1 + b.domainPerRow[row]! * 0.5 + (b.tokens[row * 16]! % 7) / 10;

/** Per-domain mean loss and token count of a batch (16 tokens a row). */
function stats(b: TokenBatch): { loss: Record<string, number>; tokens: Record<string, number> } {
  const sum: Record<string, number> = {};
  const tok: Record<string, number> = {};
  for (let r = 0; r < b.domainPerRow.length; r++) {
    const d = NAMES[b.domainPerRow[r]!]!;
    sum[d] = (sum[d] ?? 0) + rowLoss(b, r) * 16;
    tok[d] = (tok[d] ?? 0) + 16;
  }
  return { loss: Object.fromEntries(Object.keys(sum).map((d) => [d, sum[d]! / tok[d]!])), tokens: tok };
}

/** Trains `steps` simulated steps: batch, observe, repeat; returns the rows' global indices and proportions seen. */
async function run(
  sampler: Sampler,
  mixer: OnlineMixer,
  steps: number,
  from: number,
): Promise<{ indices: number[]; props: string[] }> {
  const indices: number[] = [];
  const props: string[] = [];
  const it = sampler.batches({ batchSize: 8, seqLen: 16 });
  for (let s = from; s < from + steps; s++) {
    const n = await it.next();
    if (n.done) break;
    indices.push(...n.value.indexPerRow);
    mixer.observe({ kind: "train", step: s, ...stats(n.value) });
    props.push(JSON.stringify(mixer.proportions()));
  }
  await it.return(undefined);
  return { indices, props };
}

describe("sampler + online mixer", () => {
  it("state() holds the mixer's state; a factory restores both and the run continues identically", async () => {
    let made: OnlineMixer | null = null;
    const factory = (saved?: Parameters<typeof createChaser>[2]) => (made = createChaser(NAMES, {}, saved));
    const full = await createSampler({
      corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
      blockSize: 8, unit: "samples", seed: 5, mixer: factory,
    });
    const whole = await run(full, made!, 12, 0);
    // The mixer steered: the hardest domain (c) got more than a third of the rows after step 0.
    const later = whole.indices.slice(8).map((g) => full.sampleAt(g).domain);
    expect(later.filter((d) => d === "c").length / later.length).toBeGreaterThan(0.4);

    const first = await createSampler({
      corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
      blockSize: 8, unit: "samples", seed: 5, mixer: factory,
    });
    const head = await run(first, made!, 5, 0);
    const saved = JSON.parse(JSON.stringify(first.state())) as SamplerState;
    expect(saved.mixer?.method).toBe("chaser");
    expect(saved.consumed).toBe(40);
    const resumed = await createSampler({
      corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
      blockSize: 8, unit: "samples", seed: 5, mixer: factory, state: saved,
    });
    const tail = await run(resumed, made!, 7, 5);
    expect([...head.indices, ...tail.indices]).toEqual(whole.indices);
    expect([...head.props, ...tail.props]).toEqual(whole.props);
    expect([...head.indices, ...tail.indices].map((g) => resumed.sampleAt(g).domain)).toEqual(
      whole.indices.map((g) => full.sampleAt(g).domain),
    );
  });

  it("a state is resumed only with its other half, and a mixer needs an explicit block size", async () => {
    const base = {
      corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
      blockSize: 8, unit: "samples" as const, seed: 5,
    };
    const mixer = createChaser(NAMES);
    const withMixer = await createSampler({ ...base, mixer });
    await run(withMixer, mixer, 2, 0);
    const s = withMixer.state();
    await expect(createSampler({ ...base, state: s })).rejects.toThrow(
      'state: mixer: expected a mixer to resume this state (it holds a "chaser" mixer\'s state), got none; ' +
        "pass mixer: the same factory or a mixer restored from state.mixer",
    );
    const plain = await createSampler(base);
    await expect(createSampler({ ...base, mixer: createChaser(NAMES), state: plain.state() })).rejects.toThrow(
      "state: mixer: expected a state saved with a mixer (sampler.state() of a sampler that had one), " +
        "got a state without a mixer's state",
    );
    // A fresh mixer is not the one of the checkpoint.
    await expect(createSampler({ ...base, mixer: createChaser(NAMES), state: s })).rejects.toThrow(
      "state: mixer: expected the chaser mixer restored from this state's mixer state, " +
        "got a chaser mixer in another state",
    );
    // The restored one is.
    await expect(
      createSampler({ ...base, mixer: createChaser(NAMES, {}, s.mixer as never), state: s }),
    ).resolves.toBeDefined();
    const { blockSize: _, ...noBlock } = base;
    await expect(createSampler({ ...noBlock, mixer: createChaser(NAMES) })).rejects.toThrow(
      "blockSize: expected the samples per optimizer step (global batch) or a divisor of it with an online mixer, " +
        "got none",
    );
    await expect(createSampler({ ...base, mixer: createChaser(["a", "b"]) })).rejects.toThrow(
      "mixer: domains: expected the corpus domains (a, b, c), got a, b",
    );
  });

  it("the mixer is asked for a batch only after the previous batch was observed", async () => {
    const seen: number[] = [];
    const inner = createChaser(NAMES);
    const spy: OnlineMixer = {
      ...inner,
      method: inner.method,
      domains: inner.domains,
      accepts: inner.accepts,
      proportions: () => (seen.push(inner.events), inner.proportions()),
      state: () => inner.state(),
    };
    const sampler = await createSampler({
      corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
      blockSize: 8, unit: "samples", seed: 1, mixer: spy,
    });
    await run(sampler, inner, 6, 0);
    // Block k is opened after k observations: no read-ahead past a batch.
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("two ranks fed the same merged stats agree on proportions and read the global stream once", async () => {
    const mixers = [createChaser(NAMES), createChaser(NAMES)];
    const ranks = await Promise.all(
      [0, 1].map((rank) =>
        createSampler({
          corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
          blockSize: 8, unit: "samples", seed: 9, rank, worldSize: 2, mixer: mixers[rank]!,
        }),
      ),
    );
    const its = ranks.map((s) => s.batches({ batchSize: 4, seqLen: 16 }));
    const all: number[] = [];
    const single = await createSampler({
      corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
      blockSize: 8, unit: "samples", seed: 9, mixer: createChaser(NAMES),
    });
    const one = single.batches({ batchSize: 8, seqLen: 16 });
    const oneMixer = single.onlineMixer as OnlineMixer;
    for (let step = 0; step < 10; step++) {
      const bs = await Promise.all(its.map(async (it) => (await it.next()).value as TokenBatch));
      for (const b of bs) all.push(...b.indexPerRow);
      const merged = mergeStats(bs.map(stats));
      for (const m of mixers) m.observe({ kind: "train", step, ...merged });
      expect(mixers[0]!.proportions()).toEqual(mixers[1]!.proportions());
      // The same run on one rank with the global batch: the same merged stats, the same proportions.
      const b1 = (await one.next()).value as TokenBatch;
      oneMixer.observe({ kind: "train", step, ...stats(b1) });
      expect(Object.values(oneMixer.proportions()).map((x) => x.toFixed(12))).toEqual(
        Object.values(mixers[0]!.proportions()).map((x) => x.toFixed(12)),
      );
      expect(bs.flatMap((b) => [...b.indexPerRow]).sort((x, y) => x - y)).toEqual([...b1.indexPerRow]);
    }
    expect(all.sort((x, y) => x - y)).toEqual(Array.from({ length: 80 }, (_, i) => i));
  });

  it(
    "ODM on two ranks (merged with mergeDomainStats) equals ODM on one rank; " +
      "a mid-run restore from sampler.state() continues it",
    async () => {
      const odm = (state?: OnlineMixerState) =>
        createOnlineMixer("odm", { domains: NAMES, seed: 4, options: { totalSteps: 40 }, ...(state ? { state } : {}) });
      const base = {
        corpus: corpus(), proportions: { a: 1 / 3, b: 1 / 3, c: 1 / 3 },
        blockSize: 8, unit: "samples" as const, seed: 9,
      };
      const single = await createSampler({ ...base, mixer: odm });
      const one = single.batches({ batchSize: 8, seqLen: 16 });
      let ranks = await Promise.all([0, 1].map((rank) => createSampler({ ...base, rank, worldSize: 2, mixer: odm })));
      let its = ranks.map((s) => s.batches({ batchSize: 4, seqLen: 16 }));
      const seen: number[] = [];
      for (let step = 0; step < 40; step++) {
        if (step === 25) {
          // Every rank saves its sampler (with the mixer inside) and resumes from it.
          const saved = ranks.map((s) => JSON.parse(JSON.stringify(s.state())) as SamplerState);
          for (const it of its) await it.return(undefined);
          ranks = await Promise.all(
            [0, 1].map((rank) => createSampler({ ...base, rank, worldSize: 2, mixer: odm, state: saved[rank]! })),
          );
          its = ranks.map((s) => s.batches({ batchSize: 4, seqLen: 16 }));
        }
        const bs = await Promise.all(its.map(async (it) => (await it.next()).value as TokenBatch));
        const perRank = bs.map((b) => {
          const st = stats(b);
            return {
              lossSum: Object.fromEntries(Object.keys(st.loss).map((d) => [d, st.loss[d]! * st.tokens[d]!])),
              tokens: st.tokens,
            };
        });
        const merged = mergeDomainStats(perRank);
        for (const r of ranks) (r.onlineMixer as OnlineMixer).observe({ kind: "train", step, ...merged });
        const b1 = (await one.next()).value as TokenBatch;
        (single.onlineMixer as OnlineMixer).observe({ kind: "train", step, ...stats(b1) });
        const p0 = (ranks[0]!.onlineMixer as OnlineMixer).proportions();
        expect((ranks[1]!.onlineMixer as OnlineMixer).proportions()).toEqual(p0);
        for (const d of NAMES) expect(p0[d]!).toBeCloseTo((single.onlineMixer as OnlineMixer).proportions()[d]!, 12);
        expect(bs.flatMap((b) => [...b.indexPerRow]).sort((x, y) => x - y)).toEqual([...b1.indexPerRow]);
        seen.push(...bs.flatMap((b) => [...b.indexPerRow]));
      }
      expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: 320 }, (_, i) => i));
      // ODM moved off uniform toward the hardest domain (c).
      const p = (single.onlineMixer as OnlineMixer).proportions();
      expect(p.c!).toBeGreaterThan(p.a!);
    },
  );
});
