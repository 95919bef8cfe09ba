// The content hash of a corpus, part of every run key: SHA-256 over each split's domains (by
// name, sorted) and the SHA-256 of each of their files' bytes, in the order the sampler reads
// them. Renaming the folder or touching a file leaves it unchanged; changing one byte does not.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { discoverCorpus } from "../sampler/corpus.js";

async function fileSha256(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * The content hash of a corpus's train and held-out splits (hex SHA-256).
 * @param splits the two directories, as the trainer opens them
 * @throws InputError (from discoverCorpus) for a missing or empty corpus directory
 */
export async function corpusSha256(splits: { readonly train: string; readonly heldout: string }): Promise<string> {
  const h = createHash("sha256");
  for (const [split, dir] of [["train", splits.train], ["heldout", splits.heldout]] as const) {
    const layout = await discoverCorpus(dir);
    for (const d of [...layout.domains].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      h.update(`${split}\0${d.name}\0`);
      for (const f of d.files) h.update(`${await fileSha256(f)}\0`);
    }
  }
  return h.digest("hex");
}
