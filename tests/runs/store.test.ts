// The runs store: verbatim cells across appends in every format, duplicate keys never written,
// the lock (stale recovery, bounded wait), claims, and two processes appending at once.
import { afterEach, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { readFrameAsync, type Cell } from "../../src/runs/frame.js";
import { appendRuns, claimRun, claimsDirOf, clearDeadClaims, lockPathOf } from "../../src/runs/store.js";
import { releaseClaim, runIdsOf, withTableLock, type Claim } from "../../src/runs/store.js";
import { writeFileAtomic } from "../../src/io/atomic.js";

const dirs: string[] = [];
const scratch = (): string => {
  const d = tmp();
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const NUMBER_LIKE_IDS = ["21973721702e9423", "25261690588699e7", "007"];
const row = (id: string, extra: Record<string, Cell> = {}): Map<string, Cell> =>
  new Map<string, Cell>([
    ["run_id", id],
    ["w.a", 0.25],
    ["w.b", 0.75],
    ["loss.a", 3.5],
    ["status", "ok"],
    ...Object.entries(extra),
  ]);

/** A pid that no longer exists (a finished child's). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

describe("cells verbatim", () => {
  it("CSV: user cells and number-like ids survive ten appends byte for byte and are recognised as done", async () => {
    const dir = scratch();
    const path = join(dir, "runs.csv");
    const original = [
      "run_id,w.a,w.b,code,big,sci,note",
      '21973721702e9423,0.250,0.750,007,12345678901234567890,1e3,"a, b"',
      "25261690588699e7,.5,.5,0042,1,2.50,x",
      "007,1,0,7,0,0,",
      "",
    ].join("\r\n");
    writeFileSync(path, original);
    const plain = (id: string) => new Map<string, Cell>([["run_id", id], ["w.a", 0.5], ["w.b", 0.5], ["code", "1"]]);
    for (let i = 0; i < 10; i++) {
      const r = await appendRuns(path, [plain(`n${i}`), plain(NUMBER_LIKE_IDS[i % 3]!)]);
      expect(r.appended).toEqual([`n${i}`]);
      expect(r.duplicates).toEqual([NUMBER_LIKE_IDS[i % 3]]);
    }
    const bytes = readFileSync(path, "utf8");
    expect(bytes.startsWith(original)).toBe(true);
    expect(bytes.split("\r\n").length - 1).toBe(14); // header + 3 + 10, CRLF kept
    const f = await readFrameAsync(path);
    expect(f.cells.get("run_id")!.slice(0, 3)).toEqual(NUMBER_LIKE_IDS);
    expect([...runIdsOf(f)].filter((id) => NUMBER_LIKE_IDS.includes(id))).toEqual(NUMBER_LIKE_IDS);
    expect(f.numRows).toBe(13);
  });

  it("CSV: a new column rewrites the header and keeps every old cell's text", async () => {
    const dir = scratch();
    const path = join(dir, "runs.csv");
    writeFileSync(path, "run_id,w.a,w.b,code\n007,0.50,0.50,007\n");
    await appendRuns(path, [row("x", { role: "swarm" })]);
    const lines = ["run_id,w.a,w.b,code,loss.a,status,role", "007,0.50,0.50,007,,,", "x,0.25,0.75,,3.5,ok,swarm", ""];
    expect(readFileSync(path, "utf8")).toBe(lines.join("\n"));
  });

  it.each(["jsonl", "arrow", "parquet"])("%s: ids and user cells read back exactly after ten appends", async (ext) => {
    const dir = scratch();
    const path = join(dir, `runs.${ext}`);
    const big = "12345678901234567890";
    await appendRuns(path, NUMBER_LIKE_IDS.map((id) => row(id, { code: "007", big, sci: 1000 })));
    for (let i = 0; i < 10; i++) await appendRuns(path, [row(`n${i}`), row(NUMBER_LIKE_IDS[i % 3]!)]);
    const f = await readFrameAsync(path);
    expect(f.numRows).toBe(13);
    expect(f.cells.get("run_id")!.slice(0, 3)).toEqual(NUMBER_LIKE_IDS);
    expect(f.cells.get("code")!.slice(0, 3)).toEqual(["007", "007", "007"]);
    expect(f.cells.get("big")!.slice(0, 3)).toEqual([big, big, big]);
    expect(f.cells.get("sci")!.slice(0, 3)).toEqual([1000, 1000, 1000]);
    expect(f.cells.get("w.b")).toEqual(new Array(13).fill(0.75));
  });

  it("JSONL: the old lines stay byte for byte", async () => {
    const dir = scratch();
    const path = join(dir, "runs.jsonl");
    const original = '{"run_id":"007","w.a":0.50,"w.b":5e-1,"big":12345678901234567890}\n';
    writeFileSync(path, original);
    await appendRuns(path, [row("x")]);
    expect(readFileSync(path, "utf8").startsWith(original)).toBe(true);
  });
});

describe("appendRuns", () => {
  it("never writes a key twice, within one call or across calls", async () => {
    const dir = scratch();
    const path = join(dir, "runs.csv");
    const r1 = await appendRuns(path, [row("a"), row("b"), row("a")]);
    expect(r1).toEqual({ appended: ["a", "b"], duplicates: ["a"], numRows: 2 });
    const r2 = await appendRuns(path, [row("b")]);
    expect(r2).toEqual({ appended: [], duplicates: ["b"], numRows: 2 });
    expect(readdirSync(dir)).toEqual(["runs.csv"]); // no lock, no temporary file left
  });

  it("takes over the lock of a dead process; waits for a live holder, then fails naming it", async () => {
    const dir = scratch();
    const path = join(dir, "runs.csv");
    writeFileSync(lockPathOf(path), JSON.stringify({ pid: deadPid(), host: hostname() }));
    await appendRuns(path, [row("a")]);
    expect(existsSync(lockPathOf(path))).toBe(false);
    writeFileSync(lockPathOf(path), JSON.stringify({ pid: process.ppid, host: hostname() }));
    const t0 = performance.now();
    await expect(appendRuns(path, [row("b")], { waitMs: 300 })).rejects.toThrow(
      `${path}.lock: expected to take the runs-table lock within 0.3 s, got it held by pid ${process.ppid} on host ` +
        `${hostname()}; if that process is gone (another host's cannot be checked from here), delete ${path}.lock`,
    );
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    expect((await readFrameAsync(path)).numRows).toBe(1);
  });

  it("removes a temporary file left by a writer killed mid-write", async () => {
    const dir = scratch();
    const path = join(dir, "runs.csv");
    writeFileSync(join(dir, ".runs.csv.999999.tmp"), "");
    writeFileSync(join(dir, ".other.csv.999999.tmp"), "");
    await appendRuns(path, [row("a")]);
    expect(readdirSync(dir).sort()).toEqual([".other.csv.999999.tmp", "runs.csv"]);
  });

  it("releases the lock when the work under it throws", async () => {
    const dir = scratch();
    const path = join(dir, "runs.csv");
    await expect(withTableLock(path, () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(existsSync(lockPathOf(path))).toBe(false);
  });

  it("refuses a cell that does not fit an existing Arrow column's type, naming the column", async () => {
    const dir = scratch();
    const path = join(dir, "runs.arrow");
    await appendRuns(path, [row("a", { score: 1 })]);
    await expect(appendRuns(path, [row("b", { score: "high" })])).rejects.toThrow(
      `${path}: column "score": expected a number (the column's type in the file), got "high" in a new row`,
    );
    expect((await readFrameAsync(path)).numRows).toBe(1);
  });
});

describe("claims", () => {
  it("one holder per run; a dead holder's claim is taken over; the folder goes with the last claim", () => {
    const dir = scratch();
    const path = join(dir, "runs.csv");
    const a = claimRun(path, "k1") as Claim;
    expect(a.key).toBe("k1");
    expect(claimRun(path, "k1")).toEqual({ heldBy: { pid: process.pid, host: hostname() } });
    releaseClaim(a);
    expect(existsSync(claimsDirOf(path))).toBe(false);
    mkdirSync(claimsDirOf(path));
    writeFileSync(join(claimsDirOf(path), "k2"), JSON.stringify({ pid: deadPid(), host: hostname() }));
    const b = claimRun(path, "k2");
    expect("heldBy" in b).toBe(false);
    releaseClaim(b as Claim);
    expect(readdirSync(dir)).toEqual([]);
    // A dead process's leftover claims are cleared; a live one's stay.
    const live = claimRun(path, "k3") as Claim;
    writeFileSync(join(claimsDirOf(path), "k4"), JSON.stringify({ pid: deadPid(), host: hostname() }));
    expect(clearDeadClaims(path)).toBe(1);
    expect(readdirSync(claimsDirOf(path))).toEqual(["k3"]);
    releaseClaim(live);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("writeFileAtomic", () => {
  it("removes its temporary file when the rename fails", () => {
    const dir = scratch();
    mkdirSync(join(dir, "out"));
    writeFileSync(join(dir, "out", "x"), "");
    expect(() => writeFileAtomic(join(dir, "out"), "data")).toThrow();
    expect(readdirSync(dir)).toEqual(["out"]);
  });
});

// Two processes append 50 rows each (one row per call) while this one reads the table.
const WRITER = `
import { appendRuns } from ${JSON.stringify(join(ROOT, "dist", "src", "runs", "store.js"))};
const [path, tag] = process.argv.slice(1);
for (let i = 0; i < 50; i++) {
  const r = new Map([["run_id", tag + i], ["w.a", 0.5], ["w.b", 0.5], ["loss.a", i / 7], ["status", "ok"]]);
  await appendRuns(path, [r]);
}
`;

describe("two processes appending at once", () => {
  it.each(["csv", "jsonl", "arrow", "parquet"])("%s: 100 distinct rows, readable throughout", async (ext) => {
    const dir = scratch();
    const path = join(dir, `runs.${ext}`);
    const start = (tag: string) =>
      spawn(process.execPath, ["--input-type=module", "-e", WRITER, path, tag], { stdio: "ignore" });
    const kids = [start("p"), start("q")];
    const exits = kids.map((k) => new Promise<number | null>((r) => k.on("exit", r)));
    let running = true;
    void Promise.all(exits).then(() => (running = false));
    let reads = 0;
    while (running) {
      if (existsSync(path)) {
        const f = await readFrameAsync(path); // throws if a reader ever sees a broken table
        expect(new Set(f.cells.get("run_id")).size).toBe(f.numRows);
        reads++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await Promise.all(exits)).toEqual([0, 0]);
    expect(reads).toBeGreaterThan(0);
    const f = await readFrameAsync(path);
    expect(f.numRows).toBe(100);
    const ids = (tag: string) => Array.from({ length: 50 }, (_, i) => `${tag}${i}`);
    expect(new Set(f.cells.get("run_id"))).toEqual(new Set([...ids("p"), ...ids("q")]));
    expect(readdirSync(dir)).toEqual([`runs.${ext}`]);
  }, 60_000);
});
