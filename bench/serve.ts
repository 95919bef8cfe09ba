// bench/serve.ts — `mixlab serve` on loopback against the in-process sampler, in the same run:
//  1. token throughput of packed batches (16 rows × 2048 tokens) to one client, and to 8 clients
//     on 8 sessions at once, against the in-process sampler reading the same batches (target for
//     one client: ≥ 0.5× in-process);
//  2. p50 / p99 latency per batch;
//  3. the server's resident memory with 8 open sessions;
//  4. the headroom: tokens/s a GPU consumes when training a 1B-parameter model.
// The server runs as its own process (`node bin/mixlab.js serve`), as in production.
// Run: npm run bench:serve   (not part of the test gate)

import { spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "../src/rng/index.js";
import { createSampler } from "../src/sampler/sampler.js";
import { writeTokenShard } from "../src/sampler/sources.js";
import { decodeBatch } from "../src/serve/session.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DOC_TOKENS = 2048;
const ROWS = 16;
const DOMAINS = 4;
const DOCS = 2000; // per domain: 4 × 2000 × 2048 × 2 bytes = 33 MB
const now = (): number => performance.now();

/** A token-shard corpus of DOMAINS domains of DOCS documents of DOC_TOKENS random ids below 2^15. */
async function corpus(dir: string): Promise<void> {
  const rng = createRng(1);
  for (let d = 0; d < DOMAINS; d++) {
    const docs = Array.from({ length: DOCS }, () => Uint16Array.from({ length: DOC_TOKENS }, () => rng.nextUint32() & 0x7fff));
    await writeTokenShard(join(dir, `d${d}`), docs, "uint16");
  }
}

const PROPORTIONS = { d0: 0.4, d1: 0.3, d2: 0.2, d3: 0.1 };

async function inProcess(dir: string, batches: number): Promise<number> {
  const s = await createSampler({ corpus: dir, proportions: PROPORTIONS, seed: 0, warn: () => {} });
  const t0 = now();
  let tokens = 0;
  for await (const b of s.batches({ batchSize: ROWS, seqLen: DOC_TOKENS, limit: batches })) tokens += b.tokens.length;
  const secs = (now() - t0) / 1000;
  await s.close();
  return tokens / secs;
}

function serve(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(ROOT, "bin", "mixlab.js"), "serve", "--corpus", `bench=${dir}`, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
      if (m && err.length > m.index + m[0].length + 1) process.stderr.write(`serve: ${err.slice(m.index + m[0].length)}`);
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

async function open(url: string, seed: number): Promise<string> {
  const r = await fetch(`${url}/v1/sessions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ corpus: "bench", proportions: PROPORTIONS, seed, batchSize: ROWS, seqLen: DOC_TOKENS }) });
  if (r.status !== 201) throw new Error(await r.text());
  return ((await r.json()) as { id: string }).id;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** GET with node:http and a keep-alive agent (undici's fetch costs more per request). */
function get(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
      res.on("error", reject);
    }).on("error", (e) => reject(new Error(`GET ${url}: ${e.message}`))).end();
  });
}

/** Reads `batches` batches of one session; returns tokens and per-batch latencies (ms). */
async function client(url: string, id: string, batches: number): Promise<{ tokens: number; latencies: number[] }> {
  const latencies: number[] = [];
  let tokens = 0;
  for (let i = 0; i < batches; i++) {
    const t0 = now();
    const b = decodeBatch(await get(`${url}/v1/sessions/${id}/batches?rank=0`));
    latencies.push(now() - t0);
    tokens += b.tokens.length;
  }
  return { tokens, latencies };
}

/**
 * Like `client`, with `depth` requests in flight (a loader's prefetch). Requests on different
 * sockets may reach the server in another order than sent; each batch's header says its step,
 * so the batches are taken in step order.
 */
async function pipelined(url: string, id: string, batches: number, depth: number): Promise<{ tokens: number; latencies: number[] }> {
  const latencies: number[] = [];
  let tokens = 0;
  let sent = 0;
  const ready = new Map<number, ReturnType<typeof decodeBatch>>();
  let failed: Error | null = null;
  let wake = (): void => {};
  const send = (): void => {
    const t0 = now();
    get(`${url}/v1/sessions/${id}/batches?rank=0`).then((body) => {
      const b = decodeBatch(body);
      latencies.push(now() - t0);
      ready.set(b.header.step as number, b);
    }, (e: Error) => (failed = e)).finally(() => wake());
    sent++;
  };
  while (sent < Math.min(depth, batches)) send();
  for (let i = 0; i < batches; i++) {
    while (!ready.has(i)) {
      if (failed) throw failed;
      await new Promise<void>((r) => (wake = r));
    }
    tokens += ready.get(i)!.tokens.length;
    ready.delete(i);
    if (sent < batches) send();
  }
  return { tokens, latencies };
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "mixlab-bench-serve-"));
  await corpus(dir);
  const { child, url } = await serve(dir);
  try {
    const N = 300;
    await inProcess(dir, 50); // warm the page cache
    const base = await inProcess(dir, N);
    await client(url, await open(url, 99), 30); // warm the server
    const t1 = now();
    const one = await client(url, await open(url, 1), N);
    const oneRate = one.tokens / ((now() - t1) / 1000);
    const t2 = now();
    const pre = await pipelined(url, await open(url, 2), N, 4);
    const preRate = pre.tokens / ((now() - t2) / 1000);
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => open(url, 10 + i)));
    const t8 = now();
    const eight = await Promise.all(ids.map((id) => client(url, id, N / 4)));
    const eightRate = eight.reduce((a, r) => a + r.tokens, 0) / ((now() - t8) / 1000);
    const lat8 = eight.flatMap((r) => r.latencies);
    const rss = rssMiB(child.pid!);
    // A 1B-parameter model costs ≈ 6 × 1e9 FLOPs per training token; an H100 at 989 TFLOP/s
    // (dense bf16) and 40% model FLOPs utilisation trains ≈ 66,000 tokens/s.
    const gpu = (989e12 * 0.4) / 6e9;
    const m = (x: number): string => `${(x / 1e6).toFixed(1)}M`;
    console.log(`packed batches of ${ROWS} × ${DOC_TOKENS} tokens, token-shard corpus of ${DOMAINS} domains (${(DOMAINS * DOCS * DOC_TOKENS * 2 / 2 ** 20).toFixed(0)} MiB)`);
    console.log(`in-process sampler           ${m(base)} tokens/s`);
    console.log(`serve, 1 client              ${m(oneRate)} tokens/s  (${(oneRate / base).toFixed(2)}× in-process; target ≥ 0.5)  p50 ${pct(one.latencies, 50).toFixed(1)} ms  p99 ${pct(one.latencies, 99).toFixed(1)} ms`);
    console.log(`serve, 1 client, 4 in flight ${m(preRate)} tokens/s  (${(preRate / base).toFixed(2)}× in-process)  p50 ${pct(pre.latencies, 50).toFixed(1)} ms  p99 ${pct(pre.latencies, 99).toFixed(1)} ms`);
    console.log(`serve, 8 clients (8 sessions) ${m(eightRate)} tokens/s in all  (${(eightRate / base).toFixed(2)}× in-process)  p50 ${pct(lat8, 50).toFixed(1)} ms  p99 ${pct(lat8, 99).toFixed(1)} ms`);
    console.log(`server RSS with ${8 + 2} sessions open: ${rss.toFixed(0)} MiB`);
    console.log(`headroom: one GPU training a 1B model consumes ≈ ${(gpu / 1e3).toFixed(0)}k tokens/s; one client gets ${(oneRate / gpu).toFixed(0)}× that`);
  } finally {
    agent.destroy();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
