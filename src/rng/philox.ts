// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator. Output block b under key k is a pure function of (k, b), so a stream
// can be saved as (key, counter), jumped anywhere in O(1), and split into independent keys.
// Checked against the Random123 known-answer vectors in tests/rng/philox.test.ts.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const M0_HI = M0 >>> 16;
const M0_LO = M0 & 0xffff;
const M1_HI = M1 >>> 16;
const M1_LO = M1 & 0xffff;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/**
 * Computes one Philox4x32-10 block into `out` (4 uint32 words).
 * @param c0..c3 the 128-bit counter as four uint32 words, least significant first
 * @param k0,k1 the 64-bit key
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let a = k0 >>> 0;
  let b = k1 >>> 0;
  for (let r = 0; r < 10; r++) {
    // 32×32 → 64-bit products via 16-bit halves (exact in doubles).
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi0 = mulhi(x0, M0_HI, M0_LO);
    const lo1 = Math.imul(M1, x2) >>> 0;
    const hi1 = mulhi(x2, M1_HI, M1_LO);
    const y0 = (hi1 ^ x1 ^ a) >>> 0;
    const y2 = (hi0 ^ x3 ^ b) >>> 0;
    x0 = y0;
    x1 = lo1;
    x2 = y2;
    x3 = lo0;
    a = (a + W0) >>> 0;
    b = (b + W1) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

/**
 * High 32 bits of the 64-bit product a·m for a uint32 `a` and a constant m split into 16-bit
 * halves (mHi, mLo): every intermediate stays below 2^53, so the result is exact.
 */
function mulhi(a: number, mHi: number, mLo: number): number {
  // a·mLo < 2^48, so its quotient by 2^16 fits in 32 bits and `>>> 0` is an exact floor; the
  // same holds for the final quotient, which is the high word of a 64-bit product.
  return ((a * mHi + (((a * mLo) / 65536) >>> 0)) / 65536) >>> 0;
}

/**
 * Fills `out` (length a multiple of 4) with consecutive blocks starting at block `firstBlock`
 * (a counter below 2^52). The ten rounds are inlined: this is the generator's hot loop.
 */
export function philoxFill(firstBlock: number, k0: number, k1: number, out: Uint32Array): void {
  const numBlocks = out.length >>> 2;
  for (let blk = 0; blk < numBlocks; blk++) {
    const c = firstBlock + blk;
    let x0 = c >>> 0;
    let x1 = Math.floor(c / 4294967296) >>> 0;
    let x2 = 0;
    let x3 = 0;
    let a = k0 >>> 0;
    let b = k1 >>> 0;
    for (let r = 0; r < 10; r++) {
      // 32×32 → 64-bit products from 16-bit partial products (integer ops only, no division).
      const aL = x0 & 0xffff;
      const aH = x0 >>> 16;
      const t0 = aL * M0_LO;
      const t1 = aH * M0_LO;
      const t2 = aL * M0_HI;
      const lo0 = Math.imul(M0, x0) >>> 0;
      const hi0 =
        (aH * M0_HI + (t1 >>> 16) + (t2 >>> 16) + (((t0 >>> 16) + (t1 & 0xffff) + (t2 & 0xffff)) >>> 16)) >>> 0;
      const cL = x2 & 0xffff;
      const cH = x2 >>> 16;
      const u0 = cL * M1_LO;
      const u1 = cH * M1_LO;
      const u2 = cL * M1_HI;
      const lo1 = Math.imul(M1, x2) >>> 0;
      const hi1 =
        (cH * M1_HI + (u1 >>> 16) + (u2 >>> 16) + (((u0 >>> 16) + (u1 & 0xffff) + (u2 & 0xffff)) >>> 16)) >>> 0;
      x0 = (hi1 ^ x1 ^ a) >>> 0;
      x1 = lo1;
      x2 = (hi0 ^ x3 ^ b) >>> 0;
      x3 = lo0;
      a = (a + W0) >>> 0;
      b = (b + W1) >>> 0;
    }
    const o = 4 * blk;
    out[o] = x0;
    out[o + 1] = x1;
    out[o + 2] = x2;
    out[o + 3] = x3;
  }
}
