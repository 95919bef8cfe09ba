// The one registry of source formats: a file's extension picks the opener.

import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../../errors.js";
import type { DomainSource, OpenOptions } from "./types.js";
import { TokenShardSource } from "./megatron.js";
import { JsonlSource, decompressToCache } from "./jsonl.js";
import { ArrowSource } from "./arrow.js";
import { ParquetSource } from "./parquet.js";
import { ConcatSource } from "./concat.js";

/** A file format: the extensions it owns and how to open one file of it. */
export interface SourceFormat {
  /** Extensions with their dot, longest first where one ends another (".jsonl.gz" before ".jsonl"). */
  readonly extensions: readonly string[];
  open(path: string, o: OpenOptions): Promise<DomainSource>;
}

const jsonlOptions = (o: OpenOptions) => ({
  ...(o.field ? { field: o.field } : {}),
  ...(o.validate !== undefined ? { validate: o.validate } : {}),
  ...(o.pool ? { pool: o.pool } : {}),
});

/** Every format a corpus may hold, by name. */
export const SOURCE_FORMATS: Readonly<Record<string, SourceFormat>> = {
  megatron: { extensions: [".bin"], open: (path, o) => TokenShardSource.open(path, o.pool, o.syncPool) },
  jsonl: { extensions: [".jsonl"], open: (path, o) => JsonlSource.open(path, jsonlOptions(o)) },
  "jsonl-compressed": {
    extensions: [".jsonl.gz", ".jsonl.br"],
    open: async (path, o) => JsonlSource.open(
      await decompressToCache(path, o.cacheDir ?? join(tmpdir(), "mixlab-cache")),
      { ...jsonlOptions(o), displayPath: path },
    ),
  },
  arrow: { extensions: [".arrow"], open: (path, o) => ArrowSource.open(path, o.field) },
  parquet: { extensions: [".parquet"], open: (path, o) => ParquetSource.open(path, o.field) },
};

const EXTENSIONS = Object.values(SOURCE_FORMATS).flatMap((f) => f.extensions);

/** The data file kinds a corpus may hold (the registry's extensions). */
export const SHARD_PATTERN = new RegExp(`(${EXTENSIONS.map((e) => e.replace(/\./g, "\\.")).join("|")})$`);

/** Opens one shard file by its extension. */
export async function openShard(path: string, o: OpenOptions = {}): Promise<DomainSource> {
  for (const f of Object.values(SOURCE_FORMATS)) if (f.extensions.some((e) => path.endsWith(e))) return f.open(path, o);
  throw new InputError(
    path,
    `expected a ${EXTENSIONS.slice(0, -1).join(", ")} or ${EXTENSIONS[EXTENSIONS.length - 1]} file`,
  );
}

/** Opens a domain from its files (one source, or a concatenation in the given order). */
export async function openDomain(files: readonly string[], o: OpenOptions = {}): Promise<DomainSource> {
  const parts: DomainSource[] = [];
  for (const f of files) parts.push(await openShard(f, o));
  return parts.length === 1 ? parts[0]! : new ConcatSource(parts);
}
