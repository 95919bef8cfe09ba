// Megatron-LM indexed token shards: random access to pre-tokenised records, with a synchronous
// fast path for packed batches, and a writer of the same layout.

import { open, stat, rename, readFile } from "node:fs/promises";
import { readSync } from "node:fs";
import { basename } from "node:path";
import { InputError, showValue } from "../../errors.js";
import type { DomainSource, SourceRecord } from "./types.js";
import { defaultPool, defaultSyncPool, readAt, type FileHandlePool, type SyncFdPool } from "./pool.js";

// Megatron-LM indexed token shards: <prefix>.bin (tokens) + <prefix>.idx:
//   9 bytes "MMIDIDX\0\0", uint64 version (1), uint8 dtype code, uint64 sequence count,
//   uint64 document count, int32 sequence lengths, int64 sequence byte offsets, int64 document
//   indices. dtype codes: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16.

const IDX_MAGIC = Buffer.from("MMIDIDX\x00\x00", "latin1");
const DTYPES: Record<number, { size: number; name: string }> = {
  1: { size: 1, name: "uint8" },
  3: { size: 2, name: "int16" },
  4: { size: 4, name: "int32" },
  8: { size: 2, name: "uint16" },
};

/** A Megatron token shard. */
export class TokenShardSource implements DomainSource {
  readonly files: string[];
  readonly numRecords: number;
  readonly totalBytes: number;
  readonly maxTokenId?: number;
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
    if (dtype === 1) this.maxTokenId = 0xff;
    if (dtype === 8) this.maxTokenId = 0xffff;
  }

  /** Opens `<prefix>.bin` + `<prefix>.idx`, validating the index against the data file's size. */
  static async open(
    binPath: string,
    pool: FileHandlePool = defaultPool,
    syncPool: SyncFdPool = defaultSyncPool,
  ): Promise<TokenShardSource> {
    const idxPath = binPath.replace(/\.bin$/, ".idx");
    let idx: Buffer;
    try {
      idx = await readFile(idxPath);
    } catch (e) {
      throw new InputError(
        idxPath,
        `expected the index of ${basename(binPath)}, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    const fail = (at: number, msg: string): never => {
      throw new InputError(idxPath, `byte ${at}: ${msg}`);
    };
    if (idx.length < 34 || !idx.subarray(0, 9).equals(IDX_MAGIC)) fail(
      0,
      `expected the Megatron index header "MMIDIDX", got ${showValue(idx.subarray(0, 9).toString("latin1"))}`,
    );
    const version = Number(idx.readBigUInt64LE(9));
    if (version !== 1) fail(9, `expected index version 1, got ${version}`);
    const dtype = idx.readUInt8(17);
    if (!DTYPES[dtype]) fail(
      17,
      `expected a token dtype code 1, 3, 4 or 8 (uint8, int16, int32, uint16), got ${dtype}`,
    );
    const n = Number(idx.readBigUInt64LE(18));
    const numDocs = Number(idx.readBigUInt64LE(26));
    const need = 34 + 4 * n + 8 * n + 8 * numDocs;
    if (idx.length !== need) fail(
      34,
      `expected ${need} bytes for ${n} sequences and ${numDocs} document indices, got ${idx.length}`,
    );
    const lengths = new Int32Array(n);
    const offsets = new Float64Array(n);
    for (let i = 0; i < n; i++) lengths[i] = idx.readInt32LE(34 + 4 * i);
    const base = 34 + 4 * n;
    for (let i = 0; i < n; i++) offsets[i] = Number(idx.readBigInt64LE(base + 8 * i));
    let binSize: number;
    try {
      binSize = (await stat(binPath)).size;
    } catch (e) {
      throw new InputError(
        binPath,
        `expected a readable token shard, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    const size = DTYPES[dtype]!.size;
    for (let i = 0; i < n; i++) {
      if (lengths[i]! < 0 || offsets[i]! + lengths[i]! * size > binSize) fail(
        34 + 4 * i,
        `sequence ${i}: expected ${lengths[i]} tokens at byte ${offsets[i]} inside ${basename(binPath)} (${binSize} ` +
          `bytes), got a range past its end`,
      );
    }
    return new TokenShardSource(binPath, idxPath, lengths, offsets, dtype, pool, syncPool);
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
      const t = this.dtype;
      if (t === 8) this.scratchTokens = new Uint16Array(ab);
      else if (t === 3) this.scratchTokens = new Int16Array(ab);
      else if (t === 4) this.scratchTokens = new Int32Array(ab);
      else this.scratchTokens = new Uint8Array(ab);
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
      if (r === 0) throw new InputError(
        this.binPath,
        `byte ${this.offsets[i]! + done}: expected ${bytes} bytes of sequence ${i}, got the end of the file ` +
          `(truncated shard?)`,
      );
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
export async function writeTokenShard(
  prefix: string,
  sequences: Iterable<ArrayLike<number>>,
  dtype: "uint16" | "int32" = "uint16",
): Promise<void> {
  const code = dtype === "uint16" ? 8 : 4;
  const size = dtype === "uint16" ? 2 : 4;
  const lengths: number[] = [];
  const chunks: Buffer[] = [];
  for (const s of sequences) {
    const b = Buffer.allocUnsafe(s.length * size);
    for (let i = 0; i < s.length; i++) {
      const v = s[i]!;
      if (dtype === "uint16") {
        if (!(v >= 0 && v < 65536 && Number.isInteger(v))) throw new InputError(
          prefix,
          `sequence ${lengths.length}, token ${i}: expected an integer in [0, 65535] for uint16, got ${v}`,
        );
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
