// Text hygiene for the corpus: clean (CRLF, overstrike, control characters), split long texts at
// line boundaries, pack small units into records of at least `minBytes`, drop exact duplicates,
// and sub-sample to a size cap with a fixed seed (keeping the original order).

import { createHash } from "node:crypto";
import { createRng } from "../rng/index.js";

/** One corpus record. */
export interface CorpusRecord {
  readonly text: string;
  readonly source: string;
}

/**
 * CRLF → LF, remove backspace overstrikes (x\bx, _\bx) and control characters but \n and \t, trim trailing
 * spaces.
 */
export function cleanText(s: string): string {
  let t = s.replace(/\r\n?/g, "\n");
  t = t.replace(/[^\n]\x08/g, "");
  // eslint-disable-next-line no-control-regex
  t = t.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  t = t.replace(/[ \t]+\n/g, "\n").replace(/\n{4,}/g, "\n\n\n");
  return t.trim();
}

const byteLength = (s: string): number => Buffer.byteLength(s, "utf8");

/** Splits a text into pieces of at most `maxBytes`, at line boundaries where possible. */
export function splitText(text: string, maxBytes: number): string[] {
  if (byteLength(text) <= maxBytes) return [text];
  const out: string[] = [];
  let cur = "";
  for (const line of text.split("\n")) {
    const add = cur ? `${cur}\n${line}` : line;
    if (byteLength(add) > maxBytes && cur) {
      out.push(cur);
      cur = line;
    } else cur = add;
    while (byteLength(cur) > maxBytes) {
      // A single line longer than the limit: cut it by characters.
      let cut = Math.floor(cur.length * (maxBytes / byteLength(cur)));
      if (cut < 1) cut = 1;
      out.push(cur.slice(0, cut));
      cur = cur.slice(cut);
    }
  }
  if (cur.trim()) out.push(cur);
  return out.filter((p) => p.trim().length > 0);
}

/** Packs consecutive units of one source into records of at least `minBytes` (joined by blank lines). */
export function packUnits(
  units: readonly string[],
  source: string,
  minBytes: number,
  maxBytes: number,
): CorpusRecord[] {
  const out: CorpusRecord[] = [];
  let cur: string[] = [];
  let size = 0;
  for (const u of units) {
    cur.push(u);
    size += byteLength(u) + 2;
    if (size >= minBytes) {
      for (const piece of splitText(cur.join("\n\n"), maxBytes)) out.push({ text: piece, source });
      cur = [];
      size = 0;
    }
  }
  if (cur.length) for (const piece of splitText(cur.join("\n\n"), maxBytes)) out.push({ text: piece, source });
  return out;
}

/** Drops records whose text is an exact duplicate of an earlier one. */
export function dedupe(records: readonly CorpusRecord[]): { records: CorpusRecord[]; dropped: number } {
  const seen = new Set<string>();
  const out: CorpusRecord[] = [];
  for (const r of records) {
    const h = createHash("sha1").update(r.text).digest("base64");
    if (seen.has(h)) continue;
    seen.add(h);
    out.push(r);
  }
  return { records: out, dropped: records.length - out.length };
}

/** Keeps a seeded random subset of records whose total size is at most `maxBytes`, in their original order. */
export function capSize(records: readonly CorpusRecord[], maxBytes: number, seed: number): CorpusRecord[] {
  let total = 0;
  for (const r of records) total += byteLength(r.text);
  if (total <= maxBytes) return [...records];
  const order = Int32Array.from(records.keys());
  createRng(seed).derive("cap").shuffle(order);
  const keep = new Uint8Array(records.length);
  let size = 0;
  for (const i of order) {
    const b = byteLength(records[i]!.text);
    if (size + b > maxBytes) continue;
    keep[i] = 1;
    size += b;
  }
  return records.filter((_, i) => keep[i]);
}

/**
 * The held-out rule: a record is held out when the first byte of the SHA-256 of its text is
 * below 13 (≈ 5.1% of records). It depends only on the text, so it is stable across builds,
 * machines and sub-samples, and a text can never be on both sides.
 */
export function isHeldOut(text: string): boolean {
  return createHash("sha256").update(text).digest()[0]! < 13;
}
