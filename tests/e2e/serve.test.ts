// `mixlab serve` as a process: it prints where it listens, a session resumed from its checkpoint
// on a fresh server after SIGKILL continues the exact stream, and SIGTERM closes it cleanly.

import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTokenShard } from "../../src/sampler/sources.js";
import { createSampler } from "../../src/sampler/sampler.js";
import { decodeBatch } from "../../src/serve/session.js";
import { ROOT } from "../helpers.js";

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mixlab-serve-e2e-"));
  await writeTokenShard(join(dir, "x"), Array.from({ length: 64 }, (_, i) => [i, i + 1, i + 2]));
  await writeTokenShard(join(dir, "y"), Array.from({ length: 64 }, (_, i) => [200 + (i % 50), 7]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `mixlab serve` and resolves with its URL once it prints `listening on`. */
function serve(): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [join(ROOT, "bin", "mixlab.js"), "serve", "--corpus", `toy=${dir}`, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
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

const SPEC = { corpus: "toy", proportions: { x: 0.5, y: 0.5 }, seed: 5, blockSize: 12, budgetSamples: 96, batchSize: 3, seqLen: 4, worldSize: 2 };

async function next(url: string, id: string, rank: number): Promise<number[] | null> {
  const r = await fetch(`${url}/v1/sessions/${id}/batches?rank=${rank}`);
  if (r.status === 204) return null;
  return Array.from(decodeBatch(new Uint8Array(await r.arrayBuffer())).tokens);
}

describe("mixlab serve (process)", () => {
  it("resumes exactly on a fresh server after SIGKILL, and exits 0 on SIGTERM", async () => {
    const want: number[][] = [[], []];
    for (let r = 0; r < 2; r++) {
      const s = await createSampler({ corpus: dir, proportions: SPEC.proportions, seed: 5, blockSize: 12, budgetSamples: 96, rank: r, worldSize: 2, warn: () => {} });
      for await (const b of s.batches({ batchSize: 3, seqLen: 4 })) want[r]!.push(...b.tokens);
      await s.close();
    }
    const got: number[][] = [[], []];
    const first = await serve();
    const open = await (await fetch(`${first.url}/v1/sessions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(SPEC) })).json();
    for (let i = 0; i < 7; i++) for (let r = 0; r < 2; r++) got[r]!.push(...(await next(first.url, open.id, r))!);
    const checkpoint = await (await fetch(`${first.url}/v1/sessions/${open.id}/checkpoint`)).json();
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));
    const second = await serve();
    const resumed = await (await fetch(`${second.url}/v1/sessions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ state: checkpoint }) })).json();
    for (let r = 0; r < 2; r++) for (let b; (b = await next(second.url, resumed.id, r)); ) got[r]!.push(...b);
    expect(got).toEqual(want);
    second.child.kill("SIGTERM");
    const code = await new Promise((r) => second.child.once("exit", r));
    expect(code).toBe(0);
    expect(second.stderr()).not.toMatch(/\n\s+at /);
  });
});
