// Arrow IPC domains: a `text` column (or the configured field), read one record batch at a time.

import { open, stat, type FileHandle } from "node:fs/promises";
import { RecordBatchReader, type RecordBatch } from "apache-arrow";
import { InputError } from "../../errors.js";
import type { DomainSource, SourceRecord } from "./types.js";

/** An Arrow IPC file read one record batch at a time (the last batch used is cached). */
export class ArrowSource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  private cached: { index: number; batch: RecordBatch } | null = null;
  private constructor(
    private readonly path: string,
    private readonly batchStarts: Float64Array,
    private readonly field: string,
    readonly totalBytes: number,
  ) {
    this.files = [path];
    this.numRecords = batchStarts[batchStarts.length - 1]!;
  }

  static async open(path: string, field = "text"): Promise<ArrowSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (e) {
      throw new InputError(path, `expected a readable Arrow file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const starts = [0];
    try {
      let reader;
      try {
        reader = await RecordBatchReader.from(fh);
        await reader.open();
      } catch (e) {
        throw new InputError(path, `expected an Arrow IPC file, got unreadable content (${(e as Error).message})`);
      }
      let b = 0;
      for await (const batch of reader) {
        const col = batch.getChild(field);
        if (!col) throw new InputError(path, `record batch ${b}: expected a column ${JSON.stringify(field)}, got columns ${batch.schema.fields.map((f) => f.name).join(", ")}`);
        if (col.nullCount > 0) {
          for (let i = 0; i < batch.numRows; i++) if (col.get(i) === null) throw new InputError(path, `record ${starts[b]! + i} (batch ${b}, row ${i}): expected text in ${JSON.stringify(field)}, got null`);
        }
        starts.push(starts[b]! + batch.numRows);
        b++;
      }
    } finally {
      await fh.close();
    }
    if (starts[starts.length - 1] === 0) throw new InputError(path, "expected at least one record, got none");
    return new ArrowSource(path, Float64Array.from(starts), field, (await stat(path)).size);
  }

  async read(i: number): Promise<SourceRecord> {
    let lo = 0;
    let hi = this.batchStarts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.batchStarts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    if (!this.cached || this.cached.index !== lo) {
      const fh = await open(this.path, "r");
      try {
        const reader = await RecordBatchReader.from(fh);
        await reader.open();
        const batch = await (reader as unknown as { readRecordBatch(i: number): Promise<RecordBatch | null> }).readRecordBatch(lo);
        if (!batch) throw new InputError(this.path, `record batch ${lo}: expected it to exist, got none (file changed since it was opened?)`);
        this.cached = { index: lo, batch };
      } finally {
        await fh.close();
      }
    }
    const v = this.cached.batch.getChild(this.field)!.get(i - this.batchStarts[lo]!);
    return { text: String(v) };
  }

  async close(): Promise<void> {
    this.cached = null;
  }
}
