// Domain sources: random access by record index to a domain's data, without loading whole files
// into memory. Formats: Megatron-LM token shards (`.bin` + `.idx`, the MMIDIDX layout, so shards
// written by Megatron's preprocessing are read as they are), JSONL (also `.jsonl.gz`/`.jsonl.br`,
// decompressed once into a cache file), Arrow IPC files, and Parquet, one format a file under
// sources/ behind one registry (sources/registry.ts). A domain may span many shards
// (`ConcatSource`). Every file is indexed and validated when it is opened, so a corrupt or
// truncated file is an error naming the file and line, record batch, row group or byte offset
// before the first sample; file handles are opened lazily and their number is bounded.

export type { DomainSource, SourceRecord, OpenOptions } from "./sources/types.js";
export { FileHandlePool, SyncFdPool, defaultPool, defaultSyncPool } from "./sources/pool.js";
export { TokenShardSource, writeTokenShard } from "./sources/megatron.js";
export { JsonlSource } from "./sources/jsonl.js";
export { ArrowSource } from "./sources/arrow.js";
export { ParquetSource } from "./sources/parquet.js";
export { ConcatSource } from "./sources/concat.js";
export { MemorySource } from "./sources/memory.js";
export { SHARD_PATTERN, SOURCE_FORMATS, openShard, openDomain, type SourceFormat } from "./sources/registry.js";
