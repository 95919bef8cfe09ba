// JSONL domains: one JSON object per line with a string field `text` (the field name is
// configurable); `.jsonl.gz`/`.jsonl.br` are decompressed once into a cache file.

import { open, stat, mkdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { createReadStream, createWriteStream, existsSync, unlinkSync } from "node:fs";
import { createGunzip, createBrotliDecompress } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { InputError, showValue } from "../../errors.js";
import type { DomainSource, SourceRecord } from "./types.js";
import { defaultPool, readAt, type FileHandlePool } from "./pool.js";

const SCAN_CHUNK = 1 << 22;

/** True when `b` starts with the UTF-8 byte-order mark EF BB BF. */
function startsWithBom(b: Uint8Array, at = 0): boolean {
  return b[at] === 0xef && b[at + 1] === 0xbb && b[at + 2] === 0xbf;
}

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
   * with a string `field` and valid UTF-8. A UTF-8 byte-order mark at the start of the file is
   * skipped (as Python's utf-8-sig decoding does); one at the start of any other line is an
   * error naming the line (files concatenated with their marks).
   * @param displayPath the name used in messages (the compressed file for .gz/.br)
   */
  static async open(
    path: string,
    options: { field?: string; validate?: boolean; displayPath?: string; pool?: FileHandlePool } = {},
  ): Promise<JsonlSource> {
    const field = options.field ?? "text";
    const display = options.displayPath ?? path;
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (e) {
      throw new InputError(
        display,
        `expected a readable JSONL file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    const starts: number[] = [0];
    // ignoreBOM: a mark is kept in the decoded text, never silently dropped from a later line.
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    const validate = options.validate ?? true;
    let pending: Buffer[] = [];
    let pendingStart = 0;
    let pos = 0;
    let line = 1;
    const buf = Buffer.allocUnsafe(SCAN_CHUNK);
    const check = (bytes: Buffer, lineNo: number, at: number): void => {
      if (startsWithBom(bytes)) throw new InputError(
        display,
        `line ${lineNo} (byte ${at}): expected a JSON object, got a UTF-8 byte-order mark (only the file's first ` +
          `line may start with one; files concatenated with their marks?)`,
      );
      if (!validate) return;
      let text: string;
      try {
        text = decoder.decode(bytes);
      } catch {
        throw new InputError(display, `line ${lineNo} (byte ${at}): expected UTF-8 text, got invalid UTF-8`);
      }
      if (text.trim() === "") throw new InputError(
        display,
        `line ${lineNo} (byte ${at}): expected a JSON object, got an empty line`,
      );
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        throw new InputError(
          display,
          `line ${lineNo} (byte ${at}): expected a JSON object, got invalid JSON (${(e as Error).message})`,
        );
      }
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new InputError(
        display,
        `line ${lineNo} (byte ${at}): expected a JSON object, got ${showValue(obj)}`,
      );
      const t = (obj as Record<string, unknown>)[field];
      if (typeof t !== "string") {
        const got = t === undefined ? "no such field" : showValue(t);
        throw new InputError(
          display,
          `line ${lineNo} (byte ${at}): expected a string field ${JSON.stringify(field)}, got ${got}`,
        );
      }
    };
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, SCAN_CHUNK, pos);
        if (bytesRead === 0) break;
        let from = 0;
        if (pos === 0 && bytesRead >= 3 && startsWithBom(buf)) {
          // The file's byte-order mark: records start after it.
          from = 3;
          starts[0] = 3;
          pendingStart = 3;
        }
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
    let v: unknown;
    try {
      v = (JSON.parse(buf.toString("utf8")) as Record<string, unknown>)[this.field];
    } catch (e) {
      throw new InputError(
        this.files[0]!,
        `record ${i} (byte ${start}): expected a JSON object, got invalid JSON (${(e as Error).message}; the file ` +
          `was opened without validation or changed since)`,
      );
    }
    if (typeof v !== "string") throw new InputError(
      this.files[0]!,
      `record ${i} (byte ${start}): expected a string field ${JSON.stringify(this.field)}, got ${showValue(v)} (the ` +
        `file was opened without validation or changed since)`,
    );
    return { text: v };
  }

  async close(): Promise<void> {}
}

/** Decompresses a .jsonl.gz / .jsonl.br once into a cache file keyed by path, size and mtime. */
export async function decompressToCache(path: string, cacheDir: string): Promise<string> {
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
  const stop = removeOnSignal(tmp);
  try {
    await pipeline(
      createReadStream(path),
      path.endsWith(".br") ? createBrotliDecompress() : createGunzip(),
      createWriteStream(tmp),
    );
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    const kind = path.endsWith(".br") ? "brotli" : "gzip";
    throw new InputError(
      path,
      `expected ${kind}-compressed JSONL, got data that does not decompress (${(e as Error).message})`,
    );
  } finally {
    stop();
  }
  await rename(tmp, out);
  return out;
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * While a cache file is written, SIGINT/SIGTERM/SIGHUP remove it first and then end the process
 * as the signal would have (unless someone else listens). Returns the function that disarms it.
 */
function removeOnSignal(tmp: string): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    disarm();
    try {
      unlinkSync(tmp);
    } catch {
      // not created yet
    }
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const disarm = (): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return disarm;
}
