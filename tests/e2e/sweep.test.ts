// `mixlab sweep`: a sweep killed mid-way resumes with nothing lost and nothing run twice.
import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { readFrameAsync } from "../../src/runs/frame.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const ARGS = ["sweep", "--corpus", join(ROOT, "datasets", "corpus"), "--n", "6", "--steps", "3", "--batch-size", "4", "--workers", "2", "--backend", "wasm", "--runs", "runs.csv"];

describe("mixlab sweep", () => {
  it("kill mid-way, resume, exactly K rows with unique run ids", async () => {
    const dir = tmp();
    const child = spawn(process.execPath, [BIN, ...ARGS], { cwd: dir, stdio: "ignore" });
    // Kill it (SIGKILL: no cleanup) once at least two runs are on disk.
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (existsSync(join(dir, "runs.csv")) && (await readFrameAsync(join(dir, "runs.csv"))).numRows >= 2) break;
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const partial = (await readFrameAsync(join(dir, "runs.csv"))).numRows;
    expect(partial).toBeGreaterThanOrEqual(2);
    const resumed = spawnSync(process.execPath, [BIN, ...ARGS], { cwd: dir, encoding: "utf8" });
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toMatch(/ensemble: 1 mixture per batched step \(wasm steps are compute-bound/);
    if (partial < 6) expect(resumed.stderr).toMatch(new RegExp(`${partial} of 6 runs already in runs.csv; ${6 - partial} to go`));
    const f = await readFrameAsync(join(dir, "runs.csv"));
    expect(f.numRows).toBe(6);
    expect(new Set(f.cells.get("run_id")).size).toBe(6);
    expect(f.cells.get("status")!.every((s) => s === "ok")).toBe(true);
    // Running it again does nothing.
    const again = spawnSync(process.execPath, [BIN, ...ARGS], { cwd: dir, encoding: "utf8" });
    expect(again.stderr).toMatch(/6 of 6 runs already in runs.csv; 0 to go/);
    expect((await readFrameAsync(join(dir, "runs.csv"))).numRows).toBe(6);
  }, 180_000);
});

describe("mixlab sweep --ensemble", () => {
  it("trains mixtures in ensembles and records one row per mixture, equal to training them one by one", async () => {
    const dir = tmp();
    const common = ["sweep", "--corpus", join(ROOT, "datasets", "corpus"), "--n", "4", "--steps", "3", "--batch-size", "4", "--workers", "1", "--backend", "wasm"];
    const a = spawnSync(process.execPath, [BIN, ...common, "--ensemble", "2", "--runs", "ens.csv"], { cwd: dir, encoding: "utf8" });
    expect(a.status).toBe(0);
    const b = spawnSync(process.execPath, [BIN, ...common, "--ensemble", "1", "--runs", "one.csv"], { cwd: dir, encoding: "utf8" });
    expect(b.status).toBe(0);
    const ens = await readFrameAsync(join(dir, "ens.csv"));
    const one = await readFrameAsync(join(dir, "one.csv"));
    expect(ens.numRows).toBe(4);
    expect(ens.cells.get("run_id")).toEqual(one.cells.get("run_id"));
    const le = ens.cells.get("loss.mean") as number[];
    const lo = one.cells.get("loss.mean") as number[];
    le.forEach((v, i) => expect(v).toBeCloseTo(lo[i]!, 4));
  }, 180_000);
});

describe("mixlab sweep failures", () => {
  it("records a failed run (non-finite loss) with its error and goes on; exit code 1", async () => {
    const dir = tmp();
    const r = spawnSync(process.execPath, [BIN, "sweep", "--corpus", join(ROOT, "datasets", "corpus"), "--n", "2", "--steps", "6", "--batch-size", "4", "--workers", "1", "--backend", "wasm", "--lr", "1e6", "--runs", "runs.csv"], { cwd: dir, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/0 finished, 2 failed/);
    const f = await readFrameAsync(join(dir, "runs.csv"));
    expect(f.numRows).toBe(2);
    expect(f.cells.get("status")).toEqual(["failed", "failed"]);
    expect(String(f.cells.get("error")![0])).toMatch(/training loss of member 1 is not finite at step \d+/);
  }, 120_000);
});
