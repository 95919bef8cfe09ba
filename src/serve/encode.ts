// The wire format of `mixlab serve`'s batches: encoding (the server and its batch-making
// threads) and decoding (the Node client, the bench and the tests).

import { endianness } from "node:os";
import { MixError } from "../errors.js";
import type { TokenBatch } from "../sampler/sampler.js";

/** One encoded batch and what the header says about it. */
export interface EncodedBatch {
  readonly body: Buffer;
  readonly rows: number;
  readonly tokens: number;
}

const LITTLE_ENDIAN = endianness() === "LE";

/** Media type of an encoded batch. */
export const BATCH_MEDIA_TYPE = "application/vnd.mixlab.batch.v1";

/**
 * Encodes a batch for the wire: a 4-byte little-endian header length, the UTF-8 JSON header
 * (rows, seqLen, width, domainPerRow, indexPerRow, truncatedTokens, padTokens and `extra`),
 * zero padding to a multiple of 4 bytes, then rows × seqLen token ids as little-endian unsigned
 * integers of the smallest width (1, 2 or 4 bytes) that holds the batch's largest id, and zero
 * padding to a multiple of 4 bytes again (so that batches sent back to back stay aligned).
 * `maxId`, when the corpus's storage type bounds the ids, spares the scan for the largest one;
 * `alloc` gives the memory.
 */
export function encodeBatch(
  b: TokenBatch,
  seqLen: number,
  extra: Record<string, unknown>,
  maxId?: number,
  alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): EncodedBatch {
  const rows = b.domainPerRow.length;
  const n = rows * seqLen;
  const t = b.tokens;
  let width = 1;
  if (maxId !== undefined && maxId < 65536) {
    // Ids known to lie in [0, maxId] (8- or 16-bit token shards): only "is one above 255?" is open,
    // and a real vocabulary answers it within the first few ids.
    if (maxId > 255) for (let i = 0; i < n; i++) if (t[i]! > 255) {
      width = 2;
      break;
    }
  } else {
    const or = bitsOf(t, n);
    if (or < 0) {
      let min = 0;
      for (let i = 0; i < n; i++) if (t[i]! < min) min = t[i]!;
      throw new MixError("E_TOKENS", `expected token ids ≥ 0, got ${min}`);
    }
    width = or < 256 ? 1 : or < 65536 ? 2 : 4;
  }
  // `extra`'s fields first, then the batch's: the JSON of one object, built without a spread
  // (an object spread made the header cost twice the token copy).
  const fields = JSON.stringify({
    rows,
    seqLen,
    width,
    domainPerRow: plain(b.domainPerRow),
    indexPerRow: plain(b.indexPerRow),
    truncatedTokens: b.truncatedTokens,
    padTokens: b.padTokens,
  });
  const more = JSON.stringify(extra);
  const json = more === "{}" ? fields : `${more.slice(0, -1)},${fields.slice(1)}`;
  const headerLength = Buffer.byteLength(json);
  const headerEnd = 4 + headerLength;
  const offset = (headerEnd + 3) & ~3;
  const idsEnd = offset + n * width;
  const body = alloc((idsEnd + 3) & ~3);
  body.writeUInt32LE(headerLength, 0);
  body.write(json, 4);
  body.fill(0, headerEnd, offset);
  body.fill(0, idsEnd);
  const ids = t.subarray(0, n);
  // Typed-array views convert in bulk; `offset` is a multiple of 4, so every view is aligned.
  if (width === 1) body.set(ids, offset);
  else if (LITTLE_ENDIAN && width === 2) new Uint16Array(body.buffer, body.byteOffset + offset, n).set(ids);
  else if (LITTLE_ENDIAN) new Uint32Array(body.buffer, body.byteOffset + offset, n).set(ids);
  else if (width === 2) for (let i = 0; i < n; i++) body.writeUInt16LE(ids[i]!, offset + 2 * i);
  else for (let i = 0; i < n; i++) body.writeUInt32LE(ids[i]!, offset + 4 * i);
  return { body, rows, tokens: n };
}

/**
 * The bitwise OR of the first `n` ids: every id is below 2^k exactly when it is, and it is
 * negative when one is.
 */
function bitsOf(t: Int32Array, n: number): number {
  let or = 0;
  for (let i = 0; i < n; i++) or |= t[i]!;
  return or;
}

/** A typed array's values as a plain array (for JSON). */
function plain(xs: Int32Array | Float64Array): number[] {
  const out = new Array<number>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i]!;
  return out;
}

/** The JSON header of an encoded batch. */
export type BatchHeader = Record<string, unknown> & {
  rows: number;
  seqLen: number;
  width: number;
  domainPerRow: number[];
  indexPerRow: number[];
};

/** A decoded batch (the Node client and the tests). */
export interface DecodedBatch {
  readonly header: BatchHeader;
  readonly tokens: Int32Array;
}

/** One batch of a body: its header, where its ids lie, and where the next batch starts. */
interface Frame {
  readonly header: BatchHeader;
  readonly offset: number;
  readonly n: number;
  readonly width: number;
  /** The ids viewed in place at their width (null where the body is unaligned or big-endian). */
  readonly view: Uint8Array | Uint16Array | Uint32Array | null;
  readonly end: number;
}

/** The batch of `encodeBatch`'s output starting at byte `at`, checked against the body's length. */
function frameAt(buf: Buffer, at: number): Frame {
  const cut = (what: string, got: number): MixError =>
    new MixError("E_TRUNCATED", `batch at byte ${at}: expected ${what}, got ${Math.max(0, got)} bytes`);
  if (buf.length - at < 4) throw cut("a 4-byte header length", buf.length - at);
  const len = buf.readUInt32LE(at);
  if (buf.length - at - 4 < len) throw cut(`a ${len}-byte header`, buf.length - at - 4);
  const header = JSON.parse(buf.subarray(at + 4, at + 4 + len).toString("utf8")) as BatchHeader;
  const offset = at + ((4 + len + 3) & ~3);
  const n = header.rows * header.seqLen;
  const width = header.width;
  const idsEnd = offset + n * width;
  if (idsEnd > buf.length) throw cut(`${n} token ids of ${width} bytes`, buf.length - offset);
  const p = buf.byteOffset + offset;
  const view = width === 1
    ? buf.subarray(offset, idsEnd)
    : LITTLE_ENDIAN && p % width === 0
      ? width === 2 ? new Uint16Array(buf.buffer, p, n) : new Uint32Array(buf.buffer, p, n)
      : null;
  return { header, offset, n, width, view, end: Math.min(buf.length, (idsEnd + 3) & ~3) };
}

/** A frame's ids as 32-bit integers (a copy). */
function widen(buf: Buffer, f: Frame): Int32Array {
  const tokens = new Int32Array(f.n);
  if (f.view) tokens.set(f.view);
  else if (f.width === 2) for (let i = 0; i < f.n; i++) tokens[i] = buf.readUInt16LE(f.offset + 2 * i);
  else for (let i = 0; i < f.n; i++) tokens[i] = buf.readUInt32LE(f.offset + 4 * i);
  return tokens;
}

/** The frames of a body, back to back. */
function* framesOf(buf: Buffer): Generator<Frame> {
  for (let at = 0; at < buf.length; ) {
    const f = frameAt(buf, at);
    yield f;
    at = f.end;
  }
}

const asBuffer = (body: Uint8Array): Buffer => Buffer.from(body.buffer, body.byteOffset, body.byteLength);

/** Decodes the first batch of a body (the Node client and the tests). */
export function decodeBatch(body: Uint8Array): DecodedBatch {
  const buf = asBuffer(body);
  const f = frameAt(buf, 0);
  return { header: f.header, tokens: widen(buf, f) };
}

/**
 * Every batch of a body with its ids as little-endian views of the body at their wire width (no
 * copy; a copy only where the body is not aligned or the machine is big-endian).
 */
export function viewBatches(
  body: Uint8Array,
): { header: BatchHeader; tokens: Uint8Array | Uint16Array | Uint32Array }[] {
  const buf = asBuffer(body);
  return [...framesOf(buf)].map((f) => ({ header: f.header, tokens: f.view ?? Uint32Array.from(widen(buf, f)) }));
}

/** Decodes every batch of a body (`GET …/batches?count=n` sends their encodings back to back). */
export function decodeBatches(body: Uint8Array): DecodedBatch[] {
  const buf = asBuffer(body);
  return [...framesOf(buf)].map((f) => ({ header: f.header, tokens: widen(buf, f) }));
}
