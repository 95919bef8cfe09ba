// An in-memory domain.

import type { DomainSource, SourceRecord } from "./types.js";

/** An in-memory domain (tests, small corpora built in code). */
export class MemorySource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  readonly totalBytes: number;
  constructor(
    private readonly records: readonly SourceRecord[],
    name = "memory",
  ) {
    this.files = [name];
    this.numRecords = records.length;
    this.totalBytes = records.reduce((a, r) => a + (r.text?.length ?? 0) + 4 * (r.tokens?.length ?? 0), 0);
    if (records.every((r) => r.tokens)) {
      this.tokensOf = (i: number) => this.records[i]!.tokens!.length;
      this.readInto = (i, out, offset, max) => {
        const t = this.records[i]!.tokens!;
        out.set(t.length > max ? t.subarray(0, max) : t, offset);
        return t.length;
      };
    }
  }
  tokensOf?: (i: number) => number;
  readInto?: (i: number, out: Int32Array, offset: number, max: number) => number;
  async read(i: number): Promise<SourceRecord> {
    return this.records[i]!;
  }
  async close(): Promise<void> {}
}
