// The stdlib-only Python client (clients/python/mixlab_client.py) against a live server, run with
// Debian's python3: the same stream as the in-process sampler, state/resume, errors, and the torch
// wrapper where torch can be imported.

import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeTokenShard } from "../../src/sampler/sources.js";
import { createSampler } from "../../src/sampler/sampler.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { ROOT, tmp } from "../helpers.js";

const PYTHON = ["/usr/bin/python3", "python3"].find((p) => !p.startsWith("/") || existsSync(p))!;
let dir: string;
let server: RunningServer;

beforeAll(async () => {
  dir = tmp();
  await writeTokenShard(
    join(dir, "a"),
    Array.from({ length: 50 }, (_, i) => Array.from({ length: 2 + (i % 9) }, (_, j) => (i * 31 + j) % 250)),
  );
  await writeTokenShard(
    join(dir, "b"),
    Array.from({ length: 40 }, (_, i) => Array.from({ length: 3 + (i % 5) }, (_, j) => 1000 + i + j)),
  );
  server = await startServer({ corpora: [{ name: "toy", dir }], warn: () => {} });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a Python script against the server (asynchronously: the server lives in this process). */
async function python(script: string): Promise<any> {
  const run = promisify(execFile);
  const { stdout } = await run(PYTHON, ["-c", script, server.url], {
    env: { ...process.env, PYTHONPATH: join(ROOT, "clients", "python") },
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(stdout);
}

const SPEC = { proportions: { a: 0.7, b: 0.3 }, seed: 11, blockSize: 10, budgetSamples: 60 };

describe("the Python client", () => {
  it("reads the in-process stream of every rank, resumes from state, and raises named errors", async () => {
    const got = await python(`
import json, sys
from mixlab_client import Client, MixlabError
c = Client(sys.argv[1])
s = c.open_session(corpus="toy", proportions={"a": 0.7, "b": 0.3}, seed=11, block_size=10, budget_samples=60, batch_size=4, seq_len=6, world_size=2)
out = {"ranks": [[], []], "resumed": [[], []]}
for r in range(2):
    for b in s.batches(r):
        out["ranks"][r].append({"tokens": list(b.tokens), "domains": b.domain_per_row, "index": b.index_per_row, "width": b.width})
s2 = c.open_session(corpus="toy", proportions={"a": 0.7, "b": 0.3}, seed=11, block_size=10, budget_samples=60, batch_size=4, seq_len=6, world_size=2)
other_rank = c.session(s2.id)
for r in range(2):
    for _ in range(3):
        out["resumed"][r].append(list((s2 if r == 0 else other_rank).next_batch(r).tokens))
state = json.loads(json.dumps(s2.state()))
s2.close()
s3 = c.resume(state)
for r in range(2):
    for b in s3.batches(r):
        out["resumed"][r].append(list(b.tokens))
try:
    c.open_session(corpus="toy", proportions={"a": 1}, batch_size=0, seq_len=6)
except MixlabError as e:
    out["error"] = [e.status, e.code, e.field, e.message]
print(json.dumps(out))
`);
    for (let r = 0; r < 2; r++) {
      const s = await createSampler({ corpus: dir, ...SPEC, rank: r, worldSize: 2, warn: () => {} });
      const want = [];
      for await (const b of s.batches({ batchSize: 4, seqLen: 6 })) {
        want.push({
          tokens: Array.from(b.tokens),
          domains: Array.from(b.domainPerRow),
          index: Array.from(b.indexPerRow),
        });
      }
      await s.close();
      expect(got.ranks[r].map((b: any) => ({ tokens: b.tokens, domains: b.domains, index: b.index }))).toEqual(want);
      expect(got.resumed[r].flat()).toEqual(want.flatMap((b) => b.tokens));
    }
    expect(got.ranks[0].some((b: any) => b.width === 2)).toBe(true);
    expect(got.error).toEqual([400, "E_VALIDATION", "body.batchSize", "body.batchSize: expected a number ≥ 1, got 0"]);
  });

  it("fetches several batches a request with one in flight, and checkpoints where the loop stopped", async () => {
    const got = await python(`
import json, sys
from mixlab_client import Client
c = Client(sys.argv[1])
spec = dict(corpus="toy", proportions={"a": 0.7, "b": 0.3}, seed=11, block_size=10, budget_samples=60, batch_size=4, seq_len=6, world_size=2)
out = {"whole": [[], []], "split": [[], []]}
s = c.open_session(**spec)
for r in range(2):
    for b in s.batches(r, count=3):
        out["whole"][r].append(list(b.tokens))
s2 = c.open_session(**spec)
for r in range(2):
    for i, b in enumerate(s2.batches(r, count=4)):
        out["split"][r].append(list(b.tokens))
        if i == 2:
            break  # the loop stops at step 3; the server has handed out 8 (two responses)
out["steps"] = s2.describe()["steps"]
state = json.loads(json.dumps(s2.state()))
out["state_step"] = state["step"]
s3 = c.resume(state)
for r in range(2):
    for b in s3.batches(r, count=5, prefetch=False):
        out["split"][r].append(list(b.tokens))
print(json.dumps(out))
`);
    for (let r = 0; r < 2; r++) {
      const s = await createSampler({ corpus: dir, ...SPEC, rank: r, worldSize: 2, warn: () => {} });
      const want: number[][] = [];
      for await (const b of s.batches({ batchSize: 4, seqLen: 6 })) want.push(Array.from(b.tokens));
      await s.close();
      expect(got.whole[r]).toEqual(want);
      expect(got.split[r]).toEqual(want);
    }
    expect(got.steps).toEqual([8, 8]);
    expect(got.state_step).toBe(3);
  });

  it("wraps a session as a torch IterableDataset where torch can be imported", async (ctx) => {
    const has = await python(
      `import json\ntry:\n    import torch\n    print(json.dumps(True))\n` +
        `except ImportError:\n    print(json.dumps(False))`,
    );
    if (!has) {
      console.log("skipped: torch cannot be imported by", PYTHON);
      ctx.skip();
      return;
    }
    const got = await python(`
import json, sys
from mixlab_client import Client, MixlabIterableDataset, to_tensor
import torch
c = Client(sys.argv[1])
s = c.open_session(corpus="toy", proportions={"b": 1}, seed=3, budget_samples=8, batch_size=4, seq_len=5)
rows = []
for item in torch.utils.data.DataLoader(MixlabIterableDataset(s, rank=0), batch_size=None):
    assert item["tokens"].dtype == torch.int64 and tuple(item["tokens"].shape) == (4, 5)
    rows.extend(item["tokens"].tolist())
b = c.open_session(corpus="toy", proportions={"b": 1}, seed=3, budget_samples=4, batch_size=4, seq_len=5).next_batch(0)
assert b.width == 2 and to_tensor(b).tolist() == [list(b.row(i)) for i in range(4)]
print(json.dumps(rows))
`);
    expect(got.length).toBe(8);
    expect(got.flat().every((t: number) => t === 0 || t >= 1000)).toBe(true);
  });
});
