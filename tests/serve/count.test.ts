// Several batches a request (`GET …/batches?count=n`): the same stream as one batch a request and
// as the in-process sampler, whatever the counts; retries of any step of a rank's last two
// responses; checkpoints at the step a loader reached when it fetched ahead; the limits.

import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, tmp } from "../helpers.js";
import { createRng } from "../../src/rng/index.js";
import { createSampler } from "../../src/sampler/sampler.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { TOY_SPEC as SPEC, fetchBatch, fetchBatches, post, toyStream, writeToyCorpus } from "./fixture.js";

let dir: string;

beforeAll(async () => {
  dir = tmp();
  await writeToyCorpus(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Batch-making threads of the server under test: none, or one running the built worker. */
const THREADS = [
  { threads: 0 },
  { threads: 1, threadScript: pathToFileURL(join(ROOT, "dist", "src", "serve", "maker.js")) },
];
let threading: (typeof THREADS)[number] = THREADS[0]!;

async function withServer<T>(
  f: (s: RunningServer) => Promise<T>,
  extra: Partial<Parameters<typeof startServer>[0]> = {},
): Promise<T> {
  const s = await startServer({ corpora: [{ name: "toy", dir }], warn: () => {}, ...threading, ...extra });
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

/** The in-process stream of a rank: tokens and global indices per batch. */
async function inProcess(rank: number, world: number): Promise<{ tokens: number[]; index: number[] }[]> {
  const batches = await toyStream(dir, rank, world);
  return batches.map((b) => ({ tokens: Array.from(b.tokens), index: Array.from(b.indexPerRow) }));
}

describe.each(THREADS)("mixlab serve: several batches a request (threads: $threads)", (t) => {
  beforeAll(() => {
    threading = t;
  });

  it("checkpoints exactly while batches of an asynchronous (JSONL) corpus are being made", async () => {
    // Text sources are read asynchronously: the sampler counts a batch's rows while it is made,
    // during which a checkpoint must still give the state before it.
    const text = tmp();
    const rng = createRng(5);
    for (const d of ["web", "code", "math"]) {
      const lines = Array.from({ length: 300 }, (_, i) =>
        JSON.stringify({ text: `${d} ${i} ` + "x".repeat(5 + rng.nextInt(300)) }),
      );
      writeFileSync(join(text, `${d}.jsonl`), lines.join("\n") + "\n");
    }
    const spec = {
      corpus: "text",
      proportions: { web: 0.4, code: 0.3, math: 0.3 },
      seed: 11,
      batchSize: 64,
      seqLen: 16,
      blockSize: 64,
      budgetSamples: 64 * 24,
    };
    const s0 = await createSampler({
      corpus: text,
      proportions: spec.proportions,
      seed: 11,
      blockSize: 64,
      budgetSamples: spec.budgetSamples,
      warn: () => {},
    });
    const want: number[][] = [];
    for await (const b of s0.batches({ batchSize: 64, seqLen: 16 })) want.push(Array.from(b.indexPerRow));
    await s0.close();
    const s = await startServer({ corpora: [{ name: "text", dir: text }], warn: () => {}, ...threading });
    try {
      for (let trial = 0; trial < 6; trial++) {
        const id = (await post(`${s.url}/v1/sessions`, spec)).json.id;
        // (a) right after a response, while the next is made ahead
        await fetchBatches(s.url, id, 0, 1 + (trial % 3));
        const a = await (await fetch(`${s.url}/v1/sessions/${id}/checkpoint`)).json();
        // (b) while a response of 8 is being made
        const more = fetchBatches(s.url, id, 0, 8);
        await new Promise((r) => setTimeout(r, trial));
        const rb = await fetch(`${s.url}/v1/sessions/${id}/checkpoint?step=${a.step + 1}`);
        const b = rb.status === 200 ? await rb.json() : null;
        if (!b) {
          expect((await rb.json()).error.message).toMatch(
            new RegExp(`^step ${a.step + 1}: rank 0 can be checkpointed at step`),
          );
        }
        await more;
        for (const cp of [a, b].filter((x) => x !== null)) {
          const resumed = (await post(`${s.url}/v1/sessions`, { state: cp })).json.id;
          const next = await fetchBatches(s.url, resumed, 0, 1);
          expect(next[0]!.header.indexPerRow).toEqual(want[cp.step]);
        }
      }
    } finally {
      await s.close();
    }
  });

  it("answers a failed read with E_CORPUS, and goes on with the exact stream once the file is back", async () => {
    const own = tmp(); // its own folder: a folder inside the shared corpus would be read as a domain
    await writeToyCorpus(own);
    const spec = {
      corpus: "toy",
      proportions: { a: 0.5, b: 0.3, c: 0.2 },
      seed: 3,
      blockSize: 16,
      batchSize: 4,
      seqLen: 8,
    };
    const s0 = await createSampler({
      corpus: own,
      proportions: spec.proportions,
      seed: 3,
      blockSize: 16,
      warn: () => {},
    });
    const want: number[][] = [];
    for await (const b of s0.batches({ batchSize: 4, seqLen: 8, limit: 40 })) want.push(Array.from(b.tokens));
    await s0.close();
    const bin = join(own, "b.bin");
    const bytes = readFileSync(bin);
    const s = await startServer({
      corpora: [{ name: "toy", dir: own }],
      warn: () => {},
      ...threading,
      readAhead: false,
    });
    try {
      const id = (await post(`${s.url}/v1/sessions`, spec)).json.id;
      const got: number[][] = (await fetchBatches(s.url, id, 0, 2)).map((b) => Array.from(b.tokens));
      truncateSync(bin, 3);
      const bad = await fetch(`${s.url}/v1/sessions/${id}/batches?rank=0&count=8`);
      expect(bad.status).toBe(500);
      const body = await bad.json();
      expect(body.error.code).toBe("E_CORPUS");
      expect(body.error.message).toMatch(/^making a batch: .*b\.bin.*truncated shard/);
      writeFileSync(bin, bytes);
      while (got.length < 40) {
        const more = await fetchBatches(s.url, id, 0, 8);
        expect(more.length).toBeGreaterThan(0); // never a false end of stream
        got.push(...more.map((b) => Array.from(b.tokens)));
      }
      expect(got.slice(0, 40)).toEqual(want);
    } finally {
      await s.close();
    }
  });

  it("reads the in-process stream whatever the counts, with retries of the last two responses", async () => {
    const world = 2;
    const want = [await inProcess(0, world), await inProcess(1, world)];
    await withServer(async (s) => {
      for (const seed of [1, 2, 3]) {
        const rng = createRng(seed);
        const open = await post(`${s.url}/v1/sessions`, { ...SPEC, worldSize: world });
        expect(open.status).toBe(201);
        for (let r = 0; r < world; r++) {
          const got: { tokens: number[]; index: number[] }[] = [];
          const starts: number[] = [];
          for (;;) {
            const count = 1 + rng.nextInt(7);
            // Now and then fetch again from a step of the last two responses (a retry) and check the bytes.
            if (starts.length >= 2 && rng.next() < 0.3) {
              const from = starts.at(-2)! + rng.nextInt(got.length - starts.at(-2)! + 1);
              const again = await fetchBatches(s.url, open.json.id, r, count, from);
              const have = Math.min(count, got.length - from);
              expect(again.slice(0, have).map((b) => Array.from(b.tokens))).toEqual(
                got.slice(from, from + have).map((b) => b.tokens),
              );
              for (const b of again.slice(have)) {
                got.push({ tokens: Array.from(b.tokens), index: b.header.indexPerRow });
              }
              if (again.length > have) starts.push(from);
              if (!again.length) break;
              continue;
            }
            const batch = await fetchBatches(s.url, open.json.id, r, count);
            if (!batch.length) break;
            expect(batch.map((b) => b.header.step)).toEqual(batch.map((_, i) => got.length + i));
            starts.push(got.length);
            for (const b of batch) got.push({ tokens: Array.from(b.tokens), index: b.header.indexPerRow });
          }
          expect(got).toEqual(want[r]);
        }
      }
    });
  });

  it("checkpoints at the step a loader reached and resumes it exactly; refuses steps it no longer holds", async () => {
    const world = 2;
    const want = [await inProcess(0, world), await inProcess(1, world)];
    let checkpoint: unknown;
    let atEnd: unknown;
    await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, { ...SPEC, worldSize: world });
      const id = open.json.id;
      // Each rank fetched three responses of 4 (steps 0–11), the loop trained up to step 6.
      for (let r = 0; r < world; r++) {
        for (let i = 0; i < 3; i++) expect((await fetchBatches(s.url, id, r, 4)).length).toBe(4);
      }
      const old = await fetch(`${s.url}/v1/sessions/${id}/checkpoint?step=3`);
      expect(old.status).toBe(409);
      expect((await old.json()).error.message).toBe(
        "step 3: rank 0 can be checkpointed at steps 4…12 " +
          "(it has fetched 12 batches and holds its last two responses), got 3",
      );
      const ahead = await fetch(`${s.url}/v1/sessions/${id}/checkpoint?step=13`);
      expect(ahead.status).toBe(409);
      const behind = await fetch(`${s.url}/v1/sessions/${id}/checkpoint`);
      expect(behind.status).toBe(200); // every rank at 12 (and 4 more made ahead): the default step
      atEnd = await behind.json();
      expect((atEnd as { step: number }).step).toBe(12);
      const r = await fetch(`${s.url}/v1/sessions/${id}/checkpoint?step=6`);
      expect(r.status).toBe(200);
      checkpoint = await r.json();
      expect((checkpoint as { step: number }).step).toBe(6);
    });
    await withServer(async (s) => {
      for (const [state, from] of [[checkpoint, 6], [atEnd, 12]] as const) {
        const open = await post(`${s.url}/v1/sessions`, { state });
        expect(open.json.steps).toEqual([from, from]);
        for (let r = 0; r < world; r++) {
          const rest: number[][] = [];
          for (let b; (b = await fetchBatches(s.url, open.json.id, r, 5)).length; ) {
            rest.push(...b.map((x) => Array.from(x.tokens)));
          }
          expect(rest).toEqual(want[r]!.slice(from).map((b) => b.tokens));
        }
      }
    });
  });

  it("a request racing the session's DELETE gets all its batches, 409 or 404, never fewer", async () => {
    // A text corpus: its reads are asynchronous, so a DELETE can arrive while a response is being made.
    const text = tmp();
    for (const d of ["web", "code"]) {
      const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify({ text: `${d} ${i} ${"y".repeat(i % 97)}` }));
      writeFileSync(join(text, `${d}.jsonl`), lines.join("\n") + "\n");
    }
    const spec = { corpus: "text", proportions: { web: 0.5, code: 0.5 }, seed: 3, batchSize: 16, seqLen: 16 };
    const s = await startServer({ corpora: [{ name: "text", dir: text }], warn: () => {}, ...threading });
    try {
      for (let i = 0; i < 24; i++) {
        const { json } = await post(`${s.url}/v1/sessions`, spec);
        const session = `${s.url}/v1/sessions/${json.id}`;
        const [r] = await Promise.all([
          fetch(`${session}/batches?rank=0&count=64`).then(async (r) => ({ r, body: await r.text() })),
          new Promise((d) => setTimeout(d, i % 10)).then(() => fetch(session, { method: "DELETE" })),
        ]);
        const status = r.r.status;
        if (status === 200) expect(r.r.headers.get("x-mixlab-batches")).toBe("64");
        else if (status === 404) expect(r.body).toMatch(/expected an open session, got none/);
        else expect([status, JSON.parse(r.body).error.message]).toEqual([409, "the session is closed"]);
      }
    } finally {
      await s.close();
      rmSync(text, { recursive: true, force: true });
    }
  });

  it("bounds count and names it", async () => {
    await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, SPEC);
      const too = await fetch(`${s.url}/v1/sessions/${open.json.id}/batches?rank=0&count=9`);
      expect(too.status).toBe(400);
      expect(await too.json()).toEqual({
        error: {
          code: "E_INPUT",
          field: "count",
          message:
            "count: expected an integer in [1, 8] (at most 256 batches and 256 tokens a response; " +
            "a batch here has 32), got 9",
        },
      });
      const zero = await fetch(`${s.url}/v1/sessions/${open.json.id}/batches?rank=0&count=0`);
      expect(zero.status).toBe(400);
      expect((await zero.json()).error.field).toBe("count");
      const word = await fetch(`${s.url}/v1/sessions/${open.json.id}/batches?rank=0&count=two`);
      expect(word.status).toBe(400);
      expect((await word.json()).error.message).toBe(
        'querystring.count: expected a string matching ^[0-9]{1,9}$, got "two"',
      );
      expect((await fetchBatches(s.url, open.json.id, 0, 8)).length).toBe(8);
    }, { limits: { maxResponseTokens: 256 } });
  });

  it("online: a response holds only decided steps, and the stream is that of one batch a request", async () => {
    const spec = {
      corpus: "toy",
      mixer: { method: "odm", seed: 4, options: { totalSteps: 20, warmupSteps: 0 } },
      seed: 9,
      budgetSamples: 80,
      batchSize: 4,
      seqLen: 8,
      lag: 1,
    };
    const run = async (count: number): Promise<{ tokens: number[][]; sizes: number[] }> =>
      withServer(async (s) => {
        const open = await post(`${s.url}/v1/sessions`, spec);
        const id = open.json.id;
        const tokens: number[][] = [];
        const sizes: number[] = [];
        let observed = 0;
        for (;;) {
          const got =
            count === 1
              ? [await fetchBatch(s.url, id, 0)].filter((b) => b !== null)
              : await fetchBatches(s.url, id, 0, count);
          if (!got.length) break;
          sizes.push(got.length);
          for (const b of got) {
            tokens.push(Array.from(b.tokens));
            // The loop trains on it, then posts its statistics.
            const lossSum: Record<string, number> = {};
            const tok: Record<string, number> = {};
            b.header.domainPerRow.forEach((d, row) => {
              const name = ["a", "b", "c"][d]!;
              lossSum[name] = (lossSum[name] ?? 0) + 1 + (b.tokens[row * 8]! % 7) / 3;
              tok[name] = (tok[name] ?? 0) + 8;
            });
            const posted = await post(`${s.url}/v1/sessions/${id}/stats`, {
              rank: 0,
              step: observed++,
              kind: "train",
              lossSum,
              tokens: tok,
            });
            expect(posted.status, JSON.stringify(posted.json)).toBe(200);
          }
        }
        return { tokens, sizes };
      });
    const one = await run(1);
    const many = await run(8);
    expect(many.tokens).toEqual(one.tokens);
    // lag 1: a response holds the lag + 1 steps decided by the statistics posted before it.
    expect(many.sizes.slice(0, -1).every((n) => n === 2)).toBe(true);
  });
});

describe("mixlab serve: a batch-making thread that stops", () => {
  it("moves its sessions' ranks to the server's thread from the state before their next batch", async () => {
    const want = [await inProcess(0, 2), await inProcess(1, 2)];
    const dying = pathToFileURL(join(ROOT, "tests", "serve", "dying-maker.mjs"));
    await withServer(async (s) => {
      const id = (await post(`${s.url}/v1/sessions`, { ...SPEC, worldSize: 2 })).json.id;
      const got: number[][][] = [[], []];
      for (let r = 0; r < 2; r++) {
        got[r]!.push(...(await fetchBatches(s.url, id, r, 3)).map((b) => Array.from(b.tokens)));
      }
      // Asking for 7 stops the thread in the middle of the request.
      for (let r = 0; r < 2; r++) {
        got[r]!.push(...(await fetchBatches(s.url, id, r, 7)).map((b) => Array.from(b.tokens)));
      }
      for (let r = 0; r < 2; r++) {
        for (let b; (b = await fetchBatches(s.url, id, r, 5)).length; ) {
          got[r]!.push(...b.map((x) => Array.from(x.tokens)));
        }
      }
      for (let r = 0; r < 2; r++) expect(got[r]).toEqual(want[r]!.map((b) => b.tokens));
      // New sessions work too (on the server's thread).
      const again = (await post(`${s.url}/v1/sessions`, SPEC));
      expect(again.status).toBe(201);
      expect((await fetchBatches(s.url, again.json.id, 0, 4)).length).toBe(4);
    }, { threads: 1, threadScript: dying, readAhead: false });
  });

  it("stopping under a request whose session was deleted meanwhile: 409, no internal error", async () => {
    const dying = pathToFileURL(join(ROOT, "tests", "serve", "dying-maker.mjs"));
    const warnings: string[] = [];
    await withServer(async (s) => {
      const id = (await post(`${s.url}/v1/sessions`, SPEC)).json.id;
      const asked = fetch(`${s.url}/v1/sessions/${id}/batches?rank=0&count=9`); // the thread stops in 400 ms
      await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`${s.url}/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(204);
      const r = await asked;
      expect([r.status, (await r.json()).error.message]).toEqual([409, "the session is closed"]);
      expect(warnings.filter((w) => /internal error/.test(w))).toEqual([]);
    }, { threads: 1, threadScript: dying, readAhead: false, warn: (m) => warnings.push(m) });
  });

  it("is replaced, with a warning, 3 times at most; sessions read their exact stream throughout", async () => {
    const want = (await inProcess(0, 1)).map((b) => b.tokens);
    const dying = pathToFileURL(join(ROOT, "tests", "serve", "dying-maker.mjs"));
    const warnings: string[] = [];
    const threads = async (base: string, n: number): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        if ((await (await fetch(`${base}/v1/health`)).json()).threads === n) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`never ${n} threads; warnings: ${warnings.join(" | ")}`);
    };
    await withServer(async (s) => {
      for (let death = 1; death <= 4; death++) {
        await threads(s.url, 1);
        const id = (await post(`${s.url}/v1/sessions`, SPEC)).json.id;
        const got = (await fetchBatches(s.url, id, 0, 7)).map((b) => Array.from(b.tokens)); // stops the thread
        for (let b; (b = await fetchBatches(s.url, id, 0, 5)).length; ) got.push(...b.map((x) => Array.from(x.tokens)));
        expect(got).toEqual(want);
        expect(warnings).toHaveLength(death);
      }
      await threads(s.url, 0);
      const stopped = "a thread making batches stopped: exit code 3";
      expect(warnings.slice(0, 3)).toEqual(Array(3).fill(
        `${stopped}; its session ranks go on on the server's thread; starting another thread`,
      ));
      expect(warnings[3]).toBe(`${stopped}; not replaced (3 threads replaced already), 0 left`);
      const last = (await post(`${s.url}/v1/sessions`, SPEC)).json.id;
      expect((await fetchBatches(s.url, last, 0, 7)).map((b) => Array.from(b.tokens))).toEqual(want.slice(0, 7));
    }, { threads: 1, threadScript: dying, readAhead: false, warn: (m) => warnings.push(m) });
  });
});
