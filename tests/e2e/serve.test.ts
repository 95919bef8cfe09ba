// `mixlab serve` as a process: it prints where it listens, a session resumed from its checkpoint
// on a fresh server after SIGKILL continues the exact stream, and SIGTERM closes it cleanly.

import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { writeTokenShard } from "../../src/sampler/sources.js";
import { createSampler } from "../../src/sampler/sampler.js";
import { decodeBatch } from "../../src/serve/session.js";
import { ROOT, tmp } from "../helpers.js";

let dir: string;
beforeAll(async () => {
  dir = tmp();
  await writeTokenShard(join(dir, "x"), Array.from({ length: 64 }, (_, i) => [i, i + 1, i + 2]));
  await writeTokenShard(join(dir, "y"), Array.from({ length: 64 }, (_, i) => [200 + (i % 50), 7]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `mixlab serve` and resolves with its URL once it prints `listening on`. */
function serve(): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, "bin", "mixlab.js"), "serve", "--corpus", `toy=${dir}`, "--port", "0"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1]!, stderr: () => err });
    });
    child.on("exit", (code) => reject(new Error(`mixlab serve exited with ${code}: ${err}`)));
  });
}

const SPEC = {
  corpus: "toy",
  proportions: { x: 0.5, y: 0.5 },
  seed: 5,
  blockSize: 12,
  budgetSamples: 96,
  batchSize: 3,
  seqLen: 4,
  worldSize: 2,
};

async function next(url: string, id: string, rank: number): Promise<number[] | null> {
  const r = await fetch(`${url}/v1/sessions/${id}/batches?rank=${rank}`);
  if (r.status === 204) return null;
  return Array.from(decodeBatch(new Uint8Array(await r.arrayBuffer())).tokens);
}

describe("mixlab serve (process)", () => {
  it("resumes exactly on a fresh server after SIGKILL, and exits 0 on SIGTERM", async () => {
    const want: number[][] = [[], []];
    for (let r = 0; r < 2; r++) {
      const s = await createSampler({
        corpus: dir,
        proportions: SPEC.proportions,
        seed: 5,
        blockSize: 12,
        budgetSamples: 96,
        rank: r,
        worldSize: 2,
        warn: () => {},
      });
      for await (const b of s.batches({ batchSize: 3, seqLen: 4 })) want[r]!.push(...b.tokens);
      await s.close();
    }
    const got: number[][] = [[], []];
    const first = await serve();
    const open = await (
      await fetch(`${first.url}/v1/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(SPEC),
      })
    ).json();
    for (let i = 0; i < 7; i++) for (let r = 0; r < 2; r++) got[r]!.push(...(await next(first.url, open.id, r))!);
    const checkpoint = await (await fetch(`${first.url}/v1/sessions/${open.id}/checkpoint`)).json();
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));
    const second = await serve();
    const resumed = await (
      await fetch(`${second.url}/v1/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ state: checkpoint }),
      })
    ).json();
    for (let r = 0; r < 2; r++) for (let b; (b = await next(second.url, resumed.id, r)); ) got[r]!.push(...b);
    expect(got).toEqual(want);
    second.child.kill("SIGTERM");
    const code = await new Promise((r) => second.child.once("exit", r));
    expect(code).toBe(0);
    expect(second.stderr()).not.toMatch(/\n\s+at /);
  });
});

describe("mixlab serve (process), online", () => {
  it("continues ODM's exact trajectory and stream on a fresh server after SIGKILL", async () => {
    const spec = {
      corpus: "toy",
      mixer: { method: "odm", seed: 2, options: { totalSteps: 16, warmupSteps: 0 } },
      seed: 1,
      budgetSamples: 96,
      batchSize: 3,
      seqLen: 4,
      worldSize: 2,
    };
    /** Reads steps [from, until) on both ranks, posting made-up per-domain statistics of each step. */
    async function steps(
      url: string,
      id: string,
      from: number,
      until: number,
      out: { tokens: number[][]; proportions: unknown[] },
    ): Promise<void> {
      for (let step = from; step < until; step++) {
        for (let r = 0; r < 2; r++) {
          const res = await fetch(`${url}/v1/sessions/${id}/batches?rank=${r}`);
          if (res.status === 204) return;
          const b = decodeBatch(new Uint8Array(await res.arrayBuffer()));
          out.tokens[r]!.push(...b.tokens);
          if (r === 0) out.proportions.push(b.header.proportions);
          const lossSum: Record<string, number> = {};
          const tokens: Record<string, number> = {};
          b.header.domainPerRow.forEach((d, row) => {
            const name = ["x", "y"][d]!;
            lossSum[name] = (lossSum[name] ?? 0) + 1 + (b.tokens[row * 4]! % 13) / 4;
            tokens[name] = (tokens[name] ?? 0) + 4;
          });
          const posted = await fetch(`${url}/v1/sessions/${id}/stats`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ rank: r, step, kind: "train", lossSum, tokens }),
          });
          expect(posted.status).toBe(200);
        }
      }
    }
    const open = async (url: string, body: unknown) =>
      (await (
        await fetch(`${url}/v1/sessions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        })
      ).json()) as { id: string };
    const whole = { tokens: [[], []] as number[][], proportions: [] as unknown[] };
    const a = await serve();
    await steps(a.url, (await open(a.url, spec)).id, 0, 100, whole);
    a.child.kill("SIGTERM");
    await new Promise((r) => a.child.once("exit", r));
    const split = { tokens: [[], []] as number[][], proportions: [] as unknown[] };
    const b = await serve();
    const id = (await open(b.url, spec)).id;
    await steps(b.url, id, 0, 7, split);
    const checkpoint = await (await fetch(`${b.url}/v1/sessions/${id}/checkpoint`)).json();
    b.child.kill("SIGKILL");
    await new Promise((r) => b.child.once("exit", r));
    const c = await serve();
    await steps(c.url, (await open(c.url, { state: checkpoint })).id, 7, 100, split);
    c.child.kill("SIGTERM");
    await new Promise((r) => c.child.once("exit", r));
    expect(whole.proportions.length).toBe(16);
    expect(new Set(whole.proportions.map((p) => JSON.stringify(p))).size).toBeGreaterThan(4);
    expect(split).toEqual(whole);
  });
});
