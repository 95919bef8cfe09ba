// mixlab serve end to end in-process: the stream over HTTP equals the in-process sampler byte for
// byte, ranks partition the global order, checkpoints resume exactly, online steps do not depend
// on request timing, and bad requests get 4xx JSON errors without hurting the server.

import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { rmSync } from "node:fs";
import { tmp } from "../helpers.js";
import { createSampler } from "../../src/sampler/sampler.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import type { DecodedBatch } from "../../src/serve/session.js";
import type { MixerEvent, OnlineMixer, OnlineMixerState } from "../../mixers/types.js";
import { DOMAINS, TOY_SPEC as SPEC, fetchBatch, post, toyStream, writeToyCorpus } from "./fixture.js";

let dir: string;

beforeAll(async () => {
  dir = tmp();
  await writeToyCorpus(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function withServer<T>(
  f: (s: RunningServer) => Promise<T>,
  extra: Partial<Parameters<typeof startServer>[0]> = {},
): Promise<T> {
  const s = await startServer({ corpora: [{ name: "toy", dir }], warn: () => {}, ...extra });
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

describe("mixlab serve: static sessions", () => {
  it("answers health and the OpenAPI description", async () => {
    await withServer(async (s) => {
      const h = await (await fetch(`${s.url}/v1/health`)).json();
      expect(h).toMatchObject({ status: "ok", sessions: 0, corpora: ["toy"] });
      const api = await (await fetch(`${s.url}/v1/openapi.json`)).json();
      expect(api.openapi).toBe("3.1.0");
      expect(Object.keys(api.paths)).toContain("/v1/sessions/{id}/batches");
      // Every status the batch route answers (see errors.test.ts and count.test.ts) is described.
      const batchStatuses = Object.keys(api.paths["/v1/sessions/{id}/batches"].get.responses).sort();
      expect(batchStatuses).toEqual(["200", "204", "400", "401", "404", "405", "409", "500", "503"]);
      expect(Object.keys(api.paths["/v1/sessions"].post.responses).sort()).toEqual([
        "201", "400", "401", "404", "405", "429", "503",
      ]);
    });
  });

  it("serves the in-process stream byte for byte, on 1 and on 4 ranks, with no gap or duplicate", async () => {
    await withServer(async (s) => {
      for (const world of [1, 4]) {
        const open = await post(`${s.url}/v1/sessions`, { ...SPEC, worldSize: world });
        expect(open.status).toBe(201);
        const seen: number[] = [];
        for (let r = 0; r < world; r++) {
          const want = await toyStream(dir, r, world);
          const got: DecodedBatch[] = [];
          for (let b; (b = await fetchBatch(s.url, open.json.id, r)); ) got.push(b);
          expect(got.length).toBe(want.length);
          for (let i = 0; i < want.length; i++) {
            expect(Array.from(got[i]!.tokens)).toEqual(Array.from(want[i]!.tokens));
            expect(got[i]!.header.domainPerRow).toEqual(Array.from(want[i]!.domainPerRow));
            expect(got[i]!.header.indexPerRow).toEqual(Array.from(want[i]!.indexPerRow));
            expect(got[i]!.header.truncatedTokens).toBe(want[i]!.truncatedTokens);
            expect(got[i]!.header.padTokens).toBe(want[i]!.padTokens);
            seen.push(...got[i]!.header.indexPerRow);
          }
        }
        seen.sort((x, y) => x - y);
        expect(seen).toEqual(Array.from({ length: SPEC.budgetSamples }, (_, i) => i));
      }
    });
  });

  it("uses the smallest token width and resends the same bytes for a retried step", async () => {
    await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, { ...SPEC, proportions: { c: 1 } });
      const first = await fetchBatch(s.url, open.json.id, 0, 0);
      expect(first!.header.width).toBe(2);
      const again = await fetchBatch(s.url, open.json.id, 0, 0);
      expect(Array.from(again!.tokens)).toEqual(Array.from(first!.tokens));
      const r = await fetch(`${s.url}/v1/sessions/${open.json.id}/batches?rank=0&step=5`);
      expect(r.status).toBe(409);
      expect((await r.json()).error.message).toBe("rank 0: expected step 1 (or 0, a retry), got 5");
      const narrow = await post(`${s.url}/v1/sessions`, { ...SPEC, proportions: { a: 1 } });
      expect((await fetchBatch(s.url, narrow.json.id, 0))!.header.width).toBe(1);
    });
  });

  it("resumes from a checkpoint on a fresh server and continues the exact stream", async () => {
    const world = 2;
    const full: number[][] = [[], []];
    const split: number[][] = [[], []];
    await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, { ...SPEC, worldSize: world });
      for (let r = 0; r < world; r++) {
        for (let b; (b = await fetchBatch(s.url, open.json.id, r)); ) full[r]!.push(...b.tokens);
      }
    });
    let checkpoint: unknown;
    await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, { ...SPEC, worldSize: world });
      for (let i = 0; i < 5; i++) {
        for (let r = 0; r < world; r++) split[r]!.push(...(await fetchBatch(s.url, open.json.id, r))!.tokens);
      }
      // Ranks at different steps cannot be checkpointed.
      split[0]!.push(...(await fetchBatch(s.url, open.json.id, 0))!.tokens);
      const bad = await fetch(`${s.url}/v1/sessions/${open.json.id}/checkpoint`);
      expect(bad.status).toBe(409);
      expect((await bad.json()).error.message).toMatch(
        /^expected every rank at the same step, got rank 0 at 6, rank 1 at 5/,
      );
      split[1]!.push(...(await fetchBatch(s.url, open.json.id, 1))!.tokens);
      checkpoint = await (await fetch(`${s.url}/v1/sessions/${open.json.id}/checkpoint`)).json();
    });
    await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, { state: checkpoint });
      expect(open.status).toBe(201);
      expect(open.json.steps).toEqual([6, 6]);
      for (let r = 0; r < world; r++) {
        for (let b; (b = await fetchBatch(s.url, open.json.id, r)); ) split[r]!.push(...b.tokens);
      }
    });
    expect(split).toEqual(full);
  });
});

/** A deterministic test mixer: moves weight toward the domain with the highest merged loss. */
function testMixer(domains: readonly string[], state?: OnlineMixerState): OnlineMixer {
  let w = (state?.data.w as number[] | undefined) ?? domains.map(() => 1 / domains.length);
  let steps = (state?.data.steps as number | undefined) ?? 0;
  return {
    method: "test",
    domains,
    accepts: ["train"],
    proportions: () => Object.fromEntries(domains.map((d, i) => [d, w[i]!])),
    observe(e: MixerEvent) {
      let best = -1;
      let top = -Infinity;
      domains.forEach((d, i) => {
        const l = e.loss[d];
        if (l !== undefined && l > top) [top, best] = [l, i];
      });
      if (best >= 0) {
        w = w.map((x, i) => 0.8 * x + (i === best ? 0.2 : 0));
        const s = w.reduce((a, b) => a + b, 0);
        w = w.map((x) => x / s);
      }
      steps++;
    },
    evalDue: () => false,
    summary: () => Object.fromEntries(domains.map((d, i) => [d, w[i]!])),
    diagnostics: () => ({ steps }),
    state: () => ({ format: "mixlab.online-mixer/v1", method: "test", domains, data: { w, steps } }),
  };
}

function mergeTest(
  perRank: readonly {
    step: number;
    kind: "train" | "eval";
    lossSum: Readonly<Record<string, number>>;
    tokens: Readonly<Record<string, number>>;
  }[],
): MixerEvent {
  const sum: Record<string, number> = {};
  const tok: Record<string, number> = {};
  for (const r of perRank) for (const d of Object.keys(r.tokens)) {
    sum[d] = (sum[d] ?? 0) + r.lossSum[d]!;
    tok[d] = (tok[d] ?? 0) + r.tokens[d]!;
  }
  const loss = Object.fromEntries(
    Object.keys(tok)
      .sort()
      .filter((d) => tok[d]! > 0)
      .map((d) => [d, sum[d]! / tok[d]!]),
  );
  return { kind: perRank[0]!.kind, step: perRank[0]!.step, loss, tokens: tok };
}

const online = {
  createMixer: (_m: string, init: { domains: readonly string[]; state?: OnlineMixerState }) =>
    testMixer(init.domains, init.state),
  mergeStats: mergeTest,
};

/** A fake training step's per-domain statistics: a loss that depends on the batch's tokens. */
function statsOf(b: DecodedBatch, rank: number, step: number) {
  const lossSum: Record<string, number> = {};
  const tokens: Record<string, number> = {};
  b.header.domainPerRow.forEach((d, row) => {
    const name = DOMAINS[d]!;
    let s = 0;
    for (let j = 0; j < b.header.seqLen; j++) s += (b.tokens[row * b.header.seqLen + j]! % 17) / 10;
    lossSum[name] = (lossSum[name] ?? 0) + s;
    tokens[name] = (tokens[name] ?? 0) + b.header.seqLen;
  });
  return { rank, step, kind: "train" as const, lossSum, tokens };
}

describe("mixlab serve: online sessions", () => {
  const OSPEC = {
    corpus: "toy",
    mixer: { method: "test" },
    seed: 3,
    budgetSamples: 96,
    batchSize: 4,
    seqLen: 8,
    worldSize: 2,
    lag: 1,
  };

  /** Runs a whole session with two ranks; `order` chooses how requests interleave. */
  async function runOnline(
    base: string,
    order: "lockstep" | "rank0-ahead",
    stopAt = Infinity,
    state?: unknown,
  ): Promise<{ tokens: number[][]; proportions: unknown[]; checkpoint?: unknown }> {
    const open = await post(`${base}/v1/sessions`, state ? { state } : OSPEC);
    expect(open.status, JSON.stringify(open.json)).toBe(201);
    const id = open.json.id;
    const tokens: number[][] = [[], []];
    const proportions: unknown[] = [];
    let step = open.json.steps[0] as number;
    for (;;) {
      if (step >= stopAt) {
        const checkpoint = await (await fetch(`${base}/v1/sessions/${id}/checkpoint`)).json();
        return { tokens, proportions, checkpoint };
      }
      let b0, b1;
      if (order === "lockstep") {
        b0 = await fetchBatch(base, id, 0);
        b1 = await fetchBatch(base, id, 1);
      } else {
        // Rank 1 asks first and waits while rank 0 has not posted the step it needs.
        const p1 = fetchBatch(base, id, 1);
        await new Promise((r) => setTimeout(r, 5));
        b0 = await fetchBatch(base, id, 0);
        b1 = await p1;
      }
      if (!b0 || !b1) return { tokens, proportions };
      tokens[0]!.push(...b0.tokens);
      tokens[1]!.push(...b1.tokens);
      proportions.push(b0.header.proportions);
      expect(b1.header.proportions).toEqual(b0.header.proportions);
      const posts = [
        post(`${base}/v1/sessions/${id}/stats`, statsOf(b1, 1, step)),
        post(`${base}/v1/sessions/${id}/stats`, statsOf(b0, 0, step)),
      ];
      for (const p of order === "lockstep" ? posts : posts.reverse()) expect((await p).status).toBe(200);
      step++;
    }
  }

  it("gives the same stream and proportions whatever the request timing, and resumes exactly", async () => {
    const a = await withServer((s) => runOnline(s.url, "lockstep"), online);
    const b = await withServer((s) => runOnline(s.url, "rank0-ahead"), online);
    expect(b.tokens).toEqual(a.tokens);
    expect(b.proportions).toEqual(a.proportions);
    expect(new Set(a.proportions.map((p) => JSON.stringify(p))).size).toBeGreaterThan(3);
    const first = await withServer((s) => runOnline(s.url, "lockstep", 5), online);
    const rest = await withServer((s) => runOnline(s.url, "rank0-ahead", Infinity, first.checkpoint), online);
    expect([0, 1].map((r) => [...first.tokens[r]!, ...rest.tokens[r]!])).toEqual(a.tokens);
    expect([...first.proportions, ...rest.proportions]).toEqual(a.proportions);
  });

  it("times out with a clear error when a rank's statistics never arrive", async () => {
    await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, OSPEC);
      const id = open.json.id;
      await fetchBatch(s.url, id, 0);
      await fetchBatch(s.url, id, 0); // lag 1: step 1 needs nothing yet
      const r = await fetch(`${s.url}/v1/sessions/${id}/batches?rank=0`);
      expect(r.status).toBe(409);
      expect((await r.json()).error.message).toBe(
        "rank 0: waited 200 ms for step 2's proportions: step 2 uses observations up to step 0; " +
          "still missing: train statistics of step 0 from ranks 0, 1",
      );
    }, { ...online, limits: { waitMs: 200 } });
  });
});

describe("mixlab serve: a real online mixer across ranks", () => {
  // ODM fed by two ranks through the server against the same mixer in process fed the merged
  // statistics under the same rule (step t uses steps ≤ t − 1 − lag), and the stream against
  // in-process samplers given those proportions step by step.
  it("gives ODM's in-process proportions and stream", async () => {
    const { createOnlineMixer } = await import("../../mixers/online.js");
    const { mergeStatsForMixer } = await import("../../src/serve/session.js");
    const lag = 1;
    const spec = {
      corpus: "toy",
      mixer: { method: "odm", seed: 4, options: { totalSteps: 20, warmupSteps: 0 } },
      seed: 9,
      budgetSamples: 160,
      batchSize: 4,
      seqLen: 8,
      worldSize: 2,
      lag,
    };
    const served = await withServer(async (s) => {
      const open = await post(`${s.url}/v1/sessions`, spec);
      expect(open.status, JSON.stringify(open.json)).toBe(201);
      const out: {
        tokens: number[][];
        proportions: Record<string, number>[];
        stats: ReturnType<typeof statsOf>[][];
      } = { tokens: [[], []], proportions: [], stats: [] };
      for (let step = 0; ; step++) {
        const b = [await fetchBatch(s.url, open.json.id, 1), await fetchBatch(s.url, open.json.id, 0)];
        if (!b[0] || !b[1]) break;
        out.tokens[1]!.push(...b[0].tokens);
        out.tokens[0]!.push(...b[1].tokens);
        out.proportions.push(b[1].header.proportions as Record<string, number>);
        const st = [statsOf(b[1], 0, step), statsOf(b[0], 1, step)];
        out.stats.push(st);
        for (const x of [st[1]!, st[0]!]) {
          expect((await post(`${s.url}/v1/sessions/${open.json.id}/stats`, x)).status).toBe(200);
        }
      }
      return out;
    });
    // In process: the same mixer, the merged statistics, the same rule.
    const mixer = createOnlineMixer("odm", { domains: DOMAINS, seed: 4, options: { totalSteps: 20, warmupSteps: 0 } });
    const decided: Record<string, number>[] = [];
    for (let t = 0; t <= lag; t++) decided.push(mixer.proportions());
    for (const st of served.stats) {
      mixer.observe(mergeStatsForMixer(st));
      decided.push(mixer.proportions());
    }
    expect(served.proportions).toEqual(decided.slice(0, served.proportions.length));
    expect(new Set(served.proportions.map((p) => JSON.stringify(p))).size).toBeGreaterThan(5);
    for (let r = 0; r < 2; r++) {
      const sm = await createSampler({
        corpus: dir,
        proportions: decided[0]!,
        seed: 9,
        blockSize: 8,
        budgetSamples: 160,
        rank: r,
        worldSize: 2,
        warn: () => {},
      });
      const tokens: number[] = [];
      let applied = JSON.stringify(decided[0]);
      for (let t = 0; ; t++) {
        // A new stage (even with the same shares) re-keys the order inside blocks: set it only on a change.
        if (JSON.stringify(decided[t]) !== applied) sm.setProportions(decided[t]!);
        applied = JSON.stringify(decided[t]);
        const it = sm.batches({ batchSize: 4, seqLen: 8, limit: 1 });
        const n = await it.next();
        if (n.done) break;
        tokens.push(...n.value.tokens);
      }
      await sm.close();
      expect(served.tokens[r]).toEqual(tokens);
    }
  });
});
