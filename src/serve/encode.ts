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
    let max = 0;
    let min = 0;
    for (let i = 0; i < n; i++) {
      const v = t[i]!;
      if (v > max) max = v;
      if (v < min) min = v;
    }
    if (min < 0) throw new MixError("E_TOKENS", `expected token ids ≥ 0, got ${min}`);
    width = max < 256 ? 1 : max < 65536 ? 2 : 4;
  }
  const header = Buffer.from(JSON.stringify({
    ...extra,
    rows,
    seqLen,
    width,
    domainPerRow: Array.from(b.domainPerRow),
    indexPerRow: Array.from(b.indexPerRow),
    truncatedTokens: b.truncatedTokens,
    padTokens: b.padTokens,
  }));
  const headerEnd = 4 + header.length;
  const offset = (headerEnd + 3) & ~3;
  const idsEnd = offset + n * width;
  const body = alloc((idsEnd + 3) & ~3);
  body.writeUInt32LE(header.length, 0);
  header.copy(body, 4);
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

/** Decodes one batch of `encodeBatch`'s output starting at byte `at`; `end` is where it ends. */
function decodeAt(buf: Buffer, at: number): DecodedBatch & { end: number } {
  const cut = (what: string, got: number): MixError =>
    new MixError("E_TRUNCATED", `batch at byte ${at}: expected ${what}, got ${Math.max(0, got)} bytes`);
  if (buf.length - at < 4) throw cut("a 4-byte header length", buf.length - at);
  const len = buf.readUInt32LE(at);
  if (buf.length - at - 4 < len) throw cut(`a ${len}-byte header`, buf.length - at - 4);
  const header = JSON.parse(buf.subarray(at + 4, at + 4 + len).toString("utf8"));
  const offset = at + ((4 + len + 3) & ~3);
  const n = header.rows * header.seqLen;
  const w = header.width as number;
  const idsEnd = offset + n * w;
  if (idsEnd > buf.length) throw cut(`${n} token ids of ${w} bytes`, buf.length - offset);
  const tokens = new Int32Array(n);
  const p = buf.byteOffset + offset;
  if (w === 1) tokens.set(buf.subarray(offset, idsEnd));
  else if (LITTLE_ENDIAN && p % w === 0) tokens.set(w === 2 ? new Uint16Array(buf.buffer, p, n) : new Uint32Array(buf.buffer, p, n));
  else for (let i = 0; i < n; i++) tokens[i] = w === 2 ? buf.readUInt16LE(offset + 2 * i) : buf.readUInt32LE(offset + 4 * i);
  return { header, tokens, end: Math.min(buf.length, (idsEnd + 3) & ~3) };
}

/** Decodes the first batch of a body (the Node client and the tests). */
export function decodeBatch(body: Uint8Array): DecodedBatch {
  const { header, tokens } = decodeAt(Buffer.from(body.buffer, body.byteOffset, body.byteLength), 0);
  return { header, tokens };
}

/**
 * Every batch of a body with its ids as little-endian views of the body at their wire width (no
 * copy; a copy only where the body is not aligned or the machine is big-endian).
 */
export function viewBatches(body: Uint8Array): { header: BatchHeader; tokens: Uint8Array | Uint16Array | Uint32Array }[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const out: { header: BatchHeader; tokens: Uint8Array | Uint16Array | Uint32Array }[] = [];
  for (let at = 0; at < buf.length; ) {
    const len = buf.readUInt32LE(at);
    const header = JSON.parse(buf.subarray(at + 4, at + 4 + len).toString("utf8")) as BatchHeader;
    const offset = at + ((4 + len + 3) & ~3);
    const n = header.rows * header.seqLen;
    const w = header.width;
    const p = buf.byteOffset + offset;
    if (w === 1) out.push({ header, tokens: buf.subarray(offset, offset + n) });
    else if (LITTLE_ENDIAN && p % w === 0) out.push({ header, tokens: w === 2 ? new Uint16Array(buf.buffer, p, n) : new Uint32Array(buf.buffer, p, n) });
    else {
      const { tokens } = decodeAt(buf, at);
      out.push({ header, tokens: Uint32Array.from(tokens) });
    }
    at = Math.min(buf.length, (offset + n * w + 3) & ~3);
  }
  return out;
}

/** Decodes every batch of a body (`GET …/batches?count=n` sends their encodings back to back). */
export function decodeBatches(body: Uint8Array): DecodedBatch[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const out: DecodedBatch[] = [];
  for (let at = 0; at < buf.length; ) {
    const { header, tokens, end } = decodeAt(buf, at);
    out.push({ header, tokens });
    at = end;
  }
  return out;
}
