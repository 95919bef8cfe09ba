// A domain made of several shards, read as one.

import type { DomainSource, SourceRecord } from "./types.js";

/** Several shards as one domain: record i of the concatenation, in shard order. */
export class ConcatSource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  readonly totalBytes: number;
  readonly maxTokenId?: number;
  private readonly starts: Float64Array;
  constructor(private readonly parts: DomainSource[]) {
    this.files = parts.flatMap((p) => [...p.files]);
    this.starts = new Float64Array(parts.length + 1);
    let b = 0;
    parts.forEach((p, i) => {
      this.starts[i + 1] = this.starts[i]! + p.numRecords;
      b += p.totalBytes;
    });
    this.numRecords = this.starts[parts.length]!;
    this.totalBytes = b;
    if (parts.every((p) => p.maxTokenId !== undefined)) this.maxTokenId = Math.max(...parts.map((p) => p.maxTokenId!));
    if (parts.every((p) => p.tokensOf)) this.tokensOf = (i: number) => this.locate(i, (p, j) => p.tokensOf!(j));
    if (parts.every((p) => p.readInto)) this.readInto = (i, out, offset, max) => this.locate(
      i,
      (p, j) => p.readInto!(j, out, offset, max),
    );
  }
  tokensOf?: (i: number) => number;
  readInto?: (i: number, out: Int32Array, offset: number, max: number) => number;

  private locate<T>(i: number, f: (p: DomainSource, j: number) => T): T {
    let lo = 0;
    let hi = this.parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return f(this.parts[lo]!, i - this.starts[lo]!);
  }

  read(i: number): Promise<SourceRecord> {
    return this.locate(i, (p, j) => p.read(j));
  }

  async close(): Promise<void> {
    for (const p of this.parts) await p.close();
  }
}
