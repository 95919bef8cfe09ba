// mixlab serve under bad input: pinned messages for the common mistakes, the bearer token, the
// limits, and a seeded fuzz of a few thousand malformed requests on loopback after which the
// server still serves a valid session.

import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { rmSync } from "node:fs";
import { tmp } from "../helpers.js";
import { join } from "node:path";
import { writeTokenShard } from "../../src/sampler/sources.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { decodeBatch } from "../../src/serve/session.js";
import { createRng, type Rng } from "../../src/rng/index.js";

let dir: string;
beforeAll(async () => {
  dir = tmp();
  await writeTokenShard(join(dir, "a"), Array.from({ length: 30 }, (_, i) => [i % 7, 1, 2, 3]));
  await writeTokenShard(join(dir, "b"), Array.from({ length: 30 }, (_, i) => [i % 5, 9, 9]));
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

const VALID = { corpus: "toy", proportions: { a: 0.6, b: 0.4 }, batchSize: 2, seqLen: 4, budgetSamples: 40 };

async function send(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: any; type: string; allow: string | null }> {
  const r = await fetch(url, init);
  const type = r.headers.get("content-type") ?? "";
  const text = await r.text();
  return {
    status: r.status,
    type,
    body: type.includes("json") ? JSON.parse(text) : text,
    allow: r.headers.get("allow"),
  };
}
const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  send(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("mixlab serve: bad requests", () => {
  it("names the field, what was expected and what was found", async () => {
    await withServer(async (s) => {
      const cases: [unknown, number, string][] = [
        [{ ...VALID, extra: 1 }, 400, "body.extra: expected no such field (not part of the API), got one"],
        [{ ...VALID, batchSize: 0 }, 400, "body.batchSize: expected a number ≥ 1, got 0"],
        [{ ...VALID, batchSize: 5000 }, 400, "body.batchSize: expected a number ≤ 4096, got 5000"],
        [{ ...VALID, seqLen: "4" }, 400, 'body.seqLen: expected a value of type integer, got "4"'],
        [{ ...VALID, seed: -1 }, 400, "body.seed: expected a number ≥ 0, got -1"],
        [{ ...VALID, unit: "bytes" }, 400, 'body.unit: expected one of "tokens", "samples", got "bytes"'],
        [{ ...VALID, proportions: { a: -1 } }, 400, "body.proportions.a: expected a number ≥ 0, got -1"],
        [
          { ...VALID, proportions: { a: 1, c: 1 } },
          400,
          'proportions: expected domains of the corpus (a, b), got unknown "c"',
        ],
        [{ ...VALID, corpus: "web" }, 400, 'corpus: expected one of "toy", got "web"'],
        [
          { corpus: "toy", batchSize: 2, seqLen: 4 },
          400,
          "body: expected exactly one of proportions, stages or mixer, got none",
        ],
        [
          { ...VALID, stages: [{ proportions: { a: 1 } }] },
          400,
          "body: expected exactly one of proportions, stages or mixer, got several",
        ],
        [{ ...VALID, seqLen: undefined }, 400, "body.seqLen: expected a value, got nothing"],
        [
          { ...VALID, mixer: undefined, proportions: undefined, mixer2: 1 },
          400,
          "body.mixer2: expected no such field (not part of the API), got one",
        ],
        [
          { corpus: "toy", mixer: { method: "bandit" }, batchSize: 2, seqLen: 4 },
          400,
          'online mixer: expected one of "odm", "doremi", "skillit", "aioli", got "bandit"',
        ],
        [
          { corpus: "toy", mixer: { method: "odm" }, batchSize: 2, seqLen: 4, lag: 1, blockSize: 3 },
          400,
          "blockSize: expected worldSize × batchSize = 2 with an online mixer (it decides every step), got 3",
        ],
        [
          { ...VALID, batchSize: 4096, seqLen: 131072 },
          400,
          "batchSize: expected batchSize × seqLen ≤ 16777216 tokens, got 4096 × 131072",
        ],
        [{ state: { format: "x" } }, 400, "body.state.spec: expected a value, got nothing"],
        ["{not json", 400, "body: expected a JSON document, got text that does not parse as JSON"],
        ['{"__proto__": {"x": 1}}', 400, ""],
        [[1, 2], 400, "body: expected a value of type object, got [1,2]"],
      ];
      for (const [body, status, message] of cases) {
        const r = await postJson(`${s.url}/v1/sessions`, body);
        expect([r.status, r.body.error?.message ?? r.body], JSON.stringify(body)).toEqual([
          status,
          message || r.body.error.message,
        ]);
      }
      const text = await send(`${s.url}/v1/sessions`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "hi",
      });
      expect([text.status, text.body.error.code, text.body.error.message]).toEqual([
        415,
        "E_MEDIA_TYPE",
        'content-type: expected application/json, got "text/plain"',
      ]);
      const notJson = await postJson(`${s.url}/v1/sessions`, "{not json");
      expect(notJson.body.error.code).toBe("E_JSON");
      const id = (await postJson(`${s.url}/v1/sessions`, VALID)).body.id;
      const q = async (query: string) => send(`${s.url}/v1/sessions/${id}/batches${query}`);
      expect((await q("")).body.error.message).toBe("querystring.rank: expected a value, got nothing");
      expect((await q("?rank=1")).body.error.message).toBe("rank: expected an integer in [0, 1), got 1");
      expect((await q("?rank=-1")).body.error.message).toBe(
        'querystring.rank: expected a string matching ^[0-9]{1,9}$, got "-1"',
      );
      expect((await q("?rank=0&x=1")).body.error.message).toBe(
        "querystring.x: expected no such field (not part of the API), got one",
      );
      const none = await send(`${s.url}/v1/sessions/00000000-0000-0000-0000-000000000000/table`);
      expect([none.status, none.body.error.message]).toEqual([
        404,
        'session "00000000-0000-0000-0000-000000000000": expected an open session, ' +
          "got none (closed, expired or never opened)",
      ]);
      const route = await send(`${s.url}/v2/health`);
      expect([route.status, route.body.error.message]).toEqual([
        404,
        "GET /v2/health: expected a route of /v1/openapi.json, got none",
      ]);
      const put = await send(`${s.url}/v1/sessions/${id}/batches?rank=0`, { method: "PUT" });
      expect([put.status, put.body.error.code, put.body.error.message]).toEqual([
        405,
        "E_METHOD",
        `PUT /v1/sessions/${id}/batches: expected one of GET, got PUT`,
      ]);
      expect(put.allow).toBe("GET");
      // HEAD would move the rank's stream on like a GET, without the batches: refused, nothing moves.
      const head = await fetch(`${s.url}/v1/sessions/${id}/batches?rank=0&count=5`, { method: "HEAD" });
      expect([head.status, head.headers.get("allow")]).toEqual([405, "GET"]);
      expect((await (await fetch(`${s.url}/v1/sessions/${id}`)).json()).steps).toEqual([0]);
      const patch = await send(`${s.url}/v1/sessions/${id}`, { method: "PATCH" });
      expect([patch.status, patch.body.error.message]).toEqual([
        405,
        `PATCH /v1/sessions/${id}: expected one of DELETE, GET, got PATCH`,
      ]);
      const stats = await postJson(`${s.url}/v1/sessions/${id}/stats`, {
        rank: 0,
        step: 0,
        kind: "train",
        lossSum: {},
        tokens: {},
      });
      expect([stats.status, stats.body.error.message]).toEqual([
        400,
        "mixer: expected a session with an online mixer, got one without: statistics have nowhere to go",
      ]);
    });
  });

  it("refuses requests without the bearer token, and binds other addresses only with one", async () => {
    const token = "s3cret-token-0123456789";
    await withServer(async (s) => {
      for (const auth of [undefined, "Bearer wrong-token", `Basic ${token}`, `Bearer ${token}x`]) {
        const r = await send(`${s.url}/v1/health`, auth ? { headers: { authorization: auth } } : {});
        expect([r.status, r.body.error.code]).toEqual([401, "E_AUTH"]);
        expect(JSON.stringify(r.body)).not.toContain(token);
      }
      const ok = await send(`${s.url}/v1/health`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
    }, { token });
    await expect(startServer({ corpora: [{ name: "toy", dir }], host: "0.0.0.0" })).rejects.toThrow(
      "--host: expected a loopback address (127.0.0.1, ::1, localhost) without --token-file, " +
        'got "0.0.0.0": binding another address needs a token',
    );
  });

  it("limits sessions and body size", async () => {
    await withServer(async (s) => {
      expect((await postJson(`${s.url}/v1/sessions`, VALID)).status).toBe(201);
      expect((await postJson(`${s.url}/v1/sessions`, VALID)).status).toBe(201);
      const third = await postJson(`${s.url}/v1/sessions`, VALID);
      expect([third.status, third.body.error.message]).toEqual([
        429,
        "sessions: expected at most 2 open, got 2; close one (DELETE /v1/sessions/{id})",
      ]);
      const big = await postJson(`${s.url}/v1/sessions`, { ...VALID, pad: "x".repeat(5000) });
      expect([big.status, big.body.error.code, big.body.error.message]).toEqual([
        413,
        "E_BODY_TOO_LARGE",
        "body: expected at most 4096 bytes, got more",
      ]);
    }, { limits: { maxSessions: 2, maxBodyBytes: 4096 } });
  });

  it("answers a few thousand malformed requests with 4xx JSON errors and keeps serving", async () => {
    const rng = createRng(2024);
    await withServer(async (s) => {
      const id = (await postJson(`${s.url}/v1/sessions`, VALID)).body.id as string;
      const started = Date.now();
      let n = 0;
      for (; n < 2000 && Date.now() - started < 45_000; n++) {
        const req = malformed(rng, s.url, id);
        const r = await send(req.url, req.init);
        if (
          !(
            r.status >= 400 &&
            r.status < 500 &&
            r.type.includes("application/json") &&
            typeof r.body.error?.message === "string"
          )
        ) {
          throw new Error(
            `request ${n} (${req.init.method ?? "GET"} ${req.url} ${String(req.init.body ?? "").slice(0, 200)}) ` +
              `got ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`,
          );
        }
      }
      expect(n).toBeGreaterThanOrEqual(500); // 2,000 in ~10 s on a quiet 2-core machine
      const fresh = await postJson(`${s.url}/v1/sessions`, VALID);
      expect(fresh.status).toBe(201);
      const r = await fetch(`${s.url}/v1/sessions/${fresh.body.id}/batches?rank=0`);
      expect(r.status).toBe(200);
      expect(decodeBatch(new Uint8Array(await r.arrayBuffer())).header.rows).toBe(2);
    }, { limits: { maxSessions: 1000 } });
  });
});

/** A request that must be refused: a valid one with one thing broken. */
function malformed(rng: Rng, base: string, id: string): { url: string; init: RequestInit } {
  const pick = <T>(xs: readonly T[]): T => xs[rng.nextInt(xs.length)]!;
  const junk = (): unknown =>
    pick([
      null, true, -1, 0.5, 1e309 === Infinity ? "Infinity" : 0, "", "x".repeat(rng.nextInt(100)), [], [1, "a"], {},
      { a: { b: { c: [] } } }, -1e20, 2 ** 53 + 1, "NaN", "__proto__",
    ]);
  const kind = rng.nextInt(9);
  const json = (body: unknown) => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  if (kind === 0) {
    // A valid session body with one field replaced by junk or removed, or an unknown field added.
    const body: Record<string, unknown> = { ...VALID };
    const keys = [
      ...Object.keys(VALID),
      "seed", "unit", "order", "blockSize", "worldSize", "padId", "lag", "maxEpochs", "onExceed", "stages", "mixer",
      "state",
    ];
    const k = pick(keys);
    const v = junk();
    if (k === "corpus" && typeof v === "string" && v === "toy") body[k] = 1;
    else body[k] = v;
    if (rng.next() < 0.3) delete body[pick(["corpus", "batchSize", "seqLen"])];
    if (rng.next() < 0.2) body[`x${rng.nextInt(1000)}`] = 1;
    // A junk number may be valid for this field (a seed of 0, a budget of 0.5 tokens): break another.
    if (typeof v === "number" && v >= 0 && k !== "batchSize") body.batchSize = 0;
    return { url: `${base}/v1/sessions`, init: json(body) };
  }
  if (kind === 1) {
    // Bytes that are not JSON, or JSON that is not an object.
    const texts = [
      "{", "}", "[", "nul", '{"corpus":', "\u0000\u0001\u0002", "{'a':1}", '"string"', "42", "[]", "null",
      '{"a":1}{"b":2}',
    ];
    return { url: `${base}/v1/sessions`, init: json(pick(texts)) };
  }
  if (kind === 2) {
    // Random bytes under a random content type.
    const bytes = new Uint8Array(1 + rng.nextInt(64));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.nextInt(256);
    return {
      url: `${base}/v1/sessions`,
      init: {
        method: "POST",
        headers: {
          "content-type": pick([
            "application/octet-stream",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=utf-16",
          ]),
        },
        body: bytes,
      },
    };
  }
  if (kind === 3) {
    // Batches with bad queries or bad session ids.
    const q = pick([
      "", "?rank=", "?rank=a", "?rank=-2", "?rank=99", "?rank=0&step=x", "?rank=0&step=77", "?rank=0&rank=1",
      "?rank=0&extra=1", "?step=1", "?rank=1e3",
    ]);
    const sid = pick([id, "nope", "00000000-0000-0000-0000-000000000000", "../etc/passwd", "%00", id.toUpperCase()]);
    const query =
      sid === id && q === ""
        ? "?rank=5"
        : sid === id && (q.includes("rank=0") && !q.includes("step") && !q.includes("extra") && !q.includes("rank=1"))
          ? "?rank=0&step=99"
          : q;
    return { url: `${base}/v1/sessions/${sid}/batches${query}`, init: {} };
  }
  if (kind === 4) {
    // Stats for a session without a mixer, or with a malformed body.
    const body = pick([
      {},
      { rank: 0 },
      { rank: 0, step: 0, kind: "train", lossSum: { a: 1 }, tokens: { a: 4 } },
      { rank: -1, step: 0, kind: "x", lossSum: [], tokens: 1 },
      junk(),
    ]);
    return { url: `${base}/v1/sessions/${pick([id, "bad"])}/stats`, init: json(body) };
  }
  if (kind === 5) {
    // Unknown routes and methods.
    const path = pick([
      "/",
      "/v1",
      "/v1/sessions/" + id + "/nothing",
      "/v2/sessions",
      "/v1/health/x",
      "/v1/sessions/" + id + "/batches/1",
      "/%2e%2e/",
      "/v1/corpora/toy",
    ]);
    return { url: `${base}${path}`, init: { method: pick(["GET", "POST", "PUT", "PATCH", "DELETE"]) } };
  }
  if (kind === 6) {
    // Methods that exist on another path.
    return {
      url: `${base}${pick(["/v1/health", "/v1/openapi.json", "/v1/corpora"])}`,
      init: { method: pick(["POST", "PUT", "DELETE", "PATCH"]) },
    };
  }
  if (kind === 7) {
    // A resume from a broken checkpoint.
    const state = pick([
      {},
      { format: "mixlab.serve-checkpoint/v1" },
      {
        format: "mixlab.serve-checkpoint/v1",
        spec: VALID,
        step: 0,
        sampler: { format: "mixlab.sampler-state/v1", planSha256: "0".repeat(64), consumed: 0, appended: [] },
        mixer: null,
        decided: [],
      },
      junk(),
    ]);
    return { url: `${base}/v1/sessions`, init: json({ state }) };
  }
  // Checkpoint, table or delete of sessions that do not exist.
  return {
    url:
      `${base}/v1/sessions/${pick(["x", "00000000-0000-0000-0000-000000000001"])}/` +
      `${pick(["checkpoint", "table", ""])}`,
    init: { method: pick(["GET", "DELETE"]) },
  };
}
