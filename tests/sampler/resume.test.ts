// Exact resumption over every public read path: take the state at a random cut, open a new
// sampler with it, and the concatenation equals the uninterrupted stream (same global indices,
// same data). Paths: samples, examples (random readAhead), batches (fast synchronous and general
// async), toTfDataset (real tfjs, cpu backend), workerIndices (+ advance). Corpora: Megatron
// token shards and JSONL text. Also: random ranks, batch sizes, a live setProportions, and a
// deterministic online mixer whose answer depends on what it observed, so a mixer asked early
// (before the loop fed it) changes the stream and fails the property.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as tf from "@tensorflow/tfjs";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createSampler,
  toTfDataset,
  type Sampler,
  type SamplerOptions,
  type SamplerState,
} from "../../src/sampler/sampler.js";
import { MemorySource, writeTokenShard } from "../../src/sampler/sources.js";
import { tmp } from "../helpers.js";

const DOMAINS = ["a", "b", "c"];
const SIZES = [7, 11, 5];
let root: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  root = tmp();
  mkdirSync(join(root, "shards"));
  mkdirSync(join(root, "jsonl"));
  for (let d = 0; d < DOMAINS.length; d++) {
    // Record r of domain d: tokens d·1000 + r, then 1…7 more so rows are cut or padded.
    const seqs = Array.from(
      { length: SIZES[d]! },
      (_, r) => Array.from({ length: 1 + ((r * 3 + d) % 8) }, (_, t) => d * 1000 + r + t),
    );
    await writeTokenShard(join(root, "shards", DOMAINS[d]!), seqs);
    const lines = Array.from(
      { length: SIZES[d]! },
      (_, r) => JSON.stringify({ text: `${DOMAINS[d]}${r}${"x".repeat(r % 4)}` }),
    );
    writeFileSync(join(root, "jsonl", `${DOMAINS[d]}.jsonl`), `${lines.join("\n")}\n`);
  }
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

const CHOICES = [
  { a: 0.7, b: 0.1, c: 0.2 },
  { a: 0.1, b: 0.6, c: 0.3 },
  { a: 0.25, b: 0.25, c: 0.5 },
];

/**
 * A deterministic online mixer: its answer is a function of how many samples it observed, so
 * the stream depends on when it is asked. It logs each consultation.
 */
class CountingMixer {
  readonly asked: number[] = [];
  constructor(public observed: number) {}
  observe(rows: number): void {
    this.observed += rows;
  }
  proportions(): Record<string, number> {
    this.asked.push(this.observed);
    return CHOICES[(Math.imul(this.observed + 1, 2654435761) >>> 0) % 3]!;
  }
}

/** The same mixer with a state, so the sampler's state checkpoints it (restored by a factory). */
class StatefulMixer extends CountingMixer {
  readonly method = "counting";
  readonly domains = DOMAINS;
  state() {
    const data = { observed: this.observed };
    return { format: "mixlab.online-mixer/v1", method: this.method, domains: this.domains, data };
  }
}

type Path = "samples" | "examples" | "batches" | "tf" | "workers";

interface Case {
  kind: "shards" | "jsonl";
  path: Path;
  blockSize: number;
  world: number;
  rank: number;
  batchSize: number;
  seqLen: number;
  readAhead: number;
  workers: number;
  units: number;
  cut: number;
  stageAt: number;
  mixer: boolean;
  /** The mixer's state travels inside the sampler's state (a factory restores it). */
  stateful: boolean;
  budget: number | null;
  seed: number;
}

/**
 * Reads delivery units [from, to) (a unit is a sample, an example or a batch) and returns one line
 * per sample. The live stage change is made inside the loop body right after unit `stageAt` is
 * delivered (or before the first read when a leg starts there), as a training loop would.
 */
async function leg(
  c: Case,
  opts: SamplerOptions,
  from: number,
  to: number,
  mixerOf: () => CountingMixer | null,
): Promise<{ lines: string[]; state: SamplerState }> {
  const s = await createSampler(opts);
  const out: string[] = [];
  let u = from;
  let changed = false;
  if (c.stageAt === from && from > 0 && from < to) {
    s.setProportions(CHOICES[1]!);
    changed = true;
  }
  /** Records a delivered unit; true when the leg is done. */
  const delivered = (lines: string[]): boolean => {
    out.push(...lines);
    mixerOf()?.observe(lines.length);
    u++;
    if (u === c.stageAt && u < to) {
      s.setProportions(CHOICES[1]!);
      changed = true;
    }
    return u >= to;
  };
  if (from < to) {
    if (c.path === "samples") {
      for (const x of s.samples()) {
        const r = await s.read(x);
        if (delivered(
          [`${x.index}|${x.domain}|${x.record}|${x.epoch}|${r.text ?? Array.from(r.tokens!).join(",")}`],
        )) break;
      }
    } else if (c.path === "examples") {
      for await (const x of s.examples({ readAhead: c.readAhead })) {
        if (delivered(
          [`${x.index}|${x.domain}|${x.record}|${x.epoch}|${x.text ?? Array.from(x.tokens!).join(",")}`],
        )) break;
      }
    } else if (c.path === "batches") {
      for await (const b of s.batches({ batchSize: c.batchSize, seqLen: c.seqLen, readAhead: c.readAhead })) {
        const rows = b.domainPerRow.length;
        const row = (i: number) => b.tokens.subarray(i * c.seqLen, (i + 1) * c.seqLen).join(",");
        const line = (i: number) => `${b.indexPerRow[i]}|${s.domains[b.domainPerRow[i]!]}|${row(i)}`;
        const lines = Array.from({ length: rows }, (_, i) => line(i));
        if (delivered(lines)) break;
      }
    } else if (c.path === "tf") {
      const options = { batchSize: c.batchSize, seqLen: c.seqLen, readAhead: c.readAhead };
      const ds = toTfDataset(s, tf, options) as tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>;
      const it = await ds.iterator();
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        const [rows, w] = r.value.xs.shape as [number, number];
        const xs = r.value.xs.dataSync();
        const ys = r.value.ys.dataSync();
        tf.dispose([r.value.xs, r.value.ys]);
        if (delivered(
          Array.from(
            { length: rows },
            (_, i) => `${Array.from(xs.subarray(i * w, (i + 1) * w)).join(",")},${ys[(i + 1) * w - 1]}`,
          ),
        )) break;
      }
    } else {
      // A loader with K workers: worker w reads this rank's samples w, w + K, …; the main loop
      // takes them round-robin and marks each as delivered. After a stage change the loader
      // restarts its workers (what they read ahead followed the old proportions).
      let its = Array.from({ length: c.workers }, (_, w) => s.workerIndices(w, c.workers));
      for (let t = 0; ; t++) {
        const n = its[t % c.workers]!.next();
        if (n.done) break;
        const x = s.sampleAt(n.value);
        const r = await s.read(x);
        s.advance(1);
        changed = false;
        if (delivered([`${x.index}|${x.domain}|${x.record}|${r.text ?? Array.from(r.tokens!).join(",")}`])) break;
        if (changed) {
          its = Array.from({ length: c.workers }, (_, w) => s.workerIndices(w, c.workers));
          t = -1;
        }
      }
    }
  }
  const state = s.state();
  await s.close();
  return { lines: out, state };
}

const arbCase = fc
  .record({
    kind: fc.constantFrom<"shards" | "jsonl">("shards", "jsonl"),
    path: fc.constantFrom<Path>("samples", "examples", "batches", "tf", "workers"),
    blockSize: fc.integer({ min: 3, max: 12 }),
    world: fc.integer({ min: 1, max: 3 }),
    rankSeed: fc.nat(),
    batchSize: fc.integer({ min: 1, max: 6 }),
    seqLen: fc.integer({ min: 2, max: 6 }),
    readAhead: fc.integer({ min: 1, max: 24 }),
    workers: fc.integer({ min: 1, max: 3 }),
    unitsSeed: fc.nat(),
    cutSeed: fc.nat(),
    stageSeed: fc.nat(),
    mixer: fc.boolean(),
    stateful: fc.boolean(),
    budget: fc.option(fc.integer({ min: 5, max: 90 }), { nil: null }),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .map((r): Case => {
    const perUnit = r.path === "batches" || r.path === "tf" ? r.batchSize : 1;
    const units = 1 + (r.unitsSeed % Math.ceil(40 / perUnit));
    return {
      ...r,
      // With a mixer the block size is a multiple of the world size (createSampler requires it).
      blockSize: r.mixer && r.path !== "workers" ? r.world * Math.max(
        1,
        Math.round(r.blockSize / r.world),
      ) : r.blockSize,
      rank: r.rankSeed % r.world,
      units,
      cut: r.cutSeed % (units + 1),
      // No change, a change anywhere, or (half the cases) one just before the cut, so that
      // read-ahead made under the old proportions is live when the state is taken.
      stageAt: [units + 1, r.stageSeed % (units + 1)][r.stageSeed % 4] ?? Math.max(
        1,
        (r.cutSeed % (units + 1)) - ((r.stageSeed >> 2) % 3),
      ),
      mixer: r.mixer && r.path !== "workers",
    };
  });

describe("exact resumption on every read path", () => {
  it("state at any cut → new sampler → the concatenation equals the uninterrupted stream", async () => {
    await fc.assert(
      fc.asyncProperty(arbCase, async (c) => {
        const base: SamplerOptions = {
          corpus: join(root, c.kind),
          proportions: { a: 0.5, b: 0.3, c: 0.2 },
          blockSize: c.blockSize,
          rank: c.rank,
          worldSize: c.world,
          seed: c.seed,
          warn: () => {},
          ...(c.budget !== null ? { budgetSamples: c.budget } : {}),
        };
        const make = (observed: number) => (c.stateful ? new StatefulMixer(observed) : new CountingMixer(observed));
        const m0 = c.mixer ? make(0) : null;
        const whole = await leg(c, { ...base, ...(m0 ? { mixer: m0 } : {}) }, 0, c.units, () => m0);
        const m1 = c.mixer ? make(0) : null;
        const first = await leg(c, { ...base, ...(m1 ? { mixer: m1 } : {}) }, 0, c.cut, () => m1);
        const state = JSON.parse(JSON.stringify(first.state)) as SamplerState;
        // Resume: a stateless mixer is rebuilt by hand; a stateful one by a factory from state.mixer.
        let m2: CountingMixer | null = null;
        const restore = (saved?: { data: Record<string, unknown> }) =>
          (m2 = new StatefulMixer(Number(saved?.data.observed)));
        const mixer2 = !c.mixer
          ? {}
          : c.stateful
            ? { mixer: restore }
            : { mixer: (m2 = new CountingMixer(m1!.observed)) };
        const second = await leg(c, { ...base, state, ...mixer2 }, c.cut, c.units, () => m2);
        if (c.mixer && c.stateful) expect(state.mixer?.data).toEqual({ observed: m1!.observed });
        expect([...first.lines, ...second.lines]).toEqual(whole.lines);
        // The state counts what was delivered: global samples = this rank's lines × W.
        expect(first.state.consumed).toBe(first.lines.length * c.world);
        expect(whole.state.consumed).toBe(whole.lines.length * c.world);
        if (m0) {
          // The mixer is asked only once everything before the block's first sample was delivered
          // (for batches: every earlier batch), never ahead of the loop.
          const per = c.path === "batches" || c.path === "tf" ? c.batchSize : 1;
          const want: number[] = [];
          let last = -1;
          for (let t = 0; t < whole.lines.length; t++) {
            const g = c.rank + t * c.world;
            const b = Math.floor(g / c.blockSize);
            if (b !== last) want.push(Math.floor(t / per) * per);
            last = b;
          }
          expect(m0.asked).toEqual(want);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("what the state counts", () => {
  it("the README's loop: after 3 batches of 4 the state is at sample 12 and a resume starts there", async () => {
    for (const kind of ["jsonl", "shards"]) {
      const opts: SamplerOptions = {
        corpus: join(root, kind),
        proportions: { a: 0.5, b: 0.3, c: 0.2 },
        blockSize: 8,
        seed: 4,
      };
      const s = await createSampler(opts);
      let state: SamplerState | undefined;
      const seen: number[] = [];
      let n = 0;
      for await (const batch of s.batches({ batchSize: 4, seqLen: 8 })) {
        seen.push(...batch.indexPerRow);
        state = s.state();
        if (++n === 3) break;
      }
      expect(state!.consumed).toBe(12);
      const r = await createSampler({ ...opts, state: state! });
      const next = await r.batches({ batchSize: 4, seqLen: 8 }).next();
      expect([...seen, ...next.value!.indexPerRow]).toEqual(Array.from({ length: 16 }, (_, i) => i));
    }
  });

  it("a read that fails inside a batch: the state counts only the batches delivered", async () => {
    const ok = Array.from({ length: 30 }, (_, i) => ({ text: `record ${i}` }));
    const failing = new MemorySource(ok, "flaky.jsonl");
    const read = failing.read.bind(failing);
    let armed = false; // lengths are measured at creation; the read fails afterwards
    failing.read = async (i: number) => {
      if (armed && i === 13) throw new Error("disk went away");
      return read(i);
    };
    const opts = { proportions: { flaky: 1 }, blockSize: 30, seed: 1 };
    const s = await createSampler({ ...opts, corpus: { names: ["flaky"], sources: [failing] } });
    armed = true;
    const plain = await createSampler({ ...opts, corpus: { names: ["flaky"], sources: [new MemorySource(ok)] } });
    const order = [...plain.samples(30)];
    const at = order.findIndex((x) => x.record === 13);
    let delivered = 0;
    await expect(
      (async () => {
        for await (const b of s.batches({ batchSize: 4, seqLen: 8 })) delivered += b.domainPerRow.length;
      })(),
    ).rejects.toThrow("disk went away");
    expect(delivered).toBe(Math.floor(at / 4) * 4);
    expect(s.state().consumed).toBe(delivered);
  });

  it("examples: read-ahead does not move the state; a rank counts W global samples per delivery", async () => {
    const s = await createSampler(
      { corpus: join(root, "jsonl"), proportions: { a: 0.5, b: 0.3, c: 0.2 }, blockSize: 8, rank: 1, worldSize: 3 },
    );
    const it = s.examples({ readAhead: 10 });
    expect((await it.next()).value!.index).toBe(1);
    expect(s.state().consumed).toBe(3);
    expect((await it.next()).value!.index).toBe(4);
    expect(s.state().consumed).toBe(6);
  });

  it("an online mixer is asked for a block only after everything before it was delivered", async () => {
    const mixer = new CountingMixer(0);
    const s = await createSampler(
      { corpus: join(root, "jsonl"), proportions: { a: 0.5, b: 0.3, c: 0.2 }, blockSize: 4, mixer },
    );
    let n = 0;
    for await (const ex of s.examples({ readAhead: 16 })) {
      mixer.observe(1);
      if (ex.index === 9) break;
      n++;
    }
    // Blocks 0, 1, 2 open at samples 0, 4, 8: asked with 0, 4 and 8 samples observed.
    expect(mixer.asked).toEqual([0, 4, 8]);
    expect(n).toBe(9);
  });

  it("ranks with one online mixer each (answering by step) draw one consistent global stream", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(99),
        async (W, k, seed) => {
          const B = W * k;
          const steps = 5 * k + 3;
          const ranks = [];
          for (let r = 0; r < W; r++) {
            const mixer = new CountingMixer(0);
            const s = await createSampler(
              { corpus: join(root, "shards"), proportions: {
                a: 0.5,
                b: 0.3,
                c: 0.2,
              }, blockSize: B, rank: r, worldSize: W, seed, mixer, warn: () => {} },
            );
            const got = [];
            for (const x of s.samples(steps)) {
              got.push(x);
              mixer.observe(1); // one training step
            }
            ranks.push({ got, state: s.state() });
          }
          // Every rank recorded the same live stages; the global stream is a partition: each
          // domain's indices over whole blocks are 0…n−1, each once.
          for (const r of ranks) expect(r.state).toEqual(ranks[0]!.state);
          const all = ranks.flatMap((r) => r.got).filter((x) => x.index < Math.floor((steps * W) / B) * B);
          expect(all.map((x) => x.index).sort((a, b) => a - b)).toEqual(all.map((_, i) => i));
          for (const d of DOMAINS) {
            const idx = all.filter((x) => x.domain === d).map((x) => x.domainIndex).sort((a, b) => a - b);
            expect(idx).toEqual(idx.map((_, i) => i));
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it("refuses what it cannot do exactly, naming why", async () => {
    const opts: SamplerOptions = {
      corpus: join(root, "shards"),
      proportions: { a: 0.5, b: 0.3, c: 0.2 },
      blockSize: 4,
    };
    await expect(
      createSampler({ ...opts, worldSize: 8, rank: 0, mixer: new CountingMixer(0) }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: blockSize: expected a multiple of worldSize (8) with an online mixer, so every rank asks it at the same step of every block, got 4]`,
    );
    const m = await createSampler({ ...opts, mixer: new CountingMixer(0) });
    expect(() => m.workerIndices(0, 2)).toThrowErrorMatchingInlineSnapshot(
      `[UnsupportedError: workerIndices: an online mixer decides each block when its first sample is read; read through samples(), examples() or batches()]`,
    );
    expect(() => m.advance(1)).toThrowErrorMatchingInlineSnapshot(
      `[UnsupportedError: advance: an online mixer decides each block when its first sample is read; read through samples(), examples() or batches()]`,
    );
    const s = await createSampler({ ...opts, budgetSamples: 10 });
    expect(() => s.advance(11)).toThrowErrorMatchingInlineSnapshot(
      `[InputError: advance: expected at most the 10 samples left to this rank, got 11]`,
    );
    expect(() => s.advance(-1)).toThrowErrorMatchingInlineSnapshot(
      `[InputError: advance: expected an integer ≥ 0, got -1]`,
    );
    expect(() => s.workerIndices(2, 2)).toThrowErrorMatchingInlineSnapshot(
      `[InputError: worker: expected an integer in [0, 2), got 2]`,
    );
    await expect(s.examples({ readAhead: 0 }).next()).rejects.toThrowErrorMatchingInlineSnapshot(
      `[InputError: readAhead: expected an integer ≥ 1, got 0]`,
    );
    expect(() => toTfDataset(s, tf, { batchSize: 2, seqLen: 1 })).toThrowErrorMatchingInlineSnapshot(
      `[InputError: seqLen: expected an integer ≥ 2 (inputs and next-token targets), got 1]`,
    );
  });
});
