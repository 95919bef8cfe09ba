// A reader for R's lazy-load databases (`<pkg>/data/Rdata.rdx` + `Rdata.rdb`), enough to extract
// character vectors such as janeaustenr's novels without R: the index is gzip-compressed R
// serialization (XDR, versions 2 and 3) of list(variables = list(name = c(offset, length)), …);
// each database entry is a 4-byte big-endian length and a zlib stream of one serialized object.
// Supported types: NULL, symbols, pairlists, character, logical, integer, double and generic
// vectors, references; anything else is an error naming the type (never a silent skip).

import { readFileSync } from "node:fs";
import { gunzipSync, inflateSync } from "node:zlib";
import { UnsupportedError } from "../errors.js";

/** An unserialised R value (only what the corpus needs). */
export type RValue =
  | null
  | string
  | RValue[]
  | Float64Array
  | Int32Array
  | (string | null)[]
  | { pairlist: { tag: string | null; value: RValue }[] }
  | { symbol: string };

class Reader {
  private pos = 0;
  private readonly refs: RValue[] = [];
  constructor(private readonly buf: Buffer) {}

  int(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  header(): void {
    const magic = this.buf.subarray(0, 2).toString("latin1");
    if (magic !== "X\n") throw new UnsupportedError(
      `R serialization: expected the XDR format "X\\n", got ${JSON.stringify(magic)}`,
    );
    this.pos = 2;
    const version = this.int();
    this.int(); // writer version
    this.int(); // minimal reader version
    if (version === 3) {
      const n = this.int();
      this.pos += n; // native encoding name
    } else if (version !== 2) throw new UnsupportedError(`R serialization: expected version 2 or 3, got ${version}`);
  }

  private charsxp(): string | null {
    const n = this.int();
    if (n === -1) return null;
    const s = this.buf.subarray(this.pos, this.pos + n).toString("utf8");
    this.pos += n;
    return s;
  }

  item(): RValue {
    const flags = this.int();
    const type = flags & 0xff;
    const hasAttr = (flags & (1 << 9)) !== 0;
    const hasTag = (flags & (1 << 10)) !== 0;
    switch (type) {
      case 254: // NILVALUE_SXP
      case 253: // GLOBALENV_SXP
      case 242: // EMPTYENV_SXP
      case 241: // BASEENV_SXP
        return null;
      case 255: {
        // REFSXP
        let idx = flags >> 8;
        if (idx === 0) idx = this.int();
        return this.refs[idx - 1] ?? null;
      }
      case 1: {
        // SYMSXP
        this.int(); // the CHARSXP's flags
        const sym = { symbol: this.charsxp() ?? "" };
        this.refs.push(sym);
        return sym;
      }
      case 2: // LISTSXP (pairlist)
      case 6: {
        // LANGSXP
        const items: { tag: string | null; value: RValue }[] = [];
        let f = flags;
        for (;;) {
          const attr = (f & (1 << 9)) !== 0;
          const tagged = (f & (1 << 10)) !== 0;
          if (attr) this.item();
          const tag = tagged ? this.item() : null;
          const value = this.item();
          items.push({ tag: tag && typeof tag === "object" && "symbol" in tag ? tag.symbol : null, value });
          // CDR: another pairlist cell, or the terminator.
          const next = this.buf.readInt32BE(this.pos);
          if ((next & 0xff) !== 2 && (next & 0xff) !== 6) {
            this.item();
            break;
          }
          this.pos += 4;
          f = next;
        }
        return { pairlist: items };
      }
      case 9:
        return this.charsxp();
      case 10: // LGLSXP
      case 13: {
        // INTSXP
        const n = this.int();
        const out = new Int32Array(n);
        for (let i = 0; i < n; i++) out[i] = this.int();
        if (hasAttr) this.item();
        return out;
      }
      case 14: {
        // REALSXP
        const n = this.int();
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          out[i] = this.buf.readDoubleBE(this.pos);
          this.pos += 8;
        }
        if (hasAttr) this.item();
        return out;
      }
      case 16: {
        // STRSXP
        const n = this.int();
        const out: (string | null)[] = new Array(n);
        for (let i = 0; i < n; i++) {
          this.int(); // CHARSXP flags
          out[i] = this.charsxp();
        }
        if (hasAttr) this.item();
        return out;
      }
      case 19: // VECSXP
      case 20: {
        // EXPRSXP
        const n = this.int();
        const out: RValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.item();
        if (hasAttr) {
          const attrs = this.item();
          // Keep names as a property of the array, so list(variables = …) can be looked up by name.
          if (attrs && typeof attrs === "object" && "pairlist" in attrs) {
            const names = attrs.pairlist.find((a) => a.tag === "names")?.value;
            if (Array.isArray(names)) (out as RValue[] & { names?: unknown }).names = names;
          }
        }
        void hasTag;
        return out;
      }
      default:
        throw new UnsupportedError(`R serialization: type ${type} is not supported by this reader`);
    }
  }
}

function unserialize(buf: Buffer): RValue {
  const r = new Reader(buf);
  r.header();
  return r.item();
}

/** Reads every object of a lazy-load database by name. */
export function readLazyLoadDb(rdxPath: string, rdbPath: string): Map<string, RValue> {
  const index = unserialize(gunzipSync(readFileSync(rdxPath))) as RValue[] & { names?: string[] };
  const variables = index[index.names?.indexOf("variables") ?? 0] as RValue[] & { names?: string[] };
  const rdb = readFileSync(rdbPath);
  const out = new Map<string, RValue>();
  variables.forEach((pos, i) => {
    const name = variables.names?.[i] ?? String(i);
    const [offset, length] = Array.from(pos as Int32Array | Float64Array);
    const blob = rdb.subarray(offset!, offset! + length!);
    out.set(name, unserialize(inflateSync(blob.subarray(4))));
  });
  return out;
}
