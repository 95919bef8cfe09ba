// Checks a runs table that a command will append to, before any work starts: the extension, the
// folder, write access, and (when the table exists) that it parses, can be appended to and has
// the corpus's domain set. A run finished and then thrown away for a bad path is the failure
// this prevents.

import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { InputError, showValue } from "../errors.js";
import { formatOf, readFrameAsync, type Frame } from "./frame.js";

/**
 * Validates an output runs table and returns what it holds (null when it does not exist yet).
 * @param flag the flag that named it, for messages (`--runs`)
 * @param domains the corpus's domains: an existing table's `w.<domain>` columns must be exactly these
 * @throws InputError naming the flag and the value, or the table and the differing domains
 */
export async function checkRunsOutput(path: string, o: { readonly flag: string; readonly domains: readonly string[] }): Promise<Frame | null> {
  try {
    formatOf(path);
  } catch {
    throw new InputError(o.flag, `expected a file ending in .csv, .jsonl, .ndjson, .arrow, .feather, .ipc or .parquet, got ${showValue(path)}${extname(path) ? ` (${extname(path)})` : " (no extension)"}`);
  }
  const dir = dirname(resolve(path));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(o.flag, `expected a file in an existing folder, got ${showValue(path)} (no folder ${showValue(dirname(path))})`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new InputError(o.flag, `expected a file in a folder this user can write to (the table is replaced atomically), got ${showValue(path)}`);
  }
  if (!existsSync(path)) return null;
  if (!statSync(path).isFile()) throw new InputError(o.flag, `expected a runs table file, got ${showValue(path)}, which is not a file`);
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch {
    throw new InputError(o.flag, `expected a runs table this user can read and write, got ${showValue(path)}`);
  }
  const frame = await readFrameAsync(path);
  if (frame.numRows === 0 && frame.columns.length === 0) return frame;
  const have = frame.columns.filter((c) => c.startsWith("w.")).map((c) => c.slice(2));
  const missing = o.domains.filter((d) => !have.includes(d));
  const extra = have.filter((d) => !o.domains.includes(d));
  if (missing.length || extra.length) {
    throw new InputError(path, `expected the corpus's domains (${o.domains.join(", ")}) as w.<domain> columns, got ${have.length ? have.join(", ") : "none"}${missing.length ? `; missing ${missing.join(", ")}` : ""}${extra.length ? `; not in the corpus: ${extra.join(", ")}` : ""} (use another --runs file for another corpus)`);
  }
  return frame;
}
