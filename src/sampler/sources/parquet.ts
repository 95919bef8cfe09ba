// Parquet domains: a `text` column (or the configured field), read by row group.

import { open } from "node:fs/promises";
import { InputError, showValue } from "../../errors.js";
import type { DomainSource, SourceRecord } from "./types.js";

const MAGIC = Buffer.from("PAR1", "latin1");

/** A Parquet file read by row ranges (the last row group used is cached). */
export class ParquetSource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  private cached: { start: number; rows: string[] } | null = null;
  private constructor(
    readonly path: string,
    private readonly file: unknown,
    private readonly groupStarts: Float64Array,
    private readonly field: string,
    readonly totalBytes: number,
  ) {
    this.files = [path];
    this.numRecords = groupStarts[groupStarts.length - 1]!;
  }

  /**
   * Opens a Parquet file ("PAR1" at both ends), reading every row group's text column once.
   * @throws InputError naming the file (and row group) for a truncated or corrupt file, a missing
   *   column, or a row without text
   */
  static async open(path: string, field = "text"): Promise<ParquetSource> {
    const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } = await import("hyparquet");
    let size: number;
    let head: Buffer;
    let tail: Buffer;
    try {
      const fh = await open(path, "r");
      try {
        size = (await fh.stat()).size;
        head = Buffer.alloc(Math.min(size, 4));
        tail = Buffer.alloc(Math.min(size, 4));
        await fh.read(head, 0, head.length, 0);
        await fh.read(tail, 0, tail.length, size - tail.length);
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw new InputError(
        path,
        `expected a readable Parquet file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    if (!head.equals(MAGIC)) {
      const got = size === 0 ? "an empty file" : `bytes ${showValue(head.toString("latin1"))}`;
      throw new InputError(path, `expected a Parquet file (starting with "PAR1"), got ${got}`);
    }
    if (size < 12 || !tail.equals(MAGIC)) throw new InputError(
      path,
      `expected a Parquet file ending in its "PAR1" footer, got ${size} bytes without one (truncated?)`,
    );
    let file;
    let meta;
    try {
      file = await asyncBufferFromFile(path);
      meta = await parquetMetadataAsync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code) throw new InputError(
        path,
        `expected a readable Parquet file, got ${(e as NodeJS.ErrnoException).code}`,
      );
      throw new InputError(
        path,
        `expected a Parquet file, got a footer that does not parse (${(e as Error).message}; corrupt file?)`,
      );
    }
    const names = parquetSchema(meta).children.map((c) => c.element.name);
    if (!names.includes(field)) throw new InputError(
      path,
      `expected a column ${JSON.stringify(field)}, got columns ${names.join(", ")}`,
    );
    const starts = [0];
    for (const rg of meta.row_groups) starts.push(starts[starts.length - 1]! + Number(rg.num_rows));
    // Validate: every row group's text column reads and has no nulls.
    for (let g = 0; g < meta.row_groups.length; g++) {
      let rows: Record<string, unknown>[];
      try {
        rows = (await parquetReadObjects(
          { file, columns: [field], rowStart: starts[g]!, rowEnd: starts[g + 1]! },
        )) as Record<string, unknown>[];
      } catch (e) {
        throw new InputError(
          path,
          `row group ${g}: expected readable column data, got ${(e as Error).message} (corrupt file?)`,
        );
      }
      if (rows.length !== starts[g + 1]! - starts[g]!) throw new InputError(
        path,
        `row group ${g}: expected ${starts[g + 1]! - starts[g]!} rows, got ${rows.length} (corrupt file?)`,
      );
      rows.forEach((r, i) => {
        if (typeof r[field] !== "string") throw new InputError(
          path,
          `record ${starts[g]! + i} (row group ${g}): expected text in ${JSON.stringify(field)}, got ` +
            `${showValue(r[field])}`,
        );
      });
    }
    if (starts[starts.length - 1] === 0) throw new InputError(path, "expected at least one record, got none");
    return new ParquetSource(path, file, Float64Array.from(starts), field, size);
  }

  async read(i: number): Promise<SourceRecord> {
    let g = 0;
    while (this.groupStarts[g + 1]! <= i) g++;
    const start = this.groupStarts[g]!;
    if (!this.cached || this.cached.start !== start) {
      const { parquetReadObjects } = await import("hyparquet");
      let rows: Record<string, string>[];
      try {
        rows = (await parquetReadObjects(
          { file: this.file as never, columns: [this.field], rowStart: start, rowEnd: this.groupStarts[g + 1]! },
        )) as Record<string, string>[];
      } catch (e) {
        throw new InputError(
          this.path,
          `row group ${g}: expected readable column data, got ${(e as Error).message} (file changed since it was ` +
            `opened?)`,
        );
      }
      this.cached = { start, rows: rows.map((r) => r[this.field]!) };
    }
    return { text: this.cached.rows[i - start]! };
  }

  async close(): Promise<void> {
    this.cached = null;
  }
}
