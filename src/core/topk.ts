// A bounded collector of the k lowest-valued vectors seen in a stream (a max-heap on value),
// used by candidate searches over 10^6 mixtures: memory O(k·dims), no allocation per offer.
// Ties keep the earlier offer, so results do not depend on chunking.

/** Collects the k vectors with the smallest values. */
export class TopKCollector {
  readonly k: number;
  readonly dims: number;
  private readonly values: Float64Array;
  private readonly order: Float64Array; // offer sequence number, for stable ties
  private readonly vectors: Float64Array; // (k × dims)
  private readonly heap: Int32Array; // slots, max-heap by (value, order)
  private size = 0;
  private seq = 0;

  constructor(k: number, dims: number) {
    this.k = k;
    this.dims = dims;
    this.values = new Float64Array(k);
    this.order = new Float64Array(k);
    this.vectors = new Float64Array(k * dims);
    this.heap = new Int32Array(k);
  }

  /** The value a new offer must beat (strictly) to enter; +∞ until k offers were kept. */
  threshold(): number {
    return this.size < this.k ? Infinity : this.values[this.heap[0]!]!;
  }

  private worse(a: number, b: number): boolean {
    const va = this.values[a]!;
    const vb = this.values[b]!;
    return va > vb || (va === vb && this.order[a]! > this.order[b]!);
  }

  /** Offers `value` with the vector src[offset … offset + dims). */
  offer(value: number, src: Float64Array, offset: number): void {
    const seq = this.seq++;
    if (this.size < this.k) {
      const slot = this.size;
      this.values[slot] = value;
      this.order[slot] = seq;
      this.vectors.set(src.subarray(offset, offset + this.dims), slot * this.dims);
      let c = this.size++;
      this.heap[c] = slot;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!this.worse(this.heap[c]!, this.heap[p]!)) break;
        const t = this.heap[c]!;
        this.heap[c] = this.heap[p]!;
        this.heap[p] = t;
        c = p;
      }
      return;
    }
    if (!(value < this.values[this.heap[0]!]!)) return;
    const slot = this.heap[0]!;
    this.values[slot] = value;
    this.order[slot] = seq;
    this.vectors.set(src.subarray(offset, offset + this.dims), slot * this.dims);
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      const r = l + 1;
      let m = c;
      if (l < this.size && this.worse(this.heap[l]!, this.heap[m]!)) m = l;
      if (r < this.size && this.worse(this.heap[r]!, this.heap[m]!)) m = r;
      if (m === c) break;
      const t = this.heap[c]!;
      this.heap[c] = this.heap[m]!;
      this.heap[m] = t;
      c = m;
    }
  }

  /** The kept entries sorted by value (then offer order): values and (n × dims) vectors. */
  results(): { values: Float64Array; vectors: Float64Array } {
    const slots = Array.from(this.heap.subarray(0, this.size));
    slots.sort((a, b) => this.values[a]! - this.values[b]! || this.order[a]! - this.order[b]!);
    const values = new Float64Array(slots.length);
    const vectors = new Float64Array(slots.length * this.dims);
    slots.forEach((s, i) => {
      values[i] = this.values[s]!;
      vectors.set(this.vectors.subarray(s * this.dims, (s + 1) * this.dims), i * this.dims);
    });
    return { values, vectors };
  }
}
