import { afterEach, describe, expect, it } from "vitest";
import { writeFileSync, mkdirSync, rmSync } from "node:fs";
import { gzipSync, brotliCompressSync } from "node:zlib";
import { join } from "node:path";
import { tableToIPC, tableFromArrays } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import {
  openShard,
  writeTokenShard,
  TokenShardSource,
  FileHandlePool,
  ConcatSource,
} from "../../src/sampler/sources.js";
import { discoverCorpus, openCorpus } from "../../src/sampler/corpus.js";
import { createSampler } from "../../src/sampler/sampler.js";
import { tmp as makeTmp } from "../helpers.js";

// Every directory a test makes is removed after it.
const made: string[] = [];
const tmp = (): string => {
  const d = makeTmp();
  made.push(d);
  return d;
};
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

const texts = ["alpha", "βeta ✓", "gamma gamma", "δ"];
const jsonl = texts.map((t, i) => JSON.stringify({ text: t, id: i })).join("\n") + "\n";

describe("sources", () => {
  it.each(["jsonl", "jsonl.gz", "jsonl.br", "arrow", "parquet"])("reads .%s by index", async (ext) => {
    const dir = tmp();
    const path = join(dir, `web.${ext}`);
    if (ext === "jsonl") writeFileSync(path, jsonl);
    if (ext === "jsonl.gz") writeFileSync(path, gzipSync(jsonl));
    if (ext === "jsonl.br") writeFileSync(path, brotliCompressSync(Buffer.from(jsonl)));
    if (ext === "arrow") writeFileSync(path, tableToIPC(tableFromArrays({ text: texts }), "file"));
    if (ext === "parquet") writeFileSync(
      path,
      Buffer.from(parquetWriteBuffer({ columnData: [{ name: "text", data: texts, type: "STRING" }] })),
    );
    const s = await openShard(path, { cacheDir: join(dir, "cache") });
    expect(s.numRecords).toBe(4);
    for (const i of [3, 0, 2, 1]) expect((await s.read(i)).text).toBe(texts[i]);
  });

  it("round-trips Megatron token shards (.bin + .idx)", async () => {
    const dir = tmp();
    const seqs = [[1, 2, 3], [65535], [], [7, 8]];
    await writeTokenShard(join(dir, "code"), seqs, "uint16");
    const s = await TokenShardSource.open(join(dir, "code.bin"));
    expect(s.numRecords).toBe(4);
    for (let i = 0; i < 4; i++) {
      expect(Array.from((await s.read(i)).tokens!)).toEqual(seqs[i]);
      expect(s.tokensOf(i)).toBe(seqs[i]!.length);
    }
  });

  it("names the file and line or byte of a corrupt record, before any sample", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "a.jsonl"), '{"text": "ok"}\n{"text": 3}\n');
    writeFileSync(join(dir, "b.jsonl"), '{"text": "ok"}\n{"text": "x"\n');
    writeFileSync(
      join(dir, "c.jsonl"),
      Buffer.concat([Buffer.from('{"text": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]),
    );
    writeFileSync(join(dir, "d.jsonl"), '{"text": "ok"}\n\n{"text": "ok"}\n');
    writeFileSync(join(dir, "e.jsonl.gz"), "not gzip");
    await expect(openShard(join(dir, "a.jsonl"))).rejects.toThrow(
      /a.jsonl: line 2 \(byte 15\): expected a string field "text", got 3/,
    );
    await expect(openShard(join(dir, "b.jsonl"))).rejects.toThrow(
      /b.jsonl: line 2 \(byte 15\): expected a JSON object, got invalid JSON/,
    );
    await expect(openShard(join(dir, "c.jsonl"))).rejects.toThrow(
      /c.jsonl: line 1 \(byte 0\): expected UTF-8 text, got invalid UTF-8/,
    );
    await expect(openShard(join(dir, "d.jsonl"))).rejects.toThrow(
      /d.jsonl: line 2 \(byte 15\): expected a JSON object, got an empty line/,
    );
    await expect(openShard(join(dir, "e.jsonl.gz"), { cacheDir: join(dir, "cache") })).rejects.toThrow(
      /e.jsonl.gz: expected gzip-compressed JSONL, got data that does not decompress/,
    );
    await expect(openShard(join(dir, "missing.jsonl"))).rejects.toThrow(
      /missing.jsonl: expected a readable JSONL file, got ENOENT/,
    );
    // A token shard whose index points past the data file.
    await writeTokenShard(join(dir, "t"), [[1, 2, 3, 4]]);
    writeFileSync(join(dir, "t.bin"), Buffer.alloc(4));
    await expect(TokenShardSource.open(join(dir, "t.bin"))).rejects.toThrow(
      /t.idx: byte 34: sequence 0: expected 4 tokens at byte 0 inside t.bin \(4 bytes\), got a range past its end/,
    );
    writeFileSync(join(dir, "u.bin"), Buffer.alloc(4));
    await expect(TokenShardSource.open(join(dir, "u.bin"))).rejects.toThrow(
      /u.idx: expected the index of u.bin, got ENOENT/,
    );
  });

  it("bounds open file handles", async () => {
    const dir = tmp();
    const pool = new FileHandlePool(3);
    const parts = [];
    for (let i = 0; i < 8; i++) {
      await writeTokenShard(join(dir, `s${i}`), [[i, i + 1]]);
      parts.push(await TokenShardSource.open(join(dir, `s${i}.bin`), pool));
    }
    const all = new ConcatSource(parts);
    for (let i = 0; i < 8; i++) expect(Array.from((await all.read(i)).tokens!)).toEqual([i, i + 1]);
    expect(pool.size).toBeLessThanOrEqual(3);
    await pool.closeAll();
  });
});

describe("corpus discovery", () => {
  it("finds files and shard folders by domain, sorted; a corpus.json overrides", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "web.jsonl"), jsonl);
    mkdirSync(join(dir, "code"));
    await writeTokenShard(join(dir, "code", "part-1"), [[1], [2]]);
    await writeTokenShard(join(dir, "code", "part-0"), [[0]]);
    writeFileSync(join(dir, "README.md"), "ignored");
    const layout = await discoverCorpus(dir);
    expect(layout.domains.map((d) => d.name)).toEqual(["code", "web"]);
    expect(layout.domains[0]!.files.map((f) => f.slice(dir.length))).toEqual(["/code/part-0.bin", "/code/part-1.bin"]);
    const c = await openCorpus(dir);
    expect(c.sources[0]!.numRecords).toBe(3);
    writeFileSync(join(dir, "corpus.json"), JSON.stringify({ domains: [{ name: "web", files: ["web.jsonl"] }] }));
    expect((await discoverCorpus(dir)).domains.map((d) => d.name)).toEqual(["web"]);
  });

  it("rejects an empty domain folder and a domain given twice", async () => {
    const dir = tmp();
    mkdirSync(join(dir, "empty"));
    await expect(discoverCorpus(dir)).rejects.toThrow(/empty: expected shard files .*got none: a domain with no data/);
    const dir2 = tmp();
    writeFileSync(join(dir2, "web.jsonl"), jsonl);
    writeFileSync(join(dir2, "web.arrow"), "x");
    await expect(discoverCorpus(dir2)).rejects.toThrow(
      /domain "web": expected one file or one folder, got several \(web.arrow, web.jsonl\)/,
    );
  });

  it("samples a directory corpus and packs byte-level batches, counting what it cuts and pads", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "web.jsonl"), jsonl);
    await writeTokenShard(join(dir, "code"), [[1, 2, 3, 4, 5, 6], [7]]);
    const s = await createSampler(
      { corpus: dir, proportions: { web: 0.5, code: 0.5 }, blockSize: 4, unit: "samples", seed: 0 },
    );
    let rows = 0;
    for await (const b of s.batches({ batchSize: 4, seqLen: 4, limit: 3 })) {
      expect(b.tokens).toHaveLength(16);
      rows += 4;
      expect(Array.from(b.domainPerRow).filter((d) => d === 0)).toHaveLength(2);
      expect(b.truncatedTokens + b.padTokens).toBeGreaterThan(0);
    }
    expect(rows).toBe(12);
    await s.close();
  });
});

describe("packed batches from token shards", () => {
  it("the fast path and the general path give the same batches; the last partial batch is kept", async () => {
    const dir = tmp();
    await writeTokenShard(
      join(dir, "a"),
      Array.from({ length: 30 }, (_, i) => Array.from({ length: 3 + (i % 7) }, (_, t) => i * 10 + t)),
    );
    await writeTokenShard(
      join(dir, "b"),
      Array.from({ length: 20 }, (_, i) => Array.from({ length: 5 }, () => 1000 + i)),
    );
    const opts = { corpus: dir, proportions: { a: 0.6, b: 0.4 }, blockSize: 10, seed: 4, budgetSamples: 50 };
    const fast = [];
    for await (const b of (await createSampler(opts)).batches({ batchSize: 8, seqLen: 6 })) fast.push(b);
    // General path: wrap the shards so readInto is hidden.
    const c = await openCorpus(dir);
    const hidden = c.sources.map(
      (s) => ({
        files: s.files,
        numRecords: s.numRecords,
        totalBytes: s.totalBytes,
        tokensOf: s.tokensOf!.bind(s),
        read: s.read.bind(s),
        close: s.close.bind(s),
      }),
    );
    const slow = [];
    for await (const b of (await createSampler({ ...opts, corpus: { names: c.names, sources: hidden } })).batches(
      { batchSize: 8, seqLen: 6 },
    )) slow.push(b);
    expect(fast.map((b) => b.domainPerRow.length)).toEqual([8, 8, 8, 8, 8, 8, 2]);
    expect(slow.map((b) => Array.from(b.tokens))).toEqual(fast.map((b) => Array.from(b.tokens)));
    expect(
      slow.map((b) => [b.truncatedTokens, b.padTokens]),
    ).toEqual(fast.map((b) => [b.truncatedTokens, b.padTokens]));
  });
});

describe("bad files: a clear error naming the file and where, before any sample", () => {
  /** The message with the temporary folder replaced by <dir>. */
  const msg = async (p: Promise<unknown>, dir: string): Promise<string> => {
    try {
      await p;
    } catch (e) {
      expect((e as Error).name).toBe("InputError");
      return (e as Error).message.split(dir).join("<dir>");
    }
    throw new Error("expected an error");
  };
  const many = Array.from({ length: 40 }, (_, i) => `text number ${i} `.repeat(4));

  it("JSONL: a byte-order mark at the start is skipped; one on a later line names the line", async () => {
    const dir = tmp();
    const lines = many.map((t) => JSON.stringify({ text: t }));
    writeFileSync(join(dir, "bom.jsonl"), `\ufeff${lines.join("\n")}\n`);
    const s = await openShard(join(dir, "bom.jsonl"));
    expect(s.numRecords).toBe(40);
    expect((await s.read(0)).text).toBe(many[0]);
    expect((await s.read(39)).text).toBe(many[39]);
    // The same through the compressed path (decompressed to a cache, then indexed).
    writeFileSync(join(dir, "bomz.jsonl.gz"), gzipSync(`\ufeff${lines.join("\n")}\n`));
    expect(
      (await (await openShard(join(dir, "bomz.jsonl.gz"), { cacheDir: join(dir, "cache") })).read(0)).text,
    ).toBe(many[0]);
    writeFileSync(join(dir, "cat.jsonl"), lines.map((l, i) => (i === 3 ? `\ufeff${l}` : l)).join("\n"));
    expect(await msg(openShard(join(dir, "cat.jsonl")), dir)).toMatchInlineSnapshot(
      `"<dir>/cat.jsonl: line 4 (byte 204): expected a JSON object, got a UTF-8 byte-order mark (only the file's first line may start with one; files concatenated with their marks?)"`,
    );
    // Without validation too (the mark is checked on every line).
    expect(await msg(openShard(join(dir, "cat.jsonl"), { validate: false }), dir)).toMatchInlineSnapshot(
      `"<dir>/cat.jsonl: line 4 (byte 204): expected a JSON object, got a UTF-8 byte-order mark (only the file's first line may start with one; files concatenated with their marks?)"`,
    );
    writeFileSync(join(dir, "only.jsonl"), "\ufeff");
    expect(await msg(openShard(join(dir, "only.jsonl")), dir)).toMatchInlineSnapshot(
      `"<dir>/only.jsonl: expected at least one record, got an empty file"`,
    );
  });

  it("JSONL opened without validation: a bad record read later names the file and record", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "v.jsonl"), '{"text": "ok"}\n{"text": 3}\nnot json\n');
    const s = await openShard(join(dir, "v.jsonl"), { validate: false });
    expect(await msg(s.read(1), dir)).toMatchInlineSnapshot(
      `"<dir>/v.jsonl: record 1 (byte 15): expected a string field "text", got 3 (the file was opened without validation or changed since)"`,
    );
    expect(await msg(s.read(2), dir)).toMatchInlineSnapshot(
      `"<dir>/v.jsonl: record 2 (byte 27): expected a JSON object, got invalid JSON (Unexpected token 'o', "not json" is not valid JSON; the file was opened without validation or changed since)"`,
    );
  });

  it("Arrow: truncated, stream format, not Arrow, corrupt", async () => {
    const dir = tmp();
    const file = tableToIPC(tableFromArrays({ text: many }), "file");
    writeFileSync(join(dir, "ok.arrow"), file);
    expect((await (await openShard(join(dir, "ok.arrow"))).read(7)).text).toBe(many[7]);
    for (const frac of [0.2, 0.6, 0.99]) {
      writeFileSync(join(dir, "cut.arrow"), file.subarray(0, Math.floor(file.length * frac)));
      expect(await msg(openShard(join(dir, "cut.arrow")), dir)).toMatch(
        /^<dir>\/cut.arrow: expected an Arrow IPC file ending in its "ARROW1" footer, got \d+ bytes without one \(truncated\?\)$/,
      );
    }
    writeFileSync(join(dir, "cut.arrow"), file.subarray(0, 100));
    expect(await msg(openShard(join(dir, "cut.arrow")), dir)).toMatchInlineSnapshot(
      `"<dir>/cut.arrow: expected an Arrow IPC file ending in its "ARROW1" footer, got 100 bytes without one (truncated?)"`,
    );
    writeFileSync(join(dir, "stream.arrow"), tableToIPC(tableFromArrays({ text: many }), "stream"));
    expect(await msg(openShard(join(dir, "stream.arrow")), dir)).toMatchInlineSnapshot(
      `"<dir>/stream.arrow: expected the Arrow IPC file format (random access, starting with "ARROW1"), got the stream format; write it with pyarrow.ipc.new_file (or as Parquet or JSONL)"`,
    );
    writeFileSync(join(dir, "text.arrow"), "hello world, not arrow");
    expect(await msg(openShard(join(dir, "text.arrow")), dir)).toMatchInlineSnapshot(
      `"<dir>/text.arrow: expected an Arrow IPC file (starting with "ARROW1"), got bytes "hello wo""`,
    );
    writeFileSync(join(dir, "empty.arrow"), "");
    expect(await msg(openShard(join(dir, "empty.arrow")), dir)).toMatchInlineSnapshot(
      `"<dir>/empty.arrow: expected an Arrow IPC file (starting with "ARROW1"), got an empty file"`,
    );
    // Magic at both ends, garbage between: the footer does not parse.
    const bad = Buffer.from(file);
    bad.fill(0x55, 8, bad.length - 10);
    writeFileSync(join(dir, "bad.arrow"), bad);
    expect(await msg(openShard(join(dir, "bad.arrow")), dir)).toMatch(
      /^<dir>\/bad.arrow: (expected an Arrow IPC file, got a schema or footer that does not parse|record batch 0: expected a readable record batch, got) .*corrupt file\?\)$/,
    );
  });

  it("Parquet: truncated, not Parquet, corrupt footer, corrupt pages", async () => {
    const dir = tmp();
    const pq = Buffer.from(parquetWriteBuffer({ columnData: [{ name: "text", data: many, type: "STRING" }] }));
    for (const frac of [0.2, 0.6, 0.99]) {
      writeFileSync(join(dir, "cut.parquet"), pq.subarray(0, Math.floor(pq.length * frac)));
      expect(await msg(openShard(join(dir, "cut.parquet")), dir)).toMatch(
        /^<dir>\/cut.parquet: expected a Parquet file ending in its "PAR1" footer, got \d+ bytes without one \(truncated\?\)$/,
      );
    }
    writeFileSync(join(dir, "cut.parquet"), pq.subarray(0, 100));
    expect(await msg(openShard(join(dir, "cut.parquet")), dir)).toMatchInlineSnapshot(
      `"<dir>/cut.parquet: expected a Parquet file ending in its "PAR1" footer, got 100 bytes without one (truncated?)"`,
    );
    writeFileSync(join(dir, "text.parquet"), "hello world");
    expect(await msg(openShard(join(dir, "text.parquet")), dir)).toMatchInlineSnapshot(
      `"<dir>/text.parquet: expected a Parquet file (starting with "PAR1"), got bytes "hell""`,
    );
    const footer = Buffer.from(pq);
    footer.fill(0x55, footer.length - 60, footer.length - 8);
    writeFileSync(join(dir, "footer.parquet"), footer);
    expect(await msg(openShard(join(dir, "footer.parquet")), dir)).toMatch(
      /^<dir>\/footer.parquet: expected a Parquet file, got a footer that does not parse \(.*; corrupt file\?\)$/,
    );
    const pages = Buffer.from(pq);
    pages.fill(0x55, 4, 60);
    writeFileSync(join(dir, "pages.parquet"), pages);
    expect(await msg(openShard(join(dir, "pages.parquet")), dir)).toMatch(
      /^<dir>\/pages.parquet: row group 0: expected readable column data, got .* \(corrupt file\?\)$/,
    );
  });

  it("an unknown extension lists the registry's formats", async () => {
    expect(await msg(openShard("/nowhere/x.csv"), "/nowhere")).toMatchInlineSnapshot(
      `"<dir>/x.csv: expected a .bin, .jsonl, .jsonl.gz, .jsonl.br, .arrow or .parquet file"`,
    );
  });
});
