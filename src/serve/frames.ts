// Memory for encoded batches, reused instead of allocated (and collected) one per batch: a
// session's own pool on the server's thread, and one per batch-making thread, to which the
// server's thread gives the buffers of sent batches back.

/** Bytes of free frame memory a pool keeps by default. */
export const FRAME_POOL_BYTES = 64 * 2 ** 20;

/** Free buffers for batch frames, at most `maxBytes` of them kept. */
export class FramePool {
  private readonly free: ArrayBuffer[] = [];
  private bytes = 0;
  constructor(private readonly maxBytes = FRAME_POOL_BYTES) {}

  /** A buffer of `size` bytes and the memory under it (to give back with `give`). */
  take(size: number): { body: Buffer; slab: ArrayBuffer } {
    // The smallest free buffer that fits (frames of one session are all about one size), unless
    // it is over twice the size: a small frame does not hold on to a large buffer.
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const n = this.free[i]!.byteLength;
      if (n >= size && n <= 2 * size + 4096 && (best < 0 || n < this.free[best]!.byteLength)) best = i;
    }
    let slab: ArrayBuffer;
    if (best >= 0) {
      slab = this.free[best]!;
      this.free[best] = this.free[this.free.length - 1]!;
      this.free.pop();
      this.bytes -= slab.byteLength;
    } else slab = new ArrayBuffer((size + 4095) & ~4095);
    return { body: Buffer.from(slab, 0, size), slab };
  }

  /** Takes a buffer back once nothing refers to it; kept while the pool holds under its bound. */
  give(slab: ArrayBuffer): void {
    if (slab.byteLength === 0 || this.bytes + slab.byteLength > this.maxBytes) return; // detached, or over
    this.free.push(slab);
    this.bytes += slab.byteLength;
  }

  /** Bytes held free. */
  get held(): number {
    return this.bytes;
  }
}
