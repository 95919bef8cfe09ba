// The one random number generator of mixlab: seeded, counter-based (Philox4x32-10), splittable,
// with a JSON-safe state. Every random choice in src/ and mixers/ flows from an Rng passed in
// explicitly; there is no global generator.

import { InputError } from "../errors.js";
import { philox4x32, philoxFill } from "./philox.js";

/** Saved generator state: restoring it continues the exact same stream. */
export interface RngState {
  readonly algorithm: "philox4x32-10";
  /** 64-bit key as two uint32 words. */
  readonly key: readonly [number, number];
  /** Number of 32-bit words consumed so far. */
  readonly counter: number;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;
/** Counter words beyond this would lose integer precision in a double. */
const MAX_COUNTER = 2 ** 52;
/** Words generated per refill (64 Philox blocks). */
const BUFFER_WORDS = 256;

/**
 * A seeded stream of random numbers. Words are produced in blocks of four from the counter, so
 * `getState()` is just (key, counter) and `rngFromState` resumes mid-block exactly.
 */
export class Rng {
  private readonly k0: number;
  private readonly k1: number;
  /** Words are served from a buffer of BUFFER_WORDS words starting at word `bufferStart`. */
  private bufferStart: number;
  private pos: number;
  private readonly buffer = new Uint32Array(BUFFER_WORDS);

  constructor(k0: number, k1: number, counter = 0) {
    this.k0 = k0 >>> 0;
    this.k1 = k1 >>> 0;
    // Align the buffer to a block so a restored state reproduces the same words.
    this.bufferStart = counter - (counter % 4);
    this.refill();
    this.pos = counter - this.bufferStart;
  }

  private refill(): void {
    if (this.bufferStart + BUFFER_WORDS > MAX_COUNTER)
      throw new Error("Rng: stream exhausted (2^52 words); split a new stream");
    philoxFill(this.bufferStart / 4, this.k0, this.k1, this.buffer);
    this.pos = 0;
  }

  /** Next uint32 in [0, 2^32). */
  nextUint32(): number {
    if (this.pos === BUFFER_WORDS) {
      this.bufferStart += BUFFER_WORDS;
      this.refill();
    }
    return this.buffer[this.pos++]!;
  }

  /** Words consumed so far. */
  private get counter(): number {
    return this.bufferStart + this.pos;
  }

  /**
   * Next float in (0, 1) from one 32-bit word: (x + 0.5) / 2^32. Never 0 or 1; 32 bits of
   * resolution, which is what samplers that take logs and powers need (and half the words).
   */
  nextUnit32(): number {
    if (this.pos === BUFFER_WORDS) {
      this.bufferStart += BUFFER_WORDS;
      this.refill();
    }
    return (this.buffer[this.pos++]! + 0.5) * 2.3283064365386963e-10;
  }

  /** Next float in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /** Next float in (0, 1): never exactly 0, for logs and powers. */
  nextOpen(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    return u;
  }

  /** Uniform integer in [0, n) without modulo bias; n ≤ 2^32. */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_32 && Number.isInteger(n)))
      throw new RangeError(`nextInt: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Standard normal deviate (Marsaglia polar method, one value per call, no cached spare). */
  nextNormal(): number {
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
    }
  }

  /** An independent copy at the same position. */
  clone(): Rng {
    return new Rng(this.k0, this.k1, this.counter);
  }

  /** JSON-safe state; `rngFromState(getState())` continues the same stream. */
  getState(): RngState {
    return { algorithm: "philox4x32-10", key: [this.k0, this.k1], counter: this.counter };
  }

  /**
   * A child stream whose key is derived from this key and `label`, without consuming anything
   * from this stream: `derive("proposals")` is the same generator whenever it is called. Give
   * each purpose its own label so one extra draw in one place does not shift the others.
   */
  derive(label: string | number): Rng {
    const h = typeof label === "number" ? label >>> 0 : hashString(label);
    const out = new Uint32Array(4);
    // Counter words 2 and 3 are never used by the stream itself (it counts in words 0–1), so
    // these blocks cannot collide with stream output.
    philox4x32(h, typeof label === "number" ? 1 : 2, 0xffffffff, 0x5eed5eed, this.k0, this.k1, out);
    return new Rng(out[0]! ^ out[2]!, out[1]! ^ out[3]!);
  }

  /** A child stream keyed by two words drawn from this stream (consumes two words). */
  split(): Rng {
    const a = this.nextUint32();
    const b = this.nextUint32();
    const out = new Uint32Array(4);
    philox4x32(a, b, 0x0badc0de, 0x5eed5eed, this.k0, this.k1, out);
    return new Rng(out[0]!, out[1]!);
  }

  /** Alias of `split()`, named as in pure-rand's jumpable generators. */
  jump(): Rng {
    return this.split();
  }

  /** Fills `out` with floats in [0, 1). */
  fill(out: Float64Array): Float64Array {
    for (let i = 0; i < out.length; i++) out[i] = this.next();
    return out;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array | Float64Array): typeof items {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t as never;
    }
    return items;
  }
}

/** 32-bit FNV-1a of a string's UTF-16 code units (for labels, not security). */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Creates the root generator for a seed.
 * @param seed a uint32 (0 … 4294967295)
 * @throws InputError when the seed is not a uint32
 */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InputError("seed", `expected an integer in [0, 4294967295], got ${seed}`);
  }
  return new Rng(seed, 0x6d69786c); // "mixl" in the high key word separates seeds from derived keys
}

/** Rebuilds a generator from `getState()`. */
export function rngFromState(state: RngState): Rng {
  if (state.algorithm !== "philox4x32-10") throw new InputError(
    "rng state",
    `expected algorithm "philox4x32-10", got ${JSON.stringify(state.algorithm)}`,
  );
  const [k0, k1] = state.key;
  if (!Number.isInteger(state.counter) || state.counter < 0) throw new InputError(
    "rng state",
    `counter: expected a non-negative integer, got ${state.counter}`,
  );
  return new Rng(k0, k1, state.counter);
}
