// Corpus discovery: a directory with, per domain, `<domain>.jsonl` (or `.jsonl.gz`, `.jsonl.br`),
// `<domain>.arrow`, `<domain>.parquet`, `<domain>.bin` (+ `.idx`), or a folder `<domain>/` of shard
// files in any of those formats (read in sorted name order); or a `corpus.json` manifest that
// lists the files of each domain explicitly. Listings are sorted so the result never depends on
// the file system's order.

import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { InputError, ZOD_MESSAGES, zodIssues } from "../errors.js";
import {
  openDomain,
  SHARD_PATTERN,
  FileHandlePool,
  SyncFdPool,
  type DomainSource,
  type OpenOptions,
} from "./sources.js";

/** The files of each domain, in domain order (sorted by name unless a manifest says otherwise). */
export interface CorpusLayout {
  readonly dir: string;
  readonly domains: { readonly name: string; readonly files: string[] }[];
}

const ManifestSchema = z.strictObject({
  format: z.literal("mixlab.corpus/v1").optional(),
  domains: z.array(z.strictObject({ name: z.string().min(1), files: z.array(z.string().min(1)).min(1) })).min(1),
});

function domainOf(file: string): string | null {
  const m = SHARD_PATTERN.exec(file);
  return m ? file.slice(0, file.length - m[0].length) : null;
}

/**
 * Finds the domains of a corpus directory.
 * @throws InputError for a missing directory, an empty domain folder, a domain given twice, or a bad manifest
 */
export async function discoverCorpus(dir: string): Promise<CorpusLayout> {
  let entries: string[];
  try {
    entries = (await readdir(dir)).sort();
  } catch (e) {
    throw new InputError(dir, `expected a corpus directory, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (entries.includes("corpus.json")) {
    const path = join(dir, "corpus.json");
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, "utf8"));
    } catch (e) {
      throw new InputError(path, `expected JSON, got ${(e as Error).message}`);
    }
    const r = ManifestSchema.safeParse(raw, ZOD_MESSAGES);
    if (!r.success) throw new InputError(path, zodIssues(r.error.issues));
    const names = r.data.domains.map((d) => d.name);
    const dup = names.filter((n, i) => names.indexOf(n) !== i);
    if (dup.length) throw new InputError(
      path,
      `expected each domain once, got ${dup.map((d) => JSON.stringify(d)).join(", ")} twice`,
    );
    return { dir, domains: r.data.domains.map((d) => ({ name: d.name, files: d.files.map((f) => join(dir, f)) })) };
  }
  // A corpus built by `mixlab datasets build` holds its domains in train/ and heldout/: reading its
  // root would take those two folders for domains.
  if (["manifest.json", "train", "heldout"].every((e) => entries.includes(e))) {
    throw new InputError(
      dir,
      "expected a folder of domains, got a built corpus (manifest.json, train/, heldout/); " +
        `pass ${JSON.stringify(join(dir, "train"))} (or heldout/)`,
    );
  }
  const byDomain = new Map<string, string[]>();
  const add = (name: string, files: string[]): void => {
    if (byDomain.has(name)) {
      const all = [...byDomain.get(name)!, ...files].map((f) => f.slice(dir.length + 1)).join(", ");
      throw new InputError(
        dir,
        `domain ${JSON.stringify(name)}: expected one file or one folder, got several (${all})`,
      );
    }
    byDomain.set(name, files);
  };
  for (const e of entries) {
    const full = join(dir, e);
    const st = await stat(full);
    if (st.isDirectory()) {
      const shards = (await readdir(full)).filter((f) => SHARD_PATTERN.test(f)).sort();
      if (shards.length === 0) throw new InputError(
        full,
        "expected shard files (.jsonl, .jsonl.gz, .jsonl.br, .arrow, .parquet, .bin), got none: a domain with no data",
      );
      add(e, shards.map((s) => join(full, s)));
    } else {
      const d = domainOf(e);
      if (d) add(d, [full]);
    }
  }
  if (byDomain.size === 0) throw new InputError(
    dir,
    "expected domain files or folders (<domain>.jsonl, <domain>.arrow, <domain>.parquet, <domain>.bin, <domain>/), " +
      "got none",
  );
  return { dir, domains: [...byDomain.keys()].sort().map((name) => ({ name, files: byDomain.get(name)! })) };
}

/** An opened corpus: one source per domain. */
export interface Corpus {
  readonly layout: CorpusLayout;
  readonly names: string[];
  readonly sources: DomainSource[];
  close(): Promise<void>;
}

/**
 * Discovers and opens every domain of a corpus directory. The corpus keeps its own file-handle
 * pools (unless `options` passes some), closed by `close()`; a failure while opening closes what
 * was opened.
 */
export async function openCorpus(dir: string, options: OpenOptions = {}): Promise<Corpus> {
  const layout = await discoverCorpus(dir);
  const pool = options.pool ?? new FileHandlePool(64);
  const syncPool = options.syncPool ?? new SyncFdPool(64);
  const own = { pool: options.pool === undefined, syncPool: options.syncPool === undefined };
  const sources: DomainSource[] = [];
  const close = async (): Promise<void> => {
    for (const s of sources) await s.close();
    if (own.pool) await pool.closeAll();
    if (own.syncPool) syncPool.closeAll();
  };
  try {
    for (const d of layout.domains) sources.push(await openDomain(d.files, { ...options, pool, syncPool }));
  } catch (e) {
    await close();
    throw e;
  }
  return { layout, names: layout.domains.map((d) => d.name), sources, close };
}
