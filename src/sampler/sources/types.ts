// What every domain source provides, whatever its file format.

import type { FileHandlePool, SyncFdPool } from "./pool.js";

/** One record: text, or pre-tokenised ids. */
export interface SourceRecord {
  readonly text?: string;
  readonly tokens?: Int32Array;
}

/** Random access to one domain's records. */
export interface DomainSource {
  /** The files behind it, for messages and manifests. */
  readonly files: readonly string[];
  readonly numRecords: number;
  /** Exact tokens of record i when the source is pre-tokenised, else undefined. */
  tokensOf?(i: number): number;
  /** Bytes of record i's stored text or tokens (for statistics). */
  readonly totalBytes: number;
  /**
   * When the storage type bounds the ids (unsigned 8- or 16-bit token shards): every id is an
   * integer in [0, maxTokenId]. Undefined when ids may be negative or wider.
   */
  readonly maxTokenId?: number;
  read(i: number): Promise<SourceRecord>;
  /**
   * Optional fast path for pre-tokenised sources: writes record i's first `max` tokens into
   * `out` at `offset` synchronously and returns the record's full length.
   */
  readInto?(i: number, out: Int32Array, offset: number, max: number): number;
  close(): Promise<void>;
}

/** Options for opening files. */
export interface OpenOptions {
  /** Field holding the text in JSONL/Arrow/Parquet (default "text"). */
  readonly field?: string;
  /** Parse every JSONL line at open (default true). */
  readonly validate?: boolean;
  /** Where decompressed .gz/.br files are cached (default <tmpdir>/mixlab-cache). */
  readonly cacheDir?: string;
  /** Where file handles are kept (default: shared pools; `openCorpus` makes its own and closes them). */
  readonly pool?: FileHandlePool;
  readonly syncPool?: SyncFdPool;
}
