// `mixlab sweep` end to end: kill and resume (SIGTERM and SIGKILL at a random point) give exactly
// an uninterrupted run's rows; two sweeps at once train each run once; other settings retrain;
// bad runs paths fail before training; failed runs are recorded.
import { afterEach, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { brotliCompressSync, brotliDecompressSync } from "node:zlib";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { readFrameAsync } from "../../src/runs/frame.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const CORPUS = join(ROOT, "datasets", "corpus");
const TINY = ["--steps", "3", "--batch-size", "4", "--backend", "wasm"];
const ARGS = ["sweep", "--corpus", CORPUS, "--n", "4", ...TINY, "--workers", "2", "--runs", "runs.csv"];
const dirs: string[] = [];
const scratch = (): string => {
  const d = tmp();
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
interface Started {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}
const start = (args: string[], cwd: string): Started => {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => child.on("close", (code, signal) => r(code ?? (signal ? -1 : null))));
  return { child, stderr: () => err, exit };
};
/** Live (not zombie) processes whose parent is `pid`. */
const childrenOf = (pid: number): number[] => {
  const r = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  return r.stdout.split("\n").map((s) => Number(s.trim())).filter((n) => n > 0 && alive(n));
};
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};
const rowsById = async (path: string): Promise<Map<string, number>> => {
  const f = await readFrameAsync(path);
  const ids = f.cells.get("run_id")!.map(String);
  expect(new Set(ids).size).toBe(ids.length); // no duplicates
  return new Map(ids.map((id, i) => [id, f.cells.get("loss.mean")![i] as number]));
};

describe("mixlab sweep: kill and resume", () => {
  it("SIGTERM and SIGKILL at a random point, resume: an uninterrupted run's rows, no litter or orphans", async () => {
    const ref = scratch();
    expect(run(ARGS, ref).status).toBe(0);
    const expected = await rowsById(join(ref, "runs.csv"));
    expect(expected.size).toBe(4);
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const dir = scratch();
      const delay = 1000 + Math.floor(Math.random() * 7000); // before, during or after the runs
      const s = start(ARGS, dir);
      const workers = new Set<number>();
      const t0 = performance.now();
      while (performance.now() - t0 < delay && s.child.exitCode === null) {
        for (const p of childrenOf(s.child.pid!)) workers.add(p);
        await new Promise((r) => setTimeout(r, 50));
      }
      s.child.kill(signal);
      const code = await s.exit;
      const where = `${signal} after ${delay} ms`;
      // A SIGTERM that lands before the sweep installs its handlers (no worker exists yet) kills it outright (-1).
      if (signal === "SIGTERM" && code !== 0 && code !== -1) {
        expect(code, `${where}: ${s.stderr()}`).toBe(143);
        expect(s.stderr(), where).toMatch(/sweep interrupted \(SIGTERM\); every finished run is in the table/);
      }
      for (let i = 0; i < 100 && [...workers].some(alive); i++) await new Promise((r) => setTimeout(r, 50));
      expect([...workers].filter(alive), `${where}: orphan workers`).toEqual([]);
      if (signal === "SIGTERM") expect(readdirSync(dir).filter((n) => n !== "runs.csv"), where).toEqual([]);
      const partial = existsSync(join(dir, "runs.csv")) ? (await rowsById(join(dir, "runs.csv"))).size : 0;
      const resumed = run(ARGS, dir);
      expect(resumed.status, `${where}: ${resumed.stderr}`).toBe(0);
      const said = new RegExp(`${partial} of 4 runs already in runs.csv; ${4 - partial} to go`);
      if (partial > 0) expect(resumed.stderr).toMatch(said);
      expect(await rowsById(join(dir, "runs.csv")), where).toEqual(expected);
      expect(readdirSync(dir), where).toEqual(["runs.csv"]); // SIGKILL's stale claims taken over and gone
      const again = run(ARGS, dir);
      expect(again.stderr).toMatch(/4 of 4 runs already in runs.csv; 0 to go/);
    }
  }, 240_000);
});

describe("mixlab sweep: two at once", () => {
  it("two sweeps of the same mixtures on one table train each run once", async () => {
    const dir = scratch();
    const args = ["sweep", "--corpus", CORPUS, "--n", "4", ...TINY, "--workers", "1", "--runs", "runs.csv"];
    const a = start(args, dir);
    const b = start(args, dir);
    expect(await Promise.all([a.exit, b.exit])).toEqual([0, 0]);
    const finished = [a, b].map((s) => Number(/sweep: (\d+) finished/.exec(s.stderr())![1]));
    expect(finished[0]! + finished[1]!).toBe(4);
    expect((await rowsById(join(dir, "runs.csv"))).size).toBe(4);
    expect(readdirSync(dir)).toEqual(["runs.csv"]);
  }, 120_000);
});

describe("mixlab sweep: run identity", () => {
  it("a re-run with another --lr retrains, and so does one on another corpus; the old rows are reported", async () => {
    const dir = scratch();
    const args = ["sweep", "--n", "2", "--steps", "2", "--batch-size", "4", "--backend", "wasm", "--workers", "1"];
    args.push("--runs", "runs.csv");
    expect(run([...args, "--corpus", CORPUS], dir).status).toBe(0);
    const same = run([...args, "--corpus", CORPUS], dir);
    expect(same.stderr).toMatch(/2 of 2 runs already in runs.csv; 0 to go/);
    const lr = run([...args, "--corpus", CORPUS, "--lr", "0.001"], dir);
    expect(lr.status).toBe(0);
    expect(lr.stderr).toContain(
      "runs.csv holds rows made with other settings; they are kept and not reused (lr: 0.003 in 2 rows (here 0.001))",
    );
    expect(lr.stderr).toMatch(/sweep: 2 finished, 0 failed, 0 already done/);
    // Another corpus: the same domains, one held-out record fewer.
    const other = join(dir, "corpus");
    cpSync(CORPUS, other, { recursive: true });
    const held = join(other, "heldout", "code.jsonl.br");
    const lines = brotliDecompressSync(readFileSync(held)).toString("utf8").trimEnd().split("\n");
    writeFileSync(held, brotliCompressSync(Buffer.from(`${lines.slice(0, -1).join("\n")}\n`)));
    const corpus = run([...args, "--corpus", other], dir);
    expect(corpus.status).toBe(0);
    expect(corpus.stderr).toMatch(/corpus_sha256: [0-9a-f]{64} in 4 rows \(here [0-9a-f]{64}\)/);
    expect(corpus.stderr).toMatch(/sweep: 2 finished, 0 failed, 0 already done/);
    const f = await readFrameAsync(join(dir, "runs.csv"));
    expect(f.numRows).toBe(6);
    expect(f.cells.get("lr")).toEqual([0.003, 0.003, 0.001, 0.001, 0.003, 0.003]);
    expect(new Set(f.cells.get("corpus_sha256")).size).toBe(2);
  }, 180_000);
});

describe("mixlab sweep: validation before work", () => {
  it("a bad --runs path or a table of other domains fails with exit 2 before any training", async () => {
    const dir = scratch();
    writeFileSync(join(dir, "other.csv"), "run_id,w.web,w.code,loss.web\nr1,0.5,0.5,3\n");
    const cases: [string, string][] = [
      [
        "missing/runs.csv",
        '--runs: expected a file in an existing folder, got "missing/runs.csv" (no folder "missing")',
      ],
      [
        "runs.xlsx",
        "--runs: expected a file ending in .csv, .jsonl, .ndjson, .arrow, .feather, .ipc or .parquet, " +
          'got "runs.xlsx" (.xlsx)',
      ],
      [
        "other.csv",
        "other.csv: expected the corpus's domains " +
          "(code, dictionary, docs, encyclopedia, legal, literature, math, speeches) as w.<domain> columns, " +
          "got web, code; missing dictionary, docs, encyclopedia, legal, literature, math, speeches; " +
          "not in the corpus: web (use another --runs file for another corpus)",
      ],
    ];
    for (const [runs, message] of cases) {
      const r = run(["sweep", "--corpus", CORPUS, "--n", "2", ...TINY, "--runs", runs], dir);
      expect(r.status, runs).toBe(2);
      expect(r.stderr).toBe(`error: ${message}\n`); // nothing trained, nothing else said
    }
    expect(readdirSync(dir)).toEqual(["other.csv"]);
    expect(readFileSync(join(dir, "other.csv"), "utf8")).toBe("run_id,w.web,w.code,loss.web\nr1,0.5,0.5,3\n");
  }, 60_000);
});

describe("mixlab sweep --ensemble", () => {
  it("trains mixtures in ensembles and records one row per mixture, equal to training them one by one", async () => {
    const dir = scratch();
    const common = ["sweep", "--corpus", CORPUS, "--n", "4", ...TINY, "--workers", "1"];
    const a = run([...common, "--ensemble", "2", "--runs", "ens.csv"], dir);
    expect(a.status).toBe(0);
    const b = run([...common, "--ensemble", "1", "--runs", "one.csv"], dir);
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
    const dir = scratch();
    const args = ["sweep", "--corpus", CORPUS, "--n", "2", "--steps", "6", "--batch-size", "4", "--workers", "1"];
    const r = run([...args, "--backend", "wasm", "--lr", "1e6", "--runs", "runs.csv"], dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/0 finished, 2 failed/);
    const f = await readFrameAsync(join(dir, "runs.csv"));
    expect(f.numRows).toBe(2);
    expect(f.cells.get("status")).toEqual(["failed", "failed"]);
    expect(String(f.cells.get("error")![0])).toMatch(/training loss of member 1 is not finite at step \d+/);
    expect(f.cells.get("lr")).toEqual([1e6, 1e6]);
    const fit = run(["fit", "runs.csv", "--method", "regmix-linear", "--target", "loss.mean"], dir);
    expect(fit.status).toBe(2);
    expect(fit.stderr).toBe("error: runs.csv: expected at least one run that did not fail, got 2 failed runs only\n");
  }, 120_000);
});
