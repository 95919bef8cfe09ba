// `mixlab train` and `mixlab demo --quick` end to end (wasm backend, embedded corpus).
import { describe, expect, it, onTestFinished } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { ROOT, tmp } from "../helpers.js";
import { readFrameAsync } from "../../src/runs/frame.js";
import { parseProportions } from "../../src/export/proportions.js";
import { loadBlas } from "../../src/proxy/blas.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) =>
  spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, TMPDIR: cwd } });

describe("mixlab train", () => {
  it("appends one row per run to a runs table; bad input exits 2", async () => {
    const dir = tmp();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const corpus = join(ROOT, "datasets", "corpus");
    const a = run(
      [
        "train", "--corpus", corpus, "--weights", "code=1,legal=1", "--steps", "4", "--batch-size", "4",
        "--backend", "wasm", "--runs", "runs.csv",
      ],
      dir,
    );
    expect(a.status).toBe(0);
    expect(a.stderr).toMatch(/backend: wasm/);
    const b = run(
      [
        "train", "--corpus", corpus, "--weights", "math=1", "--steps", "4", "--batch-size", "4",
        "--backend", "wasm", "--threads", "2", "--runs", "runs.csv",
      ],
      dir,
    );
    expect(b.status).toBe(0);
    expect(b.stderr).toMatch(/tokens\/s, wasm, 2 threads\)/);
    // The same run again: said, not trained, not appended.
    const again = run(
      [
        "train", "--corpus", corpus, "--weights", "code=1,legal=1", "--steps", "4", "--batch-size", "4",
        "--backend", "wasm", "--runs", "runs.csv",
      ],
      dir,
    );
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(
      /^note: --weights sum to 2; trained on the proportions code=0\.5000,legal=0\.5000\nrun [0-9a-f]{16} \(this mixture with these settings\) is already in runs.csv; not training it again\n$/,
    );
    const f = await readFrameAsync(join(dir, "runs.csv"));
    expect(f.numRows).toBe(2);
    expect(f.cells.get("threads")).toEqual([1, 2]);
    expect(f.cells.get("lr")).toEqual([0.003, 0.003]);
    expect(f.cells.get("corpus_sha256")![0]).toMatch(/^[0-9a-f]{64}$/);
    // A bad --runs fails before training (the only line is the error).
    for (const [runs, message] of [
      [
        "missing/runs.csv",
        `--runs: expected a file in an existing folder, got "missing/runs.csv" (no folder "missing")`,
      ],
      [
        "runs.xlsx",
        `--runs: expected a file ending in .csv, .jsonl, .ndjson, .arrow, .feather, .ipc or .parquet, ` +
          `got "runs.xlsx" (.xlsx)`,
      ],
    ]) {
      const r = run(
        [
          "train", "--corpus", corpus, "--weights", "code=1", "--steps", "2", "--batch-size", "4",
          "--backend", "wasm", "--runs", runs!,
        ],
        dir,
      );
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`error: ${message}\n`);
    }
    const many = run(
      [
        "train", "--corpus", corpus, "--weights", "math=1", "--steps", "2", "--batch-size", "4",
        "--backend", "wasm", "--threads", "9",
      ],
      dir,
    );
    expect(many.status).toBe(2);
    expect(many.stderr).toMatch(/threads: expected at most the batch size \(4\) threads, got 9/);
    expect(f.cells.get("w.code")).toEqual([0.5, 0]);
    expect(f.columns).toContain("loss.speeches");
    const bad = run(["train", "--corpus", corpus, "--weights", "nosuch=1", "--steps", "2", "--backend", "wasm"], dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/expected domains of the corpus .*got unknown "nosuch"/);
  }, 120_000);
});

describe("mixlab train, twice at once", () => {
  it("the same run started twice trains once and appends one row", async () => {
    const dir = tmp();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const args = ["train", "--corpus", join(ROOT, "datasets", "corpus"), "--weights", "code=1,legal=1", "--steps", "4"];
    args.push("--batch-size", "4", "--backend", "wasm", "--runs", "runs.csv");
    const both = [0, 1].map(
      () =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const c = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
          let stderr = "";
          c.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
          c.on("close", (code) => resolve({ code, stderr }));
        }),
    );
    const [a, b] = await Promise.all(both);
    expect([a!.code, b!.code]).toEqual([0, 0]);
    const trained = [a!, b!].filter((r) => /appended run [0-9a-f]{16} to runs.csv/.test(r.stderr));
    const said = [a!, b!].filter((r) =>
      /is being trained by pid \d+|is already in runs.csv; not training it again/.test(r.stderr),
    );
    expect([trained.length, said.length]).toEqual([1, 1]);
    expect((await readFrameAsync(join(dir, "runs.csv"))).numRows).toBe(1);
    expect(readdirSync(dir)).toEqual(["runs.csv"]);
  }, 120_000);
});

describe.skipIf(!loadBlas().blas)("mixlab train --backend blas", () => {
  it("trains on the native BLAS and records the backend in the row", async () => {
    const dir = tmp();
    const corpus = join(ROOT, "datasets", "corpus");
    const r = run(
      [
        "train", "--corpus", corpus, "--weights", "code=1,legal=1", "--steps", "3", "--batch-size", "4",
        "--backend", "blas", "--runs", "runs.csv",
      ],
      dir,
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/backend: blas \(libopenblas\.so\.0 for the matrix products/);
    const f = await readFrameAsync(join(dir, "runs.csv"));
    expect(f.cells.get("backend")).toEqual(["blas"]);
  }, 120_000);
});

describe("mixlab demo --quick", () => {
  it("runs the whole loop and writes proportions.json and runs.arrow", async () => {
    const dir = tmp();
    const r = run(["demo", "--quick", "--out", "out", "--backend", "wasm"], dir);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/workers on the wasm backend/);
    expect(r.stdout).toMatch(/recommendation \(\S+\)\s+[\d.]+\s+[\d.]+\s+[\d.]+/);
    expect(r.stdout).toMatch(/uniform/);
    expect(r.stdout).toMatch(/cross-validated quality of every law/);
    const doc = parseProportions(readFileSync(join(dir, "out", "proportions.json"), "utf8"), "proportions.json");
    expect(doc.chosenBy).toBe("auto");
    expect(doc.method).toBeDefined();
    const runs = await readFrameAsync(join(dir, "out", "runs.arrow"));
    expect(runs.numRows).toBe(14); // 10 swarm runs + 4 evaluation runs
  }, 400_000); // the whole loop: ~30 s alone on 2 cores
});
