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
export async function checkRunsOutput(
  path: string,
  o: { readonly flag: string; readonly domains: readonly string[] },
): Promise<Frame | null> {
  const fail = (expected: string, got: string): never => {
    throw new InputError(o.flag, `expected ${expected}, got ${showValue(path)}${got}`);
  };
  try {
    formatOf(path);
  } catch {
    const ext = extname(path);
    const endings = ".csv, .jsonl, .ndjson, .arrow, .feather, .ipc or .parquet";
    fail(`a file ending in ${endings}`, ext ? ` (${ext})` : " (no extension)");
  }
  const dir = dirname(resolve(path));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    fail("a file in an existing folder", ` (no folder ${showValue(dirname(path))})`);
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    fail("a file in a folder this user can write to (the table is replaced atomically)", "");
  }
  if (!existsSync(path)) return null;
  if (!statSync(path).isFile()) fail("a runs table file", ", which is not a file");
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch {
    fail("a runs table this user can read and write", "");
  }
  if (statSync(path).size === 0) return null; // an empty file (e.g. from touch) is a new table
  const frame = await readFrameAsync(path);
  if (frame.numRows === 0 && frame.columns.length === 0) return frame;
  const have = frame.columns.filter((c) => c.startsWith("w.")).map((c) => c.slice(2));
  const missing = o.domains.filter((d) => !have.includes(d));
  const extra = have.filter((d) => !o.domains.includes(d));
  if (missing.length || extra.length) {
    const got = [have.length ? have.join(", ") : "none"];
    if (missing.length) got.push(`missing ${missing.join(", ")}`);
    if (extra.length) got.push(`not in the corpus: ${extra.join(", ")}`);
    throw new InputError(
      path,
      `expected the corpus's domains (${o.domains.join(", ")}) as w.<domain> columns, got ${got.join("; ")} ` +
        `(use another ${o.flag} file for another corpus)`,
    );
  }
  return frame;
}
