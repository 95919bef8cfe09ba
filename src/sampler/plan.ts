// The sampler's plan: a pure function from a global sample index to (domain, index within the
// domain, record, epoch). Samples come in blocks of B; a stage fixes each domain's count per block
// by largest-remainder apportionment of its sample share; inside a block the order is a seeded
// permutation keyed by (seed, stage, block) — a Feistel network on the B positions — (or
// Megatron's smoothest greedy-deficit order); a
// domain's j-th sample is record σ_e(j mod n) of epoch e = ⌊j / n⌋, where σ_e is a keyed Feistel
// permutation of the domain's n records. Nothing is replayed: memory is O(domains + B) whatever
// the corpus size, and resuming is one integer.
//
// References: MosaicML Streaming's exact per-stream sample counts; Megatron-LM's blended dataset
// (greedy deficit order); Black & Rogaway, "Ciphers with arbitrary finite domains" (cycle-walking
// Feistel permutations).

import { philox4x32 } from "../rng/philox.js";
import { InputError } from "../errors.js";
import { apportion } from "../core/simplex.js";

export { apportion };

/** A stage of the schedule; proportions are in domain order. */
export interface StageSpec {
  /** The stage ends once this many samples (global) were drawn; omit on the last stage. */
  readonly untilSamples?: number;
  /** … or once about this many tokens were drawn (rounded up to a whole block). */
  readonly untilTokens?: number;
  readonly proportions: Float64Array;
}

/** Everything a plan depends on. */
export interface PlanSpec {
  readonly domains: readonly string[];
  /** Records per domain. */
  readonly recordsPerDomain: Float64Array;
  /** Mean tokens per record, per domain (for token-unit proportions and token budgets). */
  readonly tokensPerRecord: Float64Array;
  readonly stages: readonly StageSpec[];
  readonly seed: number;
  /** Samples per block (default 1024). */
  readonly blockSize: number;
  /** Proportions are shares of tokens (default) or of samples. */
  readonly unit: "tokens" | "samples";
  /** Order inside a block: seeded permutation (default) or Megatron's greedy deficit order. */
  readonly order: "shuffle" | "smooth";
}

/** A resolved stage. */
export interface Stage {
  /** First global sample (a multiple of B). */
  readonly start: number;
  /** One past the last global sample (a multiple of B), or Infinity. */
  end: number;
  /** Requested proportions (in `unit`). */
  readonly proportions: Float64Array;
  /** Samples per block, per domain (sums to B). */
  readonly counts: Int32Array;
  /** First slot of each domain inside a block. */
  readonly slotOffset: Int32Array;
  /** Domain of each slot, (B). */
  readonly slotDomain: Uint16Array;
  /** Smooth order only: domain and rank-in-block of each position, (B). */
  readonly smoothDomain: Uint16Array | null;
  readonly smoothRank: Int32Array | null;
  /** Samples of each domain drawn before this stage. */
  readonly domainBase: Float64Array;
  /** Where this stage came from: the schedule, or a live `setProportions`. */
  readonly origin: "schedule" | "live";
}

/** Where a global sample index lands. */
export interface Location {
  domain: number;
  /** j: the domain's sample count before this one (across epochs). */
  domainIndex: number;
  /** The record read: σ_epoch(j mod n). */
  record: number;
  epoch: number;
}

/** Sample shares from proportions: tokens → samples divides by mean record length. */
export function sampleShares(p: Float64Array, tokensPerRecord: Float64Array, unit: "tokens" | "samples"): Float64Array {
  const k = p.length;
  const q = new Float64Array(k);
  let s = 0;
  for (let i = 0; i < k; i++) {
    q[i] = unit === "tokens" ? (p[i]! > 0 ? p[i]! / tokensPerRecord[i]! : 0) : p[i]!;
    s += q[i]!;
  }
  for (let i = 0; i < k; i++) q[i] = q[i]! / s;
  return q;
}

/** Megatron's blending order: at each position, the domain furthest behind its target count. */
function smoothOrder(counts: Int32Array, B: number): { domain: Uint16Array; rank: Int32Array } {
  const k = counts.length;
  const domain = new Uint16Array(B);
  const rank = new Int32Array(B);
  const drawn = new Int32Array(k);
  for (let pos = 0; pos < B; pos++) {
    let best = -1;
    let bestErr = -Infinity;
    for (let d = 0; d < k; d++) {
      if (drawn[d]! >= counts[d]!) continue;
      const err = ((pos + 1) * counts[d]!) / B - drawn[d]!;
      if (err > bestErr) {
        bestErr = err;
        best = d;
      }
    }
    domain[pos] = best;
    rank[pos] = drawn[best]!++;
  }
  return { domain, rank };
}

/** Builds a stage starting at `start` with the given proportions. */
export function makeStage(
  spec: PlanSpec,
  proportions: Float64Array,
  start: number,
  domainBase: Float64Array,
  origin: "schedule" | "live",
): Stage {
  const B = spec.blockSize;
  const q = sampleShares(proportions, spec.tokensPerRecord, spec.unit);
  const counts = apportion(q, B);
  const slotOffset = new Int32Array(counts.length);
  const slotDomain = new Uint16Array(B);
  let off = 0;
  for (let d = 0; d < counts.length; d++) {
    slotOffset[d] = off;
    slotDomain.fill(d, off, off + counts[d]!);
    off += counts[d]!;
  }
  const smooth = spec.order === "smooth" ? smoothOrder(counts, B) : null;
  return {
    start,
    end: Infinity,
    proportions,
    counts,
    slotOffset,
    slotDomain,
    smoothDomain: smooth?.domain ?? null,
    smoothRank: smooth?.rank ?? null,
    domainBase,
    origin,
  };
}

/** Tokens in one block of a stage (by mean record lengths). */
export function tokensPerBlock(stage: Stage, tokensPerRecord: Float64Array): number {
  let t = 0;
  for (let d = 0; d < stage.counts.length; d++) t += stage.counts[d]! * tokensPerRecord[d]!;
  return t;
}

/** Resolves the schedule into stages with block-aligned boundaries. */
export function resolveStages(spec: PlanSpec): Stage[] {
  const B = spec.blockSize;
  const k = spec.domains.length;
  const stages: Stage[] = [];
  let start = 0;
  let base = new Float64Array(k);
  spec.stages.forEach((s, i) => {
    const st = makeStage(spec, s.proportions, start, base, "schedule");
    const last = i === spec.stages.length - 1;
    if (s.untilSamples !== undefined || s.untilTokens !== undefined) {
      let end: number;
      if (s.untilSamples !== undefined) end = Math.ceil(s.untilSamples / B) * B;
      else {
        const tokensBefore = stages.reduce(
          (a, x) => a + ((x.end - x.start) / B) * tokensPerBlock(x, spec.tokensPerRecord),
          0,
        );
        end = start + Math.ceil(
          Math.max(0, s.untilTokens! - tokensBefore) / tokensPerBlock(st, spec.tokensPerRecord),
        ) * B;
      }
      if (end <= start) {
        const until = s.untilSamples !== undefined ? `${s.untilSamples} samples` : `${s.untilTokens} tokens`;
        throw new InputError(
          `stage ${i + 1}`,
          `expected its end (${until}) after the previous stage's (${start} samples), got one at or before it`,
        );
      }
      st.end = end;
    } else if (!last) {
      throw new InputError(
        `stage ${i + 1}`,
        "expected untilSamples or untilTokens on every stage but the last, got neither",
      );
    }
    stages.push(st);
    if (Number.isFinite(st.end)) {
      const nb = (st.end - st.start) / B;
      const next = new Float64Array(k);
      for (let d = 0; d < k; d++) next[d] = base[d]! + nb * st.counts[d]!;
      base = next;
      start = st.end;
    }
  });
  return stages;
}

// ---------------------------------------------------------------------------------------------
// Keyed permutations.


/**
 * A keyed pseudo-random permutation of [0, n): a 4-round Feistel network on the smallest number
 * of bits w covering n, split into halves of ⌈w/2⌉ and ⌊w/2⌋ bits (unbalanced when w is odd; the
 * halves swap roles each round, so an even number of rounds keeps it a bijection), with cycle
 * walking: values ≥ n are encrypted again, at most 2 walks on average since 2^w < 2n. Integer
 * operations only for n ≤ 2^32; O(1) memory.
 */
export class FeistelPermutation {
  // Keys, shifts and masks are stored as int32 so V8 keeps them as small integers.
  private readonly b: number;
  private readonly sa: number;
  private readonly sb: number;
  private readonly ma: number;
  private readonly mb: number;
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;
  private readonly wide: boolean;
  constructor(
    readonly n: number,
    key: Uint32Array,
  ) {
    if (n > 2 ** 32) throw new RangeError(`FeistelPermutation: n must be at most 2^32, got ${n}`);
    let bits = 2;
    while (2 ** bits < n) bits++;
    const a = Math.ceil(bits / 2);
    const b = bits - a;
    this.b = b;
    this.sa = 32 - a;
    this.sb = 32 - b;
    this.ma = a === 32 ? -1 : (1 << a) - 1;
    this.mb = b === 32 ? -1 : (1 << b) - 1;
    this.k0 = key[0]! | 0;
    this.k1 = key[1]! | 0;
    this.k2 = key[2]! | 0;
    this.k3 = key[3]! | 0;
    this.wide = bits > 31;
  }

  at(i: number): number {
    const n = this.n;
    if (n <= 1) return 0;
    if (this.wide) return this.atWide(i);
    const { b, sa, sb, ma, mb, k0, k1, k2, k3 } = this;
    let x = i | 0;
    do {
      let l = x >>> b;
      let r = x & mb;
      // Round function: the top bits of a keyed multiplicative hash (they depend on every input bit).
      l = (l ^ (Math.imul(r ^ k0, 0x9e3779b1) >>> sa)) & ma;
      r = (r ^ (Math.imul(l ^ k1, 0x85ebca6b) >>> sb)) & mb;
      l = (l ^ (Math.imul(r ^ k2, 0xc2b2ae35) >>> sa)) & ma;
      r = (r ^ (Math.imul(l ^ k3, 0x27d4eb2f) >>> sb)) & mb;
      x = (l << b) | r;
    } while (x >= n);
    return x;
  }

  /** The same network for 32-bit domains (n > 2^31), in float arithmetic. */
  private atWide(i: number): number {
    const { b, sa, sb, ma, mb, k0, k1, k2, k3, n } = this;
    const p = 2 ** b;
    let x = i;
    do {
      let l = Math.floor(x / p) >>> 0;
      let r = (x % p) >>> 0;
      l = ((l ^ (Math.imul(r ^ k0, 0x9e3779b1) >>> sa)) & ma) >>> 0;
      r = ((r ^ (Math.imul(l ^ k1, 0x85ebca6b) >>> sb)) & mb) >>> 0;
      l = ((l ^ (Math.imul(r ^ k2, 0xc2b2ae35) >>> sa)) & ma) >>> 0;
      r = ((r ^ (Math.imul(l ^ k3, 0x27d4eb2f) >>> sb)) & mb) >>> 0;
      x = l * p + r;
    } while (x >= n);
    return x;
  }
}

/** The plan: stages plus the index map. */
export class Plan {
  readonly stages: Stage[];
  private readonly k0: number;
  private readonly k1: number;
  /** The current block, resolved: domain and index within the domain of each position, (B). */
  private readonly blockDomain: Uint16Array;
  private readonly blockIndex: Float64Array;
  private readonly blockKey = new Uint32Array(4);
  private readonly baseScratch: Float64Array;
  private permStage = -1;
  private permBlock = -1;
  /** The stage of the last lookup (sequential reads stay in one stage). */
  private curStage = 0;
  private readonly epochPerms: (FeistelPermutation | null)[];
  private readonly epochOf: Float64Array;

  constructor(readonly spec: PlanSpec) {
    this.stages = resolveStages(spec);
    this.blockDomain = new Uint16Array(spec.blockSize);
    this.blockIndex = new Float64Array(spec.blockSize);
    this.baseScratch = new Float64Array(spec.domains.length);
    const out = new Uint32Array(4);
    philox4x32(spec.seed >>> 0, 0x706c616e /* "plan" */, 0, 0, spec.seed >>> 0, 0x6d69786c, out);
    this.k0 = out[0]!;
    this.k1 = out[1]!;
    this.epochPerms = new Array(spec.domains.length).fill(null);
    this.epochOf = new Float64Array(spec.domains.length).fill(-1);
  }

  /** The stage holding global sample g. */
  stageAt(g: number): number {
    const s = this.stages;
    for (let i = s.length - 1; i > 0; i--) if (g >= s[i]!.start) return i;
    return 0;
  }

  /**
   * Appends a live stage at the first block boundary ≥ `from` with new proportions; later
   * scheduled stages are replaced. Returns the new stage.
   */
  appendStage(proportions: Float64Array, from: number): Stage {
    const B = this.spec.blockSize;
    const start = Math.ceil(from / B) * B;
    while (this.stages.length > 1 && this.stages[this.stages.length - 1]!.start >= start) this.stages.pop();
    this.permStage = -1; // stage indices may now refer to other stages
    this.curStage = 0;
    const prev = this.stages[this.stages.length - 1]!;
    if (prev.start >= start) {
      // Replacing the first stage from its very start.
      this.stages.pop();
      const st = makeStage(this.spec, proportions, start, new Float64Array(this.spec.domains.length), "live");
      this.stages.push(st);
      return st;
    }
    prev.end = start;
    const nb = (start - prev.start) / B;
    const base = new Float64Array(prev.counts.length);
    for (let d = 0; d < base.length; d++) base[d] = prev.domainBase[d]! + nb * prev.counts[d]!;
    const st = makeStage(this.spec, proportions, start, base, "live");
    this.stages.push(st);
    return st;
  }

  /**
   * Writes the domain and index within the domain of global sample g into `out` (not the record:
   * see `locate`). The hot path of the index map: no allocation.
   */
  locateDomain(g: number, out: Location): Location {
    const B = this.spec.blockSize;
    let si = this.curStage;
    let st = this.stages[si]!;
    if (si < 0 || g < st.start || g >= st.end) {
      const stages = this.stages;
      si = stages.length - 1;
      while (si > 0 && g < stages[si]!.start) si--;
      st = stages[si]!;
      this.curStage = si;
    }
    const rel = g - st.start;
    const b = rel < 2147483648 ? ((rel / B) | 0) : Math.floor(rel / B);
    const r = rel - b * B;
    if (b !== this.permBlock || si !== this.permStage) this.fillBlock(si, b);
    out.domain = this.blockDomain[r]!;
    out.domainIndex = this.blockIndex[r]!;
    return out;
  }

  /**
   * Maps `count` global indices start, start + stride, … in bulk into `outDomain` and
   * `outDomainIndex` (and, when given, `outRecord`), walking block by block: the fast path of a
   * data loader. Equals calling `locate` on each index.
   */
  mapRange(
    start: number,
    count: number,
    stride: number,
    outDomain: Uint16Array | Int32Array,
    outDomainIndex: Float64Array,
    outRecord?: Float64Array,
  ): void {
    const B = this.spec.blockSize;
    let g = start;
    let i = 0;
    while (i < count) {
      // Find the stage and block of g.
      let si = this.curStage;
      let st = this.stages[si]!;
      if (g < st.start || g >= st.end) {
        si = this.stages.length - 1;
        while (si > 0 && g < this.stages[si]!.start) si--;
        st = this.stages[si]!;
        this.curStage = si;
      }
      const b = Math.floor((g - st.start) / B);
      const blockStart = st.start + b * B;
      const blockEnd = Math.min(blockStart + B, st.end);
      const r0 = g - blockStart;
      if (stride === 1) {
        // Resolve straight into the output: no table, no copy.
        const n = Math.min(count - i, blockEnd - g);
        this.resolveRun(si, b, r0, r0 + n, outDomain, outDomainIndex, i);
        i += n;
        g += n;
        continue;
      }
      if (b !== this.permBlock || si !== this.permStage) this.fillBlock(si, b);
      const dom = this.blockDomain;
      const idx = this.blockIndex;
      for (let r = r0; i < count && g < blockEnd; i++, g += stride, r += stride) {
        outDomain[i] = dom[r]!;
        outDomainIndex[i] = idx[r]!;
      }
    }
    if (outRecord) {
      const n = this.spec.recordsPerDomain;
      for (let j = 0; j < count; j++) {
        const d = outDomain[j]!;
        const dj = outDomainIndex[j]!;
        const nd = n[d]!;
        const epoch = Math.floor(dj / nd);
        const perm = this.epochOf[d] === epoch ? this.epochPerms[d]! : this.epochPermutation(d, epoch);
        outRecord[j] = perm.at(dj - epoch * nd);
      }
    }
  }

  /** Writes the full position of global sample g (domain, index, epoch, record) into `out`. */
  locate(g: number, out: Location): Location {
    this.locateDomain(g, out);
    const d = out.domain;
    const j = out.domainIndex;
    const n = this.spec.recordsPerDomain[d]!;
    const epoch = Math.floor(j / n);
    out.epoch = epoch;
    out.record = (this.epochOf[d] === epoch ? this.epochPerms[d]! : this.epochPermutation(d, epoch)).at(j - epoch * n);
    return out;
  }

  /** Resolves block b of stage si into the block tables (for single lookups and strided runs). */
  private fillBlock(si: number, b: number): void {
    this.resolveRun(si, b, 0, this.spec.blockSize, this.blockDomain, this.blockIndex, 0);
    this.permStage = si;
    this.permBlock = b;
  }

  /**
   * Resolves positions [r0, r1) of block b of stage si into out arrays from `at`: position r →
   * slot π(r) (a 4-round Feistel network on the B positions keyed by (seed, stage, block), or the
   * smooth order) → domain and its index within the domain.
   */
  private resolveRun(
    si: number,
    b: number,
    r0: number,
    r1: number,
    outD: Uint16Array | Int32Array,
    outI: Float64Array,
    at: number,
  ): void {
    const st = this.stages[si]!;
    const B = this.spec.blockSize;
    const k = st.counts.length;
    const base = this.baseScratch;
    for (let d = 0; d < k; d++) base[d] = st.domainBase[d]! + b * st.counts[d]!;
    if (st.smoothDomain !== null) {
      for (let r = r0, o = at; r < r1; r++, o++) {
        const d = st.smoothDomain[r]!;
        outD[o] = d;
        outI[o] = base[d]! + st.smoothRank![r]!;
      }
      return;
    }
    philox4x32(b >>> 0, Math.floor(b / 4294967296) >>> 0, si, 0x626c6f63 /* "bloc" */, this.k0, this.k1, this.blockKey);
    const slotDomain = st.slotDomain;
    const slotOffset = st.slotOffset;
    // A 3-round version of FeistelPermutation's network, inlined (B ≤ 2^20, so the integer path).
    // Each round XORs one half with a keyed function of the other, so any number of rounds is a
    // bijection; three is Luby–Rackoff's bound for a pseudo-random permutation.
    let bits = 2;
    while (1 << bits < B) bits++;
    const ha = Math.ceil(bits / 2);
    const hb = bits - ha;
    const sa = 32 - ha;
    const sb = 32 - hb;
    const ma = (1 << ha) - 1;
    const mb = (1 << hb) - 1;
    const k0 = this.blockKey[0]! | 0;
    const k1 = this.blockKey[1]! | 0;
    const k2 = this.blockKey[2]! | 0;
    for (let r = r0, o = at; r < r1; r++, o++) {
      let x = r;
      do {
        let l = x >>> hb;
        let rr = x & mb;
        l = (l ^ (Math.imul(rr ^ k0, 0x9e3779b1) >>> sa)) & ma;
        rr = (rr ^ (Math.imul(l ^ k1, 0x85ebca6b) >>> sb)) & mb;
        l = (l ^ (Math.imul(rr ^ k2, 0xc2b2ae35) >>> sa)) & ma;
        x = (l << hb) | rr;
      } while (x >= B);
      const d = slotDomain[x]!;
      outD[o] = d;
      outI[o] = base[d]! + (x - slotOffset[d]!);
    }
  }

  /** The permutation of domain d's records in epoch e (the last one per domain is cached). */
  epochPermutation(d: number, e: number): FeistelPermutation {
    if (this.epochOf[d] === e) return this.epochPerms[d]!;
    const key = new Uint32Array(4);
    philox4x32(e >>> 0, Math.floor(e / 4294967296) >>> 0, d, 0x65706f63 /* "epoc" */, this.k0, this.k1, key);
    const p = new FeistelPermutation(this.spec.recordsPerDomain[d]!, key);
    this.epochPerms[d] = p;
    this.epochOf[d] = e;
    return p;
  }

  /** Samples each domain gets in [0, upTo) (exact, from the stage counts). */
  samplesPerDomain(upTo: number): Float64Array {
    const k = this.spec.domains.length;
    const B = this.spec.blockSize;
    const out = new Float64Array(k);
    for (const st of this.stages) {
      if (upTo <= st.start) break;
      const stop = Math.min(upTo, st.end);
      const full = Math.floor((stop - st.start) / B);
      for (let d = 0; d < k; d++) out[d] = out[d]! + full * st.counts[d]!;
      const partial = stop - st.start - full * B;
      if (partial > 0) {
        // Count the partial block exactly.
        const loc: Location = { domain: 0, domainIndex: 0, record: 0, epoch: 0 };
        for (let g = st.start + full * B; g < stop; g++) out[this.locate(g, loc).domain]!++;
      }
    }
    return out;
  }
}
