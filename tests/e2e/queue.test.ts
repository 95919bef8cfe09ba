// `mixlab sweep --queue` + `mixlab worker` end to end: real redis-server, real worker processes, tiny proxies.
// Every scenario must end with exactly K rows, one per run key, none duplicated and none lost.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, readFileSync, rmSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { readFrameAsync } from "../../src/runs/frame.js";
import { REDIS_SKIP, freePort, startRedis, type TestRedis } from "../redis.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const CORPUS = join(ROOT, "datasets", "corpus");
const K = 4;
const SWEEP = [
  "sweep", "--corpus", CORPUS, "--n", String(K), "--steps", "2", "--batch-size", "4", "--backend", "wasm",
  "--runs", "runs.csv",
];
// Short lock and stalled-check intervals so a lost worker's run is retried within seconds.
const FAST = ["--backend", "wasm", "--lock-duration", "2", "--stalled-interval", "1"];

/** A running mixlab process whose stderr and stdout are collected. */
class Proc {
  readonly child: ChildProcess;
  out = "";
  readonly exited: Promise<number | null>;
  constructor(args: string[], cwd: string) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (b: Buffer) => (this.out += b.toString()));
    this.child.stderr!.on("data", (b: Buffer) => (this.out += b.toString()));
    // On "close": its output is then complete.
    this.exited = new Promise((r) => this.child.on("close", (code) => r(code)));
  }
  async waitFor(re: RegExp, ms = 60_000): Promise<void> {
    const t0 = Date.now();
    while (!re.test(this.out)) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re} in:\n${this.out}`);
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        const how = this.child.exitCode ?? this.child.signalCode;
        throw new Error(`process exited (${how}) before ${re}:\n${this.out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** The exit code, or an error carrying the output when the process is still running after `ms`. */
  async exitedWithin(ms: number, others: Proc[] = []): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const theirs = others
          .map((p, i) => `\n--- process ${i + 1} (${p.child.spawnargs.slice(2, 3).join(" ")}):\n${p.out}`)
          .join("");
        reject(new Error(`still running after ${ms} ms:\n${this.out}${theirs}`));
      }, ms);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
  /** Signals the process and returns its exit code, or fails with its output when it is still running after `ms`. */
  async stopWithin(ms: number, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exitedWithin(ms);
  }
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

async function rowsOf(
  dir: string,
): Promise<{ ids: string[]; loss: Map<string, number>; status: string[]; hosts: string[] }> {
  const f = await readFrameAsync(join(dir, "runs.csv"));
  const ids = f.cells.get("run_id")!.map(String);
  const mean = f.cells.get("loss.mean")!;
  return {
    ids,
    loss: new Map(ids.map((id, i) => [id, Number(mean[i])])),
    status: f.cells.get("status")!.map(String),
    hosts: (f.cells.get("host") ?? []).map(String),
  };
}

function expectExactlyK(r: { ids: string[]; status: string[] }): void {
  expect(r.ids).toHaveLength(K);
  expect(new Set(r.ids).size).toBe(K);
  expect(r.status.every((s) => s === "ok")).toBe(true);
}

describe.skipIf(REDIS_SKIP !== null)("mixlab sweep --queue", () => {
  let redis: TestRedis;
  const dirs: string[] = [];
  const procs: Proc[] = [];
  const dir = (): string => {
    const d = tmp();
    dirs.push(d);
    return d;
  };
  const run = (args: string[], cwd: string): Proc => {
    const p = new Proc(args, cwd);
    procs.push(p);
    return p;
  };
  let local: Awaited<ReturnType<typeof rowsOf>>;

  beforeAll(async () => {
    redis = await startRedis({ password: "hunter2-pw" });
    // The local pool's rows, to compare with.
    const d = dir();
    const r = spawnSync(process.execPath, [BIN, ...SWEEP, "--workers", "1"], { cwd: d, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    local = await rowsOf(d);
  }, 120_000);

  // Each scenario starts from an empty Redis with none of the previous one's processes left.
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop("SIGKILL");
    await redis.start();
    spawnSync("redis-cli", ["-p", String(redis.port), "--no-auth-warning", "-a", "hunter2-pw", "FLUSHALL"]);
  });

  afterAll(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    await redis?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("two workers + the coordinator give the local sweep's rows (same losses); " +
    "the password appears nowhere", async () => {
    const d = dir();
    const url = redis.url;
    expect(url).toContain("hunter2-pw");
    const w1 = run(["worker", "--queue", url, ...FAST], d);
    const w2 = run(["worker", "--queue", url, ...FAST], d);
    const c = run([...SWEEP, "--queue", url], d);
    expect(await c.exited, c.out).toBe(0);
    // A second signal while the stopped worker closes its connections ends it with its own code (not 143).
    w1.child.kill("SIGTERM");
    await w1.waitFor(/worker: stopped;/).catch(() => undefined);
    w1.child.kill("SIGTERM");
    expect(await w1.exitedWithin(20_000), w1.out).toBe(0);
    expect(await w2.stop()).toBe(0);
    const q = await rowsOf(d);
    expectExactlyK(q);
    expect([...q.ids].sort()).toEqual([...local.ids].sort());
    for (const id of q.ids) expect(q.loss.get(id)).toBeCloseTo(local.loss.get(id)!, 5);
    expect(q.hosts.every((h) => h.length > 0)).toBe(true);
    // Both workers trained, and said so; the coordinator showed the local sweep's progress bar.
    expect(w1.out).toMatch(/run [0-9a-f]{16} done/);
    expect(w2.out).toMatch(/run [0-9a-f]{16} done/);
    expect(c.out).toMatch(/sweep \[█{20}\] 4\/4/);
    for (const text of [c.out, w1.out, w2.out, readFileSync(join(d, "runs.csv"), "utf8")]) {
      expect(text).not.toContain("hunter2");
    }
    // The queue is cleaned up once everything is collected (the workers' stalled-check marker expires by itself).
    const keys = spawnSync("redis-cli", ["-p", String(redis.port), "--no-auth-warning", "-a", "hunter2-pw", "--scan"], {
      encoding: "utf8",
    });
    // (A worker still serving the deleted queue may write its small `meta` hash back; no job or result is left.)
    expect(keys.stdout.split("\n").filter((k) => k && !/:(stalled-check|meta)$/.test(k))).toEqual([]);
  }, 180_000);

  it("a worker killed with SIGKILL mid-run: its run is retried by another after stalled-job detection", async () => {
    const d = dir();
    const c = run([...SWEEP, "--queue", redis.url], d);
    const w1 = run(["worker", "--queue", redis.url, ...FAST], d);
    await w1.waitFor(/run [0-9a-f]{16} started/);
    w1.child.kill("SIGKILL");
    await w1.exited;
    const w2 = run(["worker", "--queue", redis.url, ...FAST], d);
    expect(await c.exited, c.out).toBe(0);
    expect(c.out).toMatch(/run [0-9a-f]{16} stalled \(its worker stopped renewing the lock/);
    expect(await w2.stop()).toBe(0);
    const q = await rowsOf(d);
    expectExactlyK(q);
    for (const id of q.ids) expect(q.loss.get(id)).toBeCloseTo(local.loss.get(id)!, 5);
  }, 180_000);

  it("a worker signalled twice stops at once; its run goes back to the queue " +
    "and another worker trains it", async () => {
    const d = dir();
    const c = run([...SWEEP, "--queue", redis.url], d);
    const w1 = run(["worker", "--queue", redis.url, ...FAST], d);
    await w1.waitFor(/run [0-9a-f]{16} started/);
    w1.child.kill("SIGTERM");
    await w1.waitFor(/stopping after the current run/);
    w1.child.kill("SIGTERM");
    expect(await w1.exited, w1.out).toBe(1);
    expect(w1.out).toMatch(/worker: stopped; 0 runs done, 0 failed; the runs in progress go back to the queue\n$/);
    const w2 = run(["worker", "--queue", redis.url, ...FAST], d);
    expect(await c.exited, c.out).toBe(0);
    expect(c.out).toMatch(/stalled/);
    expect(await w2.stop()).toBe(0);
    expectExactlyK(await rowsOf(d));
  }, 180_000);

  it("the coordinator killed and restarted mid-sweep collects what finished meanwhile", async () => {
    const d = dir();
    const w = run(["worker", "--queue", redis.url, ...FAST], d);
    const c1 = run([...SWEEP, "--queue", redis.url], d);
    await c1.waitFor(/sweep \[[█·]+\] 1\/4/);
    c1.child.kill("SIGKILL");
    await c1.exited;
    // While no coordinator runs, the worker finishes at least one more run; its result waits in Redis.
    const before = (w.out.match(/ done /g) ?? []).length;
    await w.waitFor(new RegExp(`\\(${before + 1} done`));
    const c2 = run([...SWEEP, "--queue", redis.url], d);
    expect(await c2.exited, c2.out).toBe(0);
    expect(c2.out).toMatch(/1 of 4 runs already in runs.csv; 3 to go/);
    expect(await w.stop()).toBe(0);
    expectExactlyK(await rowsOf(d));
  }, 180_000);

  it("Redis stopped and restarted mid-sweep (its data gone): " +
    "the coordinator re-adds lost jobs, nothing twice", async () => {
    const d = dir();
    const w = run(["worker", "--queue", redis.url, ...FAST], d);
    const c = run([...SWEEP, "--queue", redis.url], d);
    await c.waitFor(/sweep \[[█·]+\] 1\/4/);
    await redis.stop();
    await c.waitFor(/lost Redis at 127\.0\.0\.1:\d+; reconnecting/);
    await new Promise((r) => setTimeout(r, 1_500));
    await redis.start();
    expect(await c.exitedWithin(150_000, [w]), c.out).toBe(0);
    expect(c.out).toMatch(/Redis at 127\.0\.0\.1:\d+ is back/);
    // The worker may have stopped serving the queue while Redis had lost it; it still stops when asked.
    expect(await w.stopWithin(30_000)).toBe(0);
    expectExactlyK(await rowsOf(d));
    expect(c.out + w.out).not.toContain("hunter2");
  }, 180_000);

  it("workers signalled while Redis is away: idle ones stop at once (0); with a run in progress, one waits "
    + "for Redis, then exits 1 naming it, its trainer gone", async () => {
    const d = dir();
    const idle = run(["worker", "--queue", redis.url, "--queue-name", "idle-test", ...FAST], d);
    const sweep = ["sweep", "--corpus", CORPUS, "--n", "1", "--steps", "5000", "--batch-size", "4"];
    const queued = ["--queue", redis.url, "--queue-name", "busy-test", "--redis-timeout"];
    const c = run([...sweep, "--backend", "wasm", "--runs", "runs.csv", ...queued, "9"], d);
    await c.waitFor(/1 runs in queue busy-test/);
    const busy = run(["worker", ...queued, "6", ...FAST], d);
    await busy.waitFor(/run [0-9a-f]{16} started/);
    // A worker of every registered sweep (its registry read must not keep it waiting for Redis).
    const registry = run(["worker", "--queue", redis.url, ...FAST], d);
    await registry.waitFor(/serving queue busy-test/);
    await idle.waitFor(/serving queue idle-test/);
    const children = spawnSync("pgrep", ["-P", String(busy.child.pid)], { encoding: "utf8" }).stdout;
    const trainers = children.trim().split("\n").map(Number);
    expect(trainers.length).toBeGreaterThan(0);
    await redis.stop();
    for (const w of [idle, busy, registry]) await w.waitFor(/lost Redis/);
    await new Promise((r) => setTimeout(r, 1_500)); // the registry worker's next read waits for Redis
    const stopping = [idle.stopWithin(20_000), busy.stopWithin(30_000), registry.stopWithin(20_000)];
    const [idleCode, busyCode, registryCode] = await Promise.all(stopping);
    for (const [code, w] of [[idleCode, idle], [registryCode, registry]] as const) {
      expect(code, w.out).toBe(0);
      expect(w.out).toMatch(/worker: stopped; 0 runs done, 0 failed\n$/);
    }
    expect(busyCode, busy.out).toBe(1);
    const lost = /error: lost Redis at 127\.0\.0\.1:\d+ for 6 s \(limit 6 s\); stopping\n$/;
    expect(busy.out).toMatch(new RegExp(`stopping after the current run[^]*${lost.source}`));
    expect(busy.out).not.toMatch(/ECONNREFUSED/); // the loss is said once, not at every reconnect attempt
    for (const pid of trainers) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    expect(await c.exitedWithin(30_000), c.out).toBe(1);
    expect(c.out).toMatch(/error: lost Redis at [\d.:]+ for 9 s \(limit 9 s\); every collected run is in runs\.csv/);
    await redis.start();
  }, 120_000);

  it("a local sweep on the same table leaves the queued runs to the coordinator (its claims)", async () => {
    const d = dir();
    const c = run([...SWEEP, "--queue", redis.url], d);
    await c.waitFor(/4 runs in queue/);
    const local = spawnSync(process.execPath, [BIN, ...SWEEP, "--workers", "1"], { cwd: d, encoding: "utf8" });
    expect(local.status, local.stderr).toBe(0);
    const by = `\\(pid ${c.child.pid} on [^)]+\\)`;
    expect(local.stderr).toMatch(new RegExp(`sweep: 4 runs were being trained by another process ${by} and left to it`));
    expect(local.stderr).toMatch(/sweep: 0 finished, 0 failed, 0 already done, 4 left to another sweep/);
    const w = run(["worker", "--queue", redis.url, ...FAST], d);
    expect(await c.exitedWithin(120_000, [w]), c.out).toBe(0);
    expect(await w.stopWithin(30_000)).toBe(0);
    expectExactlyK(await rowsOf(d));
  }, 180_000);

  it("a worker whose corpus differs refuses the sweep's jobs, naming both hashes and its path (exit 2)", async () => {
    const d = dir();
    const other = join(d, "corpus-copy");
    cpSync(CORPUS, other, { recursive: true });
    appendFileSync(join(other, "heldout", "code.jsonl.br"), Buffer.from([0]));
    const c = run([...SWEEP, "--queue", redis.url, "--queue-name", "refuse-test"], d);
    await c.waitFor(/4 runs in queue refuse-test/);
    const w = run(["worker", "--queue", redis.url, "--queue-name", "refuse-test", "--corpus-root", other, ...FAST], d);
    expect(await w.exited).toBe(2);
    expect(w.out).toMatch(
      new RegExp(
        `error: --corpus-root: ${other.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ` +
          `expected the sweep's corpus \\(content hash [0-9a-f]{16}\\), got content hash [0-9a-f]{16}; ` +
          `refusing the jobs of queue refuse-test`,
      ),
    );
    expect(w.out).not.toMatch(/started/);
    // Its jobs stay queued: a worker with the right corpus finishes the sweep.
    const good = run(
      ["worker", "--queue", redis.url, "--queue-name", "refuse-test", "--corpus-root", CORPUS, ...FAST],
      d,
    );
    expect(await c.exited, c.out).toBe(0);
    expect(await good.stop()).toBe(0);
    expectExactlyK(await rowsOf(d));
  }, 180_000);

  it("a run that fails deterministically (non-finite loss) is one failed row, not retried", async () => {
    const d = dir();
    const w = run(["worker", "--queue", redis.url, ...FAST], d);
    const c = run(
      [
        "sweep", "--corpus", CORPUS, "--n", "2", "--steps", "6", "--batch-size", "4", "--backend", "wasm",
        "--lr", "1e6", "--runs", "runs.csv", "--queue", redis.url,
      ],
      d,
    );
    expect(await c.exited, c.out).toBe(1);
    expect(await w.stop()).toBe(0);
    expect(c.out).toMatch(/0 finished, 2 failed/);
    expect(c.out).not.toMatch(/will be retried/);
    expect((w.out.match(/ started /g) ?? []).length).toBe(2);
    const f = await readFrameAsync(join(d, "runs.csv"));
    expect(f.cells.get("status")).toEqual(["failed", "failed"]);
    expect(String(f.cells.get("error")![0])).toMatch(/training loss of member 1 is not finite at step \d+/);
  }, 180_000);

  it("Redis unreachable at start: exit 1 naming host and port, never the password; bad URLs exit 2", async () => {
    const d = dir();
    const port = await freePort();
    const c = spawnSync(process.execPath, [BIN, ...SWEEP, "--queue", `redis://:topsecret@127.0.0.1:${port}`], {
      cwd: d,
      encoding: "utf8",
    });
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(new RegExp(`error: cannot reach Redis at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    expect(c.stderr).not.toContain("topsecret");
    const w = spawnSync(process.execPath, [BIN, "worker", "--queue", `redis://:topsecret@127.0.0.1:${port}`], {
      cwd: d,
      encoding: "utf8",
    });
    expect(w.status).toBe(1);
    expect(w.stderr).toMatch(new RegExp(`error: cannot reach Redis at 127\\.0\\.0\\.1:${port}`));
    expect(w.stderr).not.toContain("topsecret");
    const bad = spawnSync(process.execPath, [BIN, "worker", "--queue", "http://:topsecret@host"], {
      cwd: d,
      encoding: "utf8",
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(
      'error: --queue: expected redis://[:password@]host:port[/db] or rediss://… (TLS), got scheme "http"\n',
    );
  }, 60_000);
});
