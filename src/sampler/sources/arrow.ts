// Arrow IPC domains: a `text` column (or the configured field), read one record batch at a time.

import { open, type FileHandle } from "node:fs/promises";
import { RecordBatchReader, type RecordBatch } from "apache-arrow";
import { InputError, showValue } from "../../errors.js";
import type { DomainSource, SourceRecord } from "./types.js";

const MAGIC = Buffer.from("ARROW1", "latin1");

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

  /**
   * Opens an Arrow IPC file (the random-access format, "ARROW1" at both ends), reading every
   * record batch once to check the text column.
   * @throws InputError naming the file (and record batch) for a stream-format, truncated or
   *   corrupt file, a missing column, or a null text
   */
  static async open(path: string, field = "text"): Promise<ArrowSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (e) {
      throw new InputError(
        path,
        `expected a readable Arrow file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    const starts = [0];
    let size = 0;
    try {
      size = (await fh.stat()).size;
      const head = Buffer.alloc(Math.min(size, 8));
      const tail = Buffer.alloc(Math.min(size, 6));
      await fh.read(head, 0, head.length, 0);
      await fh.read(tail, 0, tail.length, size - tail.length);
      if (!head.subarray(0, 6).equals(MAGIC)) {
        if (size >= 4 && head.readUInt32LE(0) === 0xffffffff) throw new InputError(
          path,
          `expected the Arrow IPC file format (random access, starting with "ARROW1"), got the stream format; write ` +
            `it with pyarrow.ipc.new_file (or as Parquet or JSONL)`,
        );
        const got = size === 0 ? "an empty file" : `bytes ${showValue(head.toString("latin1"))}`;
        throw new InputError(path, `expected an Arrow IPC file (starting with "ARROW1"), got ${got}`);
      }
      if (size < 16 || !tail.equals(MAGIC)) throw new InputError(
        path,
        `expected an Arrow IPC file ending in its "ARROW1" footer, got ${size} bytes without one (truncated?)`,
      );
      let reader;
      try {
        reader = await RecordBatchReader.from(fh);
        await reader.open();
      } catch (e) {
        throw new InputError(
          path,
          `expected an Arrow IPC file, got a schema or footer that does not parse (${(e as Error).message}; corrupt ` +
            `file?)`,
        );
      }
      let b = 0;
      try {
        for await (const batch of reader) {
          const col = batch.getChild(field);
          if (!col) {
            const got = batch.schema.fields.map((f) => f.name).join(", ");
            throw new InputError(
              path,
              `record batch ${b}: expected a column ${JSON.stringify(field)}, got columns ${got}`,
            );
          }
          if (col.nullCount > 0) {
            for (let i = 0; i < batch.numRows; i++) {
              if (col.get(i) !== null) continue;
              const where = `record ${starts[b]! + i} (batch ${b}, row ${i})`;
              throw new InputError(path, `${where}: expected text in ${JSON.stringify(field)}, got null`);
            }
          }
          starts.push(starts[b]! + batch.numRows);
          b++;
        }
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw new InputError(
          path,
          `record batch ${b}: expected a readable record batch, got ${(e as Error).message} (corrupt file?)`,
        );
      }
    } finally {
      await fh.close();
    }
    if (starts[starts.length - 1] === 0) throw new InputError(path, "expected at least one record, got none");
    return new ArrowSource(path, Float64Array.from(starts), field, size);
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
        const batch = await (reader as unknown as {
          readRecordBatch(i: number): Promise<RecordBatch | null>,
        }).readRecordBatch(lo);
        if (!batch) throw new InputError(
          this.path,
          `record batch ${lo}: expected it to exist, got none (file changed since it was opened?)`,
        );
        this.cached = { index: lo, batch };
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw new InputError(
          this.path,
          `record batch ${lo}: expected a readable record batch, got ${(e as Error).message} (file changed since it ` +
            `was opened?)`,
        );
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
