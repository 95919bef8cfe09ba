// Domain sources: random access by record index to a domain's data, without loading whole files
// into memory. Formats: Megatron-LM token shards (`.bin` + `.idx`, the MMIDIDX layout, so shards
// written by Megatron's preprocessing are read as they are), JSONL (also `.jsonl.gz`/`.jsonl.br`,
// decompressed once into a cache file), Arrow IPC files, and Parquet. A domain may span many
// shards (`ConcatSource`). Every file is indexed and validated when it is opened, so a corrupt
// record is an error naming the file and line or byte offset before the first sample; file
// handles are opened lazily and their number is bounded.

import { open, stat, mkdir, rename, unlink, readFile, type FileHandle } from "node:fs/promises";
import { createReadStream, createWriteStream, existsSync, openSync, closeSync, readSync } from "node:fs";
import { createGunzip, createBrotliDecompress } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, basename } from "node:path";
import { RecordBatchReader, type RecordBatch } from "apache-arrow";
import { InputError, showValue } from "../errors.js";

/** One record: text, or pre-tokenised ids. */
export interface SourceRecord {
  readonly text?: string;
  readonly tokens?: Int32Array;
}

/** Random access to one domain's records. */
export interface DomainSource {
  /** The files behind it, for messages and manifests. */
  readonly files: readonly string[];
  readonly numRecords: number;
  /** Exact tokens of record i when the source is pre-tokenised, else undefined. */
  tokensOf?(i: number): number;
  /** Bytes of record i's stored text or tokens (for statistics). */
  readonly totalBytes: number;
  read(i: number): Promise<SourceRecord>;
  /**
   * Optional fast path for pre-tokenised sources: writes record i's first `max` tokens into
   * `out` at `offset` synchronously and returns the record's full length.
   */
  readInto?(i: number, out: Int32Array, offset: number, max: number): number;
  close(): Promise<void>;
}

/** A bounded pool of open file handles (least recently used is closed first). */
export class FileHandlePool {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  constructor(readonly maxOpen = 64) {}

  async get(path: string): Promise<FileHandle> {
    let h = this.handles.get(path);
    if (h) {
      this.handles.delete(path);
      this.handles.set(path, h);
      return h;
    }
    h = open(path, "r").catch((e: NodeJS.ErrnoException) => {
      this.handles.delete(path);
      throw new InputError(path, `expected a readable shard, got ${e.code ?? e.message}`);
    });
    this.handles.set(path, h);
    while (this.handles.size > this.maxOpen) {
      const [oldest, oh] = this.handles.entries().next().value as [string, Promise<FileHandle>];
      this.handles.delete(oldest);
      void oh.then((fh) => fh.close()).catch(() => undefined);
    }
    return h;
  }

  /** Number of handles currently open (for tests of the bound). */
  get size(): number {
    return this.handles.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) await (await h.catch(() => null))?.close();
  }
}

/**
 * A bounded pool of synchronous file descriptors (for the token-shard fast path). Use is tracked
 * by a counter; the least recently used descriptor is closed when the bound is passed, so a hit
 * costs one map lookup.
 */
export class SyncFdPool {
  private readonly fds = new Map<string, { fd: number; used: number }>();
  private tick = 0;
  /** Bumped whenever a descriptor is closed, so callers that cache one know to ask again. */
  generation = 0;
  constructor(readonly maxOpen = 64) {}
  get(path: string): number {
    const hit = this.fds.get(path);
    if (hit !== undefined) {
      hit.used = ++this.tick;
      return hit.fd;
    }
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new InputError(path, `expected a readable shard, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    this.fds.set(path, { fd, used: ++this.tick });
    if (this.fds.size > this.maxOpen) {
      let oldest = "";
      let min = Infinity;
      for (const [p, e] of this.fds) if (e.used < min) [oldest, min] = [p, e.used];
      closeSync(this.fds.get(oldest)!.fd);
      this.fds.delete(oldest);
      this.generation++;
    }
    return fd;
  }
  get size(): number {
    return this.fds.size;
  }
  closeAll(): void {
    for (const e of this.fds.values()) closeSync(e.fd);
    this.fds.clear();
    this.generation++;
  }
}

/** The shared default pools. */
export const defaultSyncPool = new SyncFdPool(64);

/** The shared default pool. */
export const defaultPool = new FileHandlePool(64);

async function readAt(pool: FileHandlePool, path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await pool.get(path);
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
    if (bytesRead === 0) throw new InputError(path, `byte ${offset + done}: expected ${length} bytes of a record, got the end of the file (truncated shard?)`);
    done += bytesRead;
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Megatron-LM indexed token shards: <prefix>.bin (tokens) + <prefix>.idx:
//   9 bytes "MMIDIDX\0\0", uint64 version (1), uint8 dtype code, uint64 sequence count,
//   uint64 document count, int32 sequence lengths, int64 sequence byte offsets, int64 document
//   indices. dtype codes: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16.

const IDX_MAGIC = Buffer.from("MMIDIDX\x00\x00", "latin1");
const DTYPES: Record<number, { size: number; name: string }> = { 1: { size: 1, name: "uint8" }, 3: { size: 2, name: "int16" }, 4: { size: 4, name: "int32" }, 8: { size: 2, name: "uint16" } };

/** A Megatron token shard. */
export class TokenShardSource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  readonly totalBytes: number;
  private constructor(
    private readonly binPath: string,
    idxPath: string,
    private readonly lengths: Int32Array,
    private readonly offsets: Float64Array,
    private readonly dtype: number,
    private readonly pool: FileHandlePool,
    private readonly syncPool: SyncFdPool = defaultSyncPool,
  ) {
    this.files = [binPath, idxPath];
    this.numRecords = lengths.length;
    let t = 0;
    for (const l of lengths) t += l;
    this.totalBytes = t * DTYPES[dtype]!.size;
  }

  /** Opens `<prefix>.bin` + `<prefix>.idx`, validating the index against the data file's size. */
  static async open(binPath: string, pool: FileHandlePool = defaultPool): Promise<TokenShardSource> {
    const idxPath = binPath.replace(/\.bin$/, ".idx");
    let idx: Buffer;
    try {
      idx = await readFile(idxPath);
    } catch (e) {
      throw new InputError(idxPath, `expected the index of ${basename(binPath)}, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const fail = (at: number, msg: string): never => {
      throw new InputError(idxPath, `byte ${at}: ${msg}`);
    };
    if (idx.length < 34 || !idx.subarray(0, 9).equals(IDX_MAGIC)) fail(0, `expected the Megatron index header "MMIDIDX", got ${showValue(idx.subarray(0, 9).toString("latin1"))}`);
    const version = Number(idx.readBigUInt64LE(9));
    if (version !== 1) fail(9, `expected index version 1, got ${version}`);
    const dtype = idx.readUInt8(17);
    if (!DTYPES[dtype]) fail(17, `expected a token dtype code 1, 3, 4 or 8 (uint8, int16, int32, uint16), got ${dtype}`);
    const n = Number(idx.readBigUInt64LE(18));
    const numDocs = Number(idx.readBigUInt64LE(26));
    const need = 34 + 4 * n + 8 * n + 8 * numDocs;
    if (idx.length !== need) fail(34, `expected ${need} bytes for ${n} sequences and ${numDocs} document indices, got ${idx.length}`);
    const lengths = new Int32Array(n);
    const offsets = new Float64Array(n);
    for (let i = 0; i < n; i++) lengths[i] = idx.readInt32LE(34 + 4 * i);
    const base = 34 + 4 * n;
    for (let i = 0; i < n; i++) offsets[i] = Number(idx.readBigInt64LE(base + 8 * i));
    let binSize: number;
    try {
      binSize = (await stat(binPath)).size;
    } catch (e) {
      throw new InputError(binPath, `expected a readable token shard, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const size = DTYPES[dtype]!.size;
    for (let i = 0; i < n; i++) {
      if (lengths[i]! < 0 || offsets[i]! + lengths[i]! * size > binSize) fail(34 + 4 * i, `sequence ${i}: expected ${lengths[i]} tokens at byte ${offsets[i]} inside ${basename(binPath)} (${binSize} bytes), got a range past its end`);
    }
    return new TokenShardSource(binPath, idxPath, lengths, offsets, dtype, pool);
  }

  tokensOf(i: number): number {
    return this.lengths[i]!;
  }

  async read(i: number): Promise<SourceRecord> {
    const size = DTYPES[this.dtype]!.size;
    const buf = await readAt(this.pool, this.binPath, this.offsets[i]!, this.lengths[i]! * size);
    const n = this.lengths[i]!;
    const tokens = new Int32Array(n);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    switch (this.dtype) {
      case 1:
        for (let t = 0; t < n; t++) tokens[t] = dv.getUint8(t);
        break;
      case 3:
        for (let t = 0; t < n; t++) tokens[t] = dv.getInt16(2 * t, true);
        break;
      case 4:
        for (let t = 0; t < n; t++) tokens[t] = dv.getInt32(4 * t, true);
        break;
      default:
        for (let t = 0; t < n; t++) tokens[t] = dv.getUint16(2 * t, true);
    }
    return { tokens };
  }

  private fd = -1;
  private fdGeneration = -1;
  private scratchBytes = new Uint8Array(0);
  private scratchTokens: Uint8Array | Uint16Array | Int16Array | Int32Array = new Uint8Array(0);

  readInto(i: number, out: Int32Array, offset: number, max: number): number {
    const len = this.lengths[i]!;
    const n = len < max ? len : max;
    const size = DTYPES[this.dtype]!.size;
    const bytes = n * size;
    if (this.scratchBytes.length < bytes) {
      const ab = new ArrayBuffer(Math.max(bytes, 2 * this.scratchBytes.length));
      this.scratchBytes = new Uint8Array(ab);
      this.scratchTokens = this.dtype === 8 ? new Uint16Array(ab) : this.dtype === 3 ? new Int16Array(ab) : this.dtype === 4 ? new Int32Array(ab) : new Uint8Array(ab);
    }
    // The descriptor is cached until the pool closes any descriptor (its generation changes).
    let fd = this.fd;
    if (fd < 0 || this.fdGeneration !== this.syncPool.generation) {
      fd = this.fd = this.syncPool.get(this.binPath);
      this.fdGeneration = this.syncPool.generation;
    }
    let done = 0;
    while (done < bytes) {
      const r = readSync(fd, this.scratchBytes, done, bytes - done, this.offsets[i]! + done);
      if (r === 0) throw new InputError(this.binPath, `byte ${this.offsets[i]! + done}: expected ${bytes} bytes of sequence ${i}, got the end of the file (truncated shard?)`);
      done += r;
    }
    // A typed copy widens the tokens (little-endian hosts, as Node's supported platforms are).
    out.set(n === this.scratchTokens.length ? this.scratchTokens : this.scratchTokens.subarray(0, n), offset);
    return len;
  }

  async close(): Promise<void> {
    // handles belong to the pool
  }
}

/**
 * Writes token sequences as a Megatron shard (`<prefix>.bin` + `<prefix>.idx`), one document per
 * sequence, atomically (temporary names, then rename).
 * @param dtype "uint16" (vocabularies < 65,536) or "int32"
 */
export async function writeTokenShard(prefix: string, sequences: Iterable<ArrayLike<number>>, dtype: "uint16" | "int32" = "uint16"): Promise<void> {
  const code = dtype === "uint16" ? 8 : 4;
  const size = dtype === "uint16" ? 2 : 4;
  const lengths: number[] = [];
  const chunks: Buffer[] = [];
  for (const s of sequences) {
    const b = Buffer.allocUnsafe(s.length * size);
    for (let i = 0; i < s.length; i++) {
      const v = s[i]!;
      if (dtype === "uint16") {
        if (!(v >= 0 && v < 65536 && Number.isInteger(v))) throw new InputError(prefix, `sequence ${lengths.length}, token ${i}: expected an integer in [0, 65535] for uint16, got ${v}`);
        b.writeUInt16LE(v, 2 * i);
      } else b.writeInt32LE(v, 4 * i);
    }
    lengths.push(s.length);
    chunks.push(b);
  }
  const n = lengths.length;
  const idx = Buffer.alloc(34 + 4 * n + 8 * n + 8 * (n + 1));
  IDX_MAGIC.copy(idx, 0);
  idx.writeBigUInt64LE(1n, 9);
  idx.writeUInt8(code, 17);
  idx.writeBigUInt64LE(BigInt(n), 18);
  idx.writeBigUInt64LE(BigInt(n + 1), 26);
  let off = 0;
  for (let i = 0; i < n; i++) {
    idx.writeInt32LE(lengths[i]!, 34 + 4 * i);
    idx.writeBigInt64LE(BigInt(off), 34 + 4 * n + 8 * i);
    off += lengths[i]! * size;
  }
  for (let i = 0; i <= n; i++) idx.writeBigInt64LE(BigInt(i), 34 + 12 * n + 8 * i);
  await writeAtomic(`${prefix}.bin`, chunks);
  await writeAtomic(`${prefix}.idx`, [idx]);
}

async function writeAtomic(path: string, chunks: Buffer[]): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, "w");
  try {
    for (const c of chunks) await fh.write(c);
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// JSONL: one JSON object per line with a string field `text` (the field name is configurable).

const SCAN_CHUNK = 1 << 22;

/** A JSONL file indexed by line start offsets. */
export class JsonlSource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  private constructor(
    private readonly path: string,
    displayPath: string,
    private readonly starts: Float64Array, // numRecords + 1 entries: record i spans [starts[i], starts[i+1] − 1)
    private readonly field: string,
    private readonly pool: FileHandlePool,
    readonly totalBytes: number,
  ) {
    this.files = [displayPath];
    this.numRecords = starts.length - 1;
  }

  /**
   * Indexes a JSONL file; with `validate` (default) every line is parsed and must be an object
   * with a string `field` and valid UTF-8.
   * @param displayPath the name used in messages (the compressed file for .gz/.br)
   */
  static async open(path: string, options: { field?: string; validate?: boolean; displayPath?: string; pool?: FileHandlePool } = {}): Promise<JsonlSource> {
    const field = options.field ?? "text";
    const display = options.displayPath ?? path;
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (e) {
      throw new InputError(display, `expected a readable JSONL file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const starts: number[] = [0];
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const validate = options.validate ?? true;
    let pending: Buffer[] = [];
    let pendingStart = 0;
    let pos = 0;
    let line = 1;
    const buf = Buffer.allocUnsafe(SCAN_CHUNK);
    const check = (bytes: Buffer, lineNo: number, at: number): void => {
      if (!validate) return;
      let text: string;
      try {
        text = decoder.decode(bytes);
      } catch {
        throw new InputError(display, `line ${lineNo} (byte ${at}): expected UTF-8 text, got invalid UTF-8`);
      }
      if (text.trim() === "") throw new InputError(display, `line ${lineNo} (byte ${at}): expected a JSON object, got an empty line`);
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        throw new InputError(display, `line ${lineNo} (byte ${at}): expected a JSON object, got invalid JSON (${(e as Error).message})`);
      }
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new InputError(display, `line ${lineNo} (byte ${at}): expected a JSON object, got ${showValue(obj)}`);
      const t = (obj as Record<string, unknown>)[field];
      if (typeof t !== "string") throw new InputError(display, `line ${lineNo} (byte ${at}): expected a string field ${JSON.stringify(field)}, got ${t === undefined ? "no such field" : showValue(t)}`);
    };
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, SCAN_CHUNK, pos);
        if (bytesRead === 0) break;
        let from = 0;
        for (;;) {
          const nl = buf.indexOf(10, from);
          if (nl < 0 || nl >= bytesRead) break;
          const piece = buf.subarray(from, nl);
          const lineBytes = pending.length ? Buffer.concat([...pending, piece]) : piece;
          check(lineBytes, line, pendingStart);
          pending = [];
          line++;
          starts.push(pos + nl + 1);
          pendingStart = pos + nl + 1;
          from = nl + 1;
        }
        if (from < bytesRead) pending.push(Buffer.from(buf.subarray(from, bytesRead)));
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
    if (pending.length) {
      // A last line without a newline is a record too.
      check(Buffer.concat(pending), line, pendingStart);
      starts.push(pos + 1);
    }
    if (starts.length === 1) throw new InputError(display, "expected at least one record, got an empty file");
    return new JsonlSource(path, display, Float64Array.from(starts), field, options.pool ?? defaultPool, pos);
  }

  async read(i: number): Promise<SourceRecord> {
    const start = this.starts[i]!;
    const end = this.starts[i + 1]! - 1;
    const buf = await readAt(this.pool, this.path, start, end - start);
    return { text: (JSON.parse(buf.toString("utf8")) as Record<string, string>)[this.field]! };
  }

  async close(): Promise<void> {}
}

/** Decompresses a .jsonl.gz / .jsonl.br once into a cache file keyed by path, size and mtime. */
async function decompressToCache(path: string, cacheDir: string): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new InputError(path, `expected a readable file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const key = createHash("sha256").update(`${path}\0${st.size}\0${st.mtimeMs}`).digest("hex").slice(0, 24);
  await mkdir(cacheDir, { recursive: true });
  const out = join(cacheDir, `${key}.jsonl`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await pipeline(createReadStream(path), path.endsWith(".br") ? createBrotliDecompress() : createGunzip(), createWriteStream(tmp));
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new InputError(path, `expected ${path.endsWith(".br") ? "brotli" : "gzip"}-compressed JSONL, got data that does not decompress (${(e as Error).message})`);
  }
  await rename(tmp, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC files and Parquet: a `text` column (or the configured field).

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

// ---------------------------------------------------------------------------------------------

/** Several shards as one domain: record i of the concatenation, in shard order. */
export class ConcatSource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  readonly totalBytes: number;
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
    if (parts.every((p) => p.tokensOf)) this.tokensOf = (i: number) => this.locate(i, (p, j) => p.tokensOf!(j));
    if (parts.every((p) => p.readInto)) this.readInto = (i, out, offset, max) => this.locate(i, (p, j) => p.readInto!(j, out, offset, max));
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

/** Options for opening files. */
export interface OpenOptions {
  /** Field holding the text in JSONL/Arrow/Parquet (default "text"). */
  readonly field?: string;
  /** Parse every JSONL line at open (default true). */
  readonly validate?: boolean;
  /** Where decompressed .gz/.br files are cached (default <tmpdir>/mixlab-cache). */
  readonly cacheDir?: string;
  readonly pool?: FileHandlePool;
}

/** The data file kinds a corpus may hold. */
export const SHARD_PATTERN = /\.(jsonl|jsonl\.gz|jsonl\.br|arrow|parquet|bin)$/;

/** Opens one shard file by its extension. */
export async function openShard(path: string, o: OpenOptions = {}): Promise<DomainSource> {
  if (path.endsWith(".bin")) return TokenShardSource.open(path, o.pool);
  if (path.endsWith(".jsonl")) return JsonlSource.open(path, { ...(o.field ? { field: o.field } : {}), ...(o.validate !== undefined ? { validate: o.validate } : {}), ...(o.pool ? { pool: o.pool } : {}) });
  if (path.endsWith(".jsonl.gz") || path.endsWith(".jsonl.br")) {
    const plain = await decompressToCache(path, o.cacheDir ?? join(tmpdir(), "mixlab-cache"));
    return JsonlSource.open(plain, { ...(o.field ? { field: o.field } : {}), ...(o.validate !== undefined ? { validate: o.validate } : {}), displayPath: path, ...(o.pool ? { pool: o.pool } : {}) });
  }
  if (path.endsWith(".arrow")) return ArrowSource.open(path, o.field);
  if (path.endsWith(".parquet")) return ParquetSource.open(path, o.field);
  throw new InputError(path, "expected a .jsonl, .jsonl.gz, .jsonl.br, .arrow, .parquet or .bin file");
}

/** Opens a domain from its files (one source, or a concatenation in the given order). */
export async function openDomain(files: readonly string[], o: OpenOptions = {}): Promise<DomainSource> {
  const parts: DomainSource[] = [];
  for (const f of files) parts.push(await openShard(f, o));
  return parts.length === 1 ? parts[0]! : new ConcatSource(parts);
}

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
