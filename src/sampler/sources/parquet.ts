// Parquet domains: a `text` column (or the configured field), read by row group.

import { stat } from "node:fs/promises";
import { InputError, showValue } from "../../errors.js";
import type { DomainSource, SourceRecord } from "./types.js";

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

  static async open(path: string, field = "text"): Promise<ParquetSource> {
    const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } = await import("hyparquet");
    let file;
    let meta;
    try {
      file = await asyncBufferFromFile(path);
      meta = await parquetMetadataAsync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code) throw new InputError(path, `expected a readable Parquet file, got ${(e as NodeJS.ErrnoException).code}`);
      throw new InputError(path, `expected a Parquet file, got unreadable content (${(e as Error).message})`);
    }
    const names = parquetSchema(meta).children.map((c) => c.element.name);
    if (!names.includes(field)) throw new InputError(path, `expected a column ${JSON.stringify(field)}, got columns ${names.join(", ")}`);
    const starts = [0];
    for (const rg of meta.row_groups) starts.push(starts[starts.length - 1]! + Number(rg.num_rows));
    // Validate: every row group's text column has no nulls.
    for (let g = 0; g < meta.row_groups.length; g++) {
      const rows = (await parquetReadObjects({ file, columns: [field], rowStart: starts[g]!, rowEnd: starts[g + 1]! })) as Record<string, unknown>[];
      rows.forEach((r, i) => {
        if (typeof r[field] !== "string") throw new InputError(path, `record ${starts[g]! + i} (row group ${g}): expected text in ${JSON.stringify(field)}, got ${showValue(r[field])}`);
      });
    }
    if (starts[starts.length - 1] === 0) throw new InputError(path, "expected at least one record, got none");
    return new ParquetSource(path, file, Float64Array.from(starts), field, (await stat(path)).size);
  }

  async read(i: number): Promise<SourceRecord> {
    let g = 0;
    while (this.groupStarts[g + 1]! <= i) g++;
    const start = this.groupStarts[g]!;
    if (!this.cached || this.cached.start !== start) {
      const { parquetReadObjects } = await import("hyparquet");
      const rows = (await parquetReadObjects({ file: this.file as never, columns: [this.field], rowStart: start, rowEnd: this.groupStarts[g + 1]! })) as Record<string, string>[];
      this.cached = { start, rows: rows.map((r) => r[this.field]!) };
    }
    return { text: this.cached.rows[i - start]! };
  }

  async close(): Promise<void> {
    this.cached = null;
  }
}
