// Memory for encoded batches, reused instead of allocated (and collected) one per batch: a
// session's own pool on the server's thread, and one per batch-making thread, to which the
// server's thread gives the buffers of sent batches back.

/** Bytes of free frame memory a pool keeps by default. */
export const FRAME_POOL_BYTES = 64 * 2 ** 20;

/** Free buffers for batch frames by byte length (a multiple of 4096), at most `maxBytes` of them kept. */
export class FramePool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private bytes = 0;
  constructor(private readonly maxBytes = FRAME_POOL_BYTES) {}

  /** A buffer of `size` bytes; its `buffer` is the pooled memory, to give back with `give`. */
  take(size: number): Buffer {
    const want = (size + 4095) & ~4095;
    // A buffer of the frame's own length, else the smallest that fits unless it is over twice the
    // size (a small frame does not hold on to a large buffer). The lengths in use are few: the
    // frames of a session are all about one size.
    let list = this.free.get(want);
    if (!list) {
      let best = 0;
      for (const n of this.free.keys()) if (n > want && n <= 2 * want && (best === 0 || n < best)) best = n;
      if (best) list = this.free.get(best);
    }
    let slab: ArrayBuffer;
    if (list) {
      slab = list.pop()!;
      if (list.length === 0) this.free.delete(slab.byteLength);
      this.bytes -= slab.byteLength;
    } else slab = new ArrayBuffer(want);
    return Buffer.from(slab, 0, size);
  }

  /** Takes a buffer back once nothing refers to it; kept while the pool holds under its bound. */
  give(slab: ArrayBuffer): void {
    const n = slab.byteLength;
    if (n === 0 || this.bytes + n > this.maxBytes) return; // detached, or over the bound
    const list = this.free.get(n);
    if (list) list.push(slab);
    else this.free.set(n, [slab]);
    this.bytes += n;
  }

  /** Bytes held free. */
  get held(): number {
    return this.bytes;
  }
}
