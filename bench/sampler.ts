// bench/sampler.ts — the streaming sampler's speed and memory, as ratios against baselines
// measured in the same run:
//  1. index map: global index → (domain, index within domain, record) per second, against a
//     plain precomputed-array lookup (target: ≥ 20M/s, within 2× of the lookup, O(domains + B) memory);
//  2. reading packed token batches from Megatron .bin shards in sampled order, against reading
//     the same records sequentially (target ≥ 80%), and bulk sequential reads for context;
//  3. JSONL with byte-level tokenisation: MB/s of text;
//  4. peak RSS for a 1 GB and a 10 GB synthetic token-shard corpus (fresh child processes).
// Run: npm run bench:sampler   (not part of the test gate)

import {
  mkdtempSync,
  openSync,
  writeSync,
  closeSync,
  ftruncateSync,
  writeFileSync,
  readSync,
  rmSync,
  mkdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Plan, type PlanSpec, type Location } from "../src/sampler/plan.js";
import { createSampler } from "../src/sampler/sampler.js";
import { createRng } from "../src/rng/index.js";

const now = () => performance.now() / 1000;
const DOC_TOKENS = 2048;

/** Writes a Megatron .idx for `numDocs` documents of DOC_TOKENS uint16 tokens. */
function writeIdx(prefix: string, numDocs: number): void {
  const idx = Buffer.alloc(34 + 12 * numDocs + 8 * (numDocs + 1));
  Buffer.from("MMIDIDX\x00\x00", "latin1").copy(idx, 0);
  idx.writeBigUInt64LE(1n, 9);
  idx.writeUInt8(8, 17);
  idx.writeBigUInt64LE(BigInt(numDocs), 18);
  idx.writeBigUInt64LE(BigInt(numDocs + 1), 26);
  for (let i = 0; i < numDocs; i++) {
    idx.writeInt32LE(DOC_TOKENS, 34 + 4 * i);
    idx.writeBigInt64LE(BigInt(i * DOC_TOKENS * 2), 34 + 4 * numDocs + 8 * i);
  }
  for (let i = 0; i <= numDocs; i++) idx.writeBigInt64LE(BigInt(i), 34 + 12 * numDocs + 8 * i);
  writeFileSync(`${prefix}.idx`, idx);
}

/** A synthetic corpus of `domains` token-shard domains totalling `bytes` (random or sparse data). */
function syntheticCorpus(dir: string, bytes: number, domains: number, sparse: boolean): void {
  mkdirSync(dir, { recursive: true });
  const perDomain = Math.floor(bytes / domains / (DOC_TOKENS * 2));
  const rng = createRng(1);
  const chunk = Buffer.alloc(1 << 22);
  for (let d = 0; d < domains; d++) {
    const prefix = join(dir, `d${d}`);
    const size = perDomain * DOC_TOKENS * 2;
    const fd = openSync(`${prefix}.bin`, "w");
    if (sparse) ftruncateSync(fd, size);
    else {
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(rng.nextUint32(), i);
      for (let done = 0; done < size; done += chunk.length) {
        writeSync(fd, chunk, 0, Math.min(chunk.length, size - done));
      }
    }
    closeSync(fd);
    writeIdx(prefix, perDomain);
  }
}

async function rssChild(dir: string): Promise<void> {
  const domains = ["d0", "d1", "d2", "d3"];
  const s = await createSampler(
    { corpus: dir, proportions: Object.fromEntries(domains.map((d) => [d, 0.25])), seed: 0 },
  );
  const loc: Location = { domain: 0, domainIndex: 0, record: 0, epoch: 0 };
  let acc = 0;
  for (let g = 0; g < 1_000_000; g++) acc += s.plan.locate(g, loc).record;
  const rows = [];
  for await (const b of s.batches({ batchSize: 16, seqLen: DOC_TOKENS, limit: 64 })) rows.push(b.domainPerRow.length);
  console.log(
    JSON.stringify({
      rssMb: process.resourceUsage().maxRSS / 1024,
      stateBytes: JSON.stringify(s.state()).length,
      records: s.plan.spec.recordsPerDomain.reduce((a, b) => a + b, 0),
      acc: acc % 7,
      rows: rows.length,
    }),
  );
}

async function main(): Promise<void> {
  if (process.argv[2] === "--rss") return rssChild(process.argv[3]!);
  console.log("mixlab sampler benchmark\n");

  // 1. Index map.
  const k = 17;
  const N = 10_000_000;
  const spec: PlanSpec = {
    domains: Array.from({ length: k }, (_, i) => `d${i}`),
    recordsPerDomain: new Float64Array(k).fill(5_000_000),
    tokensPerRecord: Float64Array.from({ length: k }, (_, i) => 500 + 100 * i),
    stages: [{ proportions: Float64Array.from({ length: k }, (_, i) => (i + 1) / ((k * (k + 1)) / 2)) }],
    seed: 0,
    blockSize: 1024,
    unit: "tokens",
    order: "shuffle",
  };
  const plan = new Plan(spec);
  const loc: Location = { domain: 0, domainIndex: 0, record: 0, epoch: 0 };
  const dom = new Int32Array(N);
  const idx = new Float64Array(N);
  for (let g = 0; g < N; g++) {
    plan.locateDomain(g, loc);
    dom[g] = loc.domain;
    idx[g] = loc.domainIndex;
  }
  let sink = 0;
  let t0 = 0;
  const best = (f: () => void): number => {
    let b = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t = now();
      f();
      b = Math.min(b, now() - t);
    }
    return b;
  };
  const tBase = best(() => {
    for (let g = 0; g < N; g++) sink += dom[g]! + idx[g]!;
  });
  const CHUNK = 4096;
  const outD = new Uint16Array(CHUNK);
  const outI = new Float64Array(CHUNK);
  const outR = new Float64Array(CHUNK);
  const tMap = best(() => {
    const p = new Plan(spec);
    for (let g = 0; g < N; g += CHUNK) {
      p.mapRange(g, CHUNK, 1, outD, outI);
      for (let j = 0; j < CHUNK; j++) sink += outD[j]! + outI[j]!;
    }
  });
  const tOne = best(() => {
    const p = new Plan(spec);
    for (let g = 0; g < N; g++) {
      p.locateDomain(g, loc);
      sink += loc.domain + loc.domainIndex;
    }
  });
  const tFull = best(() => {
    const p = new Plan(spec);
    for (let g = 0; g < N; g += CHUNK) {
      p.mapRange(g, CHUNK, 1, outD, outI, outR);
      for (let j = 0; j < CHUNK; j++) sink += outD[j]! + outR[j]!;
    }
  });
  const planBytes = spec.blockSize * (2 + 8) + k * (4 + 2 + 8 + 8) * 2;
  console.log(
    `1. index map (${k} domains, B = ${spec.blockSize}, ${N.toLocaleString("en")} sequential indices,` +
      ` one core, best of 3)`,
  );
  console.log(
    `   index → (domain, index in domain): mixlab plan ${(N / tMap / 1e6).toFixed(1)} M/s in runs of ${CHUNK}` +
      ` (one at a time: ${(N / tOne / 1e6).toFixed(1)} M/s),` +
      ` memory ≈ ${(planBytes / 1024).toFixed(1)} KiB (O(domains + B))`,
  );
  console.log(
    `                                      precomputed arrays ${(N / tBase / 1e6).toFixed(1)} M/s,` +
      ` memory ${((N * 12) / 2 ** 20).toFixed(0)} MiB (O(samples))`,
  );
  console.log(`   ratio plan / array time ${(tMap / tBase).toFixed(2)} (target ≤ 2)`);
  console.log(
    `   full map incl. the per-epoch record shuffle: ${(N / tFull / 1e6).toFixed(1)} M/s (target ≥ 20)` +
      `${sink > 0 ? "" : " "}`,
  );

  // 2. Reading token shards.
  const root = mkdtempSync(join(tmpdir(), "mixlab-bench-"));
  const dense = join(root, "dense");
  const GB = 2 ** 30;
  syntheticCorpus(dense, 0.5 * GB, 4, false);
  const names = ["d0", "d1", "d2", "d3"];
  const records = (0.5 * GB) / (DOC_TOKENS * 2);
  // Warm the page cache and measure bulk sequential reads.
  const big = Buffer.allocUnsafe(8 << 20);
  t0 = now();
  let bytes = 0;
  for (const d of names) {
    const fd = openSync(join(dense, `${d}.bin`), "r");
    for (let r; (r = readSync(fd, big, 0, big.length, null)) > 0; ) bytes += r;
    closeSync(fd);
  }
  const tBulk = now() - t0;
  // Sequential per-record reads of the same records (no sampling).
  const rowBuf = new Int32Array(DOC_TOKENS);
  const scratch = new ArrayBuffer(DOC_TOKENS * 2);
  const view = new Uint8Array(scratch);
  t0 = now();
  for (const d of names) {
    const fd = openSync(join(dense, `${d}.bin`), "r");
    for (let i = 0; i < records / 4; i++) {
      readSync(fd, view, 0, view.length, i * DOC_TOKENS * 2);
      rowBuf.set(new Uint16Array(scratch));
    }
    closeSync(fd);
  }
  const tSeq = now() - t0;
  // Sampled packed batches over the same number of records.
  const s = await createSampler(
    { corpus: dense, proportions: { d0: 0.25, d1: 0.25, d2: 0.25, d3: 0.25 }, seed: 0, budgetSamples: records },
  );
  t0 = now();
  let rows = 0;
  for await (const b of s.batches({ batchSize: 64, seqLen: DOC_TOKENS, reuse: true })) rows += b.domainPerRow.length;
  const tSampled = now() - t0;
  await s.close();
  const s2 = await createSampler(
    { corpus: dense, proportions: { d0: 0.25, d1: 0.25, d2: 0.25, d3: 0.25 }, seed: 0, budgetSamples: records },
  );
  t0 = now();
  for await (const b of s2.batches({ batchSize: 64, seqLen: DOC_TOKENS })) rows -= b.domainPerRow.length * 0;
  const tFresh = now() - t0;
  await s2.close();
  const mb = bytes / 2 ** 20;
  console.log(
    `\n2. packed token batches from .bin shards (${mb.toFixed(0)} MiB, ${rows.toLocaleString("en")} rows` +
      ` of ${DOC_TOKENS} tokens, page cache warm)`,
  );
  console.log(
    `   sampled batches (reuse)   ${(mb / tSampled).toFixed(0)} MiB/s` +
      `  (${((rows * DOC_TOKENS) / tSampled / 1e6).toFixed(1)} M tokens/s)`,
  );
  console.log(`   sampled batches (fresh)   ${(mb / tFresh).toFixed(0)} MiB/s  (a new 512 KiB batch each time)`);
  console.log(`   same records, sequential  ${(mb / tSeq).toFixed(0)} MiB/s`);
  console.log(`   bulk sequential (8 MiB)   ${(mb / tBulk).toFixed(0)} MiB/s`);
  console.log(
    `   ratio sampled / sequential records ${(tSeq / tSampled).toFixed(2)} (target ≥ 0.8);` +
      `  sampled / bulk ${(tBulk / tSampled).toFixed(2)}`,
  );

  // 3. JSONL with byte tokenisation.
  const jdir = join(root, "jsonl");
  mkdirSync(jdir);
  const words = ["mixture", "domain", "token", "the", "of", "law", "proxy", "sampler", "ä", "数据"];
  let textBytes = 0;
  for (const d of names) {
    const lines: string[] = [];
    const r = createRng(names.indexOf(d));
    for (let i = 0; i < 8000; i++) {
      const parts: string[] = [];
      for (let w = 0; w < 300; w++) parts.push(words[r.nextInt(words.length)]!);
      const text = parts.join(" ");
      textBytes += Buffer.byteLength(text);
      lines.push(JSON.stringify({ text }));
    }
    writeFileSync(join(jdir, `${d}.jsonl`), `${lines.join("\n")}\n`);
  }
  t0 = now();
  const sj = await createSampler(
    { corpus: jdir, proportions: { d0: 0.25, d1: 0.25, d2: 0.25, d3: 0.25 }, seed: 0, budgetSamples: 32_000 },
  );
  const tOpen = now() - t0;
  t0 = now();
  let jrows = 0;
  for await (const b of sj.batches({ batchSize: 64, seqLen: 2048 })) jrows += b.domainPerRow.length;
  const tJ = now() - t0;
  await sj.close();
  console.log(
    `\n3. JSONL, byte-level tokens (${(textBytes / 2 ** 20).toFixed(0)} MiB of text,` +
      ` ${jrows.toLocaleString("en")} rows)`,
  );
  console.log(
    `   open + index + validate ${(textBytes / 2 ** 20 / tOpen).toFixed(0)} MiB/s;` +
      `  sampled packed batches ${((textBytes / 2 ** 20) * (jrows / 32_000) / tJ).toFixed(0)} MiB/s of text`,
  );

  // 4. Peak RSS for 1 GB and 10 GB corpora (sparse files: the data is not read, the index is real).
  console.log("\n4. memory (fresh process: open corpus, map 1M indices, read 64 batches)");
  const self = fileURLToPath(import.meta.url);
  for (const size of [1, 10]) {
    const dir = join(root, `sparse${size}`);
    syntheticCorpus(dir, size * GB, 4, true);
    const out = JSON.parse(
      execFileSync(process.execPath, [self, "--rss", dir], { encoding: "utf8" }).trim().split("\n").pop()!,
    );
    console.log(
      `   ${String(size).padStart(2)} GB corpus (${out.records.toLocaleString("en")} documents):` +
        ` peak RSS ${out.rssMb.toFixed(0)} MiB, sampler state ${out.stateBytes} bytes`,
    );
  }
  console.log(
    "   (the plan and the state do not grow with the corpus;" +
      " the shard index holds 12 bytes a document, as Megatron's .idx does)",
  );
  rmSync(root, { recursive: true, force: true });
}

await main();
