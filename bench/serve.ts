// bench/serve.ts — `mixlab serve` on loopback against the in-process sampler, in the same run:
//  1. token throughput of packed batches (16 rows × 2048 tokens) to one client — one batch a
//     request, 32 a request, and 32 a request with the next request in flight (what the Python
//     client does by default) — and to 8 clients on 8 sessions at once, against the in-process
//     sampler reading the same batches; the machine drifts, so 9 rounds alternate the in-process
//     sampler with the Node and the Python client and the medians of the ratios are given
//     (target for one client: ≥ 0.5×; the Python client is the one training loops use, the Node
//     client is this bench's, over node:http);
//  2. p50 / p99 latency per response (of 1 or 32 batches);
//  3. the Python client's throughput with its defaults (Debian python3, when present);
//  4. the server's resident memory with 11 open sessions;
//  5. the headroom: tokens/s a GPU consumes when training a 1B-parameter model.
// The server runs as its own process (`node bin/mixlab.js serve`), as in production.
// Run: npm run bench:serve   (not part of the test gate)

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "../src/rng/index.js";
import { createSampler } from "../src/sampler/sampler.js";
import { writeTokenShard } from "../src/sampler/sources.js";
import { viewBatches } from "../src/serve/session.js";

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
    const docs = Array.from({ length: DOCS }, () =>
      Uint16Array.from({ length: DOC_TOKENS }, () => rng.nextUint32() & 0x7fff));
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
  const args = [join(ROOT, "bin", "mixlab.js"), "serve", "--corpus", `bench=${dir}`, "--port", "0"];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
      const after = m ? err.slice(m.index + m[0].length) : "";
      if (after.length > 1) process.stderr.write(`serve: ${after}`);
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

async function open(url: string, seed: number): Promise<string> {
  const body = JSON.stringify({ corpus: "bench", proportions: PROPORTIONS, seed, batchSize: ROWS, seqLen: DOC_TOKENS });
  const headers = { "content-type": "application/json" };
  const r = await fetch(`${url}/v1/sessions`, { method: "POST", headers, body });
  if (r.status !== 201) throw new Error(await r.text());
  return ((await r.json()) as { id: string }).id;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** GET of batches with node:http and a keep-alive agent (undici's fetch costs more per request). */
function get(url: string): Promise<{ body: Buffer; n: number }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => {
        const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        const ok = res.statusCode === 200 || res.statusCode === 204;
        if (!ok) reject(new Error(`GET ${url}: ${res.statusCode} ${body}`));
        resolve({ body, n: Number(res.headers["x-mixlab-batches"] ?? 0) });
      });
      res.on("error", reject);
    }).on("error", (e) => reject(new Error(`GET ${url}: ${e.message}`))).end();
  });
}

/**
 * Reads `batches` batches of one session, `count` a request. With `ahead`, the next request is
 * sent as soon as a response has arrived, before its batches are decoded and used (what the
 * Python client's `batches()` does). Returns tokens and per-response latencies (ms).
 */
async function client(
  url: string,
  id: string,
  batches: number,
  count: number,
  ahead: boolean,
): Promise<{ tokens: number; latencies: number[] }> {
  const latencies: number[] = [];
  const fetchFrom = async (step: number): Promise<{ body: Buffer; n: number }> => {
    const t0 = now();
    const r = await get(`${url}/v1/sessions/${id}/batches?rank=0&count=${count}&step=${step}`);
    latencies.push(now() - t0);
    return r;
  };
  let tokens = 0;
  let step = 0;
  let pending = fetchFrom(0);
  while (step < batches) {
    const { body, n } = await pending;
    if (!n) throw new Error("the stream ended early");
    step += n;
    if (ahead && step < batches) {
      pending = fetchFrom(step);
      await new Promise(setImmediate); // let the request leave (the agent hands it a socket asynchronously)
    }
    for (const b of viewBatches(body)) tokens += b.tokens.length;
    if (!ahead && step < batches) pending = fetchFrom(step);
  }
  return { tokens, latencies };
}

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const rssMiB = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/**
 * Tokens/s the Python client (Debian python3, stdlib) reads with its defaults, timed inside Python;
 * null without python3.
 */
function python(url: string, id: string, batches: number): Promise<number | null> {
  const exe = ["/usr/bin/python3"].find((p) => existsSync(p));
  if (!exe) return Promise.resolve(null);
  const script = [
    "import sys, time",
    "from mixlab_client import Client",
    "s = Client(sys.argv[1]).session(sys.argv[2])",
    "t0, tokens = time.perf_counter(), 0",
    "for i, b in enumerate(s.batches(0)):",
    "    tokens += len(b.tokens)",
    "    if i + 1 == int(sys.argv[3]): break",
    "print(tokens / (time.perf_counter() - t0))",
  ].join("\n");
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PYTHONPATH: join(ROOT, "clients", "python") };
    const args = ["-c", script, url, id, String(batches)];
    execFile(exe, args, { env }, (e, out) => (e ? reject(e) : resolve(Number(out.trim()))));
  });
}

const median = (xs: number[]): number => pct(xs, 50);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "mixlab-bench-serve-"));
  await corpus(dir);
  const { child, url } = await serve(dir);
  try {
    const N = 1920;
    const COUNT = 32;
    const ROUNDS = 9;
    await inProcess(dir, 50); // warm the page cache
    await client(url, await open(url, 99), 64, COUNT, true); // warm the server
    const timed = async (f: () => Promise<{ tokens: number; latencies: number[] }>) => {
      const t0 = now();
      const r = await f();
      return { ...r, rate: r.tokens / ((now() - t0) / 1000) };
    };
    // This machine's speed drifts: each round measures the in-process sampler, then the server's
    // one client (16 a request, the next in flight) and the Python client, and takes their ratios.
    const rounds: { base: number; one: number; py: number | null; lat: number[] }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const base = await inProcess(dir, N);
      const nodeId = await open(url, 100 + r);
      const one = await timed(async () => client(url, nodeId, N, COUNT, true));
      const pyId = await open(url, 200 + r);
      const py = await python(url, pyId, N);
      for (const id of [nodeId, pyId]) await fetch(`${url}/v1/sessions/${id}`, { method: "DELETE" });
      rounds.push({ base, one: one.rate, py, lat: one.latencies });
    }
    const base = median(rounds.map((r) => r.base));
    const single = await timed(async () => client(url, await open(url, 1), N, 1, false));
    const many = await timed(async () => client(url, await open(url, 2), N, COUNT, false));
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => open(url, 10 + i)));
    const t8 = now();
    const eight = await Promise.all(ids.map((id) => client(url, id, N / 4, COUNT, true)));
    const eightRate = eight.reduce((a, r) => a + r.tokens, 0) / ((now() - t8) / 1000);
    const lat8 = eight.flatMap((r) => r.latencies);
    const rss = rssMiB(child.pid!);
    // A 1B-parameter model costs ≈ 6 × 1e9 FLOPs per training token; an H100 at 989 TFLOP/s
    // (dense bf16) and 40% model FLOPs utilisation trains ≈ 66,000 tokens/s.
    const gpu = (989e12 * 0.4) / 6e9;
    const m = (x: number): string => `${(x / 1e6).toFixed(1)}M`;
    const ratios = (xs: number[]): string =>
      `${median(xs).toFixed(2)}× (rounds ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
    const lat = (xs: number[], per: number): string =>
      `p50 ${pct(xs, 50).toFixed(1)} ms  p99 ${pct(xs, 99).toFixed(1)} ms a response of ${per}`;
    const row = (what: string, rate: number, rest: string): void =>
      console.log(`${what.padEnd(44)}${m(rate)} tokens/s  ${rest}`);
    const oneRate = median(rounds.map((r) => r.one));
    const pyRate = rounds[0]!.py !== null ? median(rounds.map((r) => r.py!)) : null;
    const mib = (DOMAINS * DOCS * DOC_TOKENS * 2) / 2 ** 20;
    console.log(
      `packed batches of ${ROWS} × ${DOC_TOKENS} tokens, token-shard corpus of ${DOMAINS} domains ` +
        `(${mib.toFixed(0)} MiB); medians of ${ROUNDS} rounds`,
    );
    row("in-process sampler", base, `(rounds ${rounds.map((r) => m(r.base)).join(", ")})`);
    if (pyRate !== null) {
      const py = ratios(rounds.map((r) => r.py! / r.base));
      row("python client (stdlib), its defaults", pyRate, `${py} in-process; target ≥ 0.5`);
    }
    const one = ratios(rounds.map((r) => r.one / r.base));
    row(`node client, ${COUNT} a request + 1 ahead`, oneRate, `${one}  ${lat(rounds.flatMap((r) => r.lat), COUNT)}`);
    const x = (rate: number): string => `(${(rate / base).toFixed(2)}×)`;
    row("node client, 1 batch a request", single.rate, `${x(single.rate)}  ${lat(single.latencies, 1)}`);
    row(`node client, ${COUNT} a request, none ahead`, many.rate, `${x(many.rate)}  ${lat(many.latencies, COUNT)}`);
    row(`8 node clients (8 sessions), ${COUNT} + 1 ahead`, eightRate, `in all  ${x(eightRate)}  ${lat(lat8, COUNT)}`);
    console.log(`server RSS with ${8 + 3} sessions open: ${rss.toFixed(0)} MiB`);
    const headroom = pyRate !== null
      ? `the Python client gets ${(pyRate / gpu).toFixed(0)}×`
      : `the Node client gets ${(oneRate / gpu).toFixed(0)}×`;
    const perGpu = `${(gpu / 1e3).toFixed(0)}k`;
    console.log(`headroom: one GPU training a 1B model consumes ≈ ${perGpu} tokens/s; ${headroom} that`);
  } finally {
    agent.destroy();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
