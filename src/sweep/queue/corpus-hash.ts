// The content hash of a corpus as a sweep job carries it: SHA-256 over every file of the train and held-out
// splits (relative path and bytes, in sorted order), so it does not depend on where the corpus lives.

import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const full = join(d, name);
      if ((await stat(full)).isDirectory()) await walk(full);
      else out.push(full);
    }
  };
  await walk(dir);
  return out;
}

/**
 * Hashes the corpus splits a run reads.
 * @returns 64 hex digits
 * @throws Error (ENOENT, EACCES…) when a split cannot be read
 */
export async function corpusContentHash(splits: { train: string; heldout: string }): Promise<string> {
  const h = createHash("sha256");
  for (const [name, dir] of [["train", splits.train], ["heldout", splits.heldout]] as const) {
    for (const file of await listFiles(dir)) {
      const bytes = await readFile(file);
      h.update(`${name}/${relative(dir, file).split("\\").join("/")}\0${bytes.length}\0`);
      h.update(bytes);
    }
  }
  return h.digest("hex");
}
