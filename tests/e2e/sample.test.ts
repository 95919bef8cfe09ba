// `mixlab sample` end to end: JSONL of the stream, resumption through --state-out/--state-in,
// ranks, the summary table, the state file on interruption, and bad input (exit 2, a message
// naming the flag, file or field, no stack trace).
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { tableToIPC, tableFromArrays } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import { ROOT, tmp } from "../helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
/** Runs the CLI without blocking, so independent cases run side by side. */
const runAsync = (args: string[], cwd: string) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
/**
 * Runs the CLI in this process (same code as the bin, without a Node start per case): exit
 * code, stdout and stderr.
 */
async function runHere(args: string[], cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  const { main } = await import("../../src/cli/main.js");
  const prev = process.cwd();
  const out: string[] = [];
  const err: string[] = [];
  const so = process.stdout.write.bind(process.stdout);
  const se = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array, ...rest: unknown[]) => (
    out.push(String(c)),
    typeof rest[rest.length - 1] === "function" && (rest[rest.length - 1] as () => void)(),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  process.chdir(cwd);
  process.exitCode = undefined;
  try {
    await main(["node", "mixlab", ...args]);
    return { status: Number(process.exitCode ?? 0), stdout: out.join(""), stderr: err.join("") };
  } finally {
    process.exitCode = undefined;
    process.chdir(prev);
    process.stdout.write = so;
    process.stderr.write = se;
  }
}
let dir: string;

beforeAll(() => {
  dir = tmp();
  writeFileSync(
    join(dir, "web.jsonl"),
    Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `page ${i} ${"x".repeat(i % 9)}` })).join("\n") + "\n",
  );
  writeFileSync(
    join(dir, "code.jsonl"),
    Array.from({ length: 15 }, (_, i) => JSON.stringify({ text: `def f${i}(): pass` })).join("\n") + "\n",
  );
  writeFileSync(
    join(dir, "p.json"),
    JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 0.6, code: 0.4 } }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mixlab sample", () => {
  it("prints the stream and resumes it exactly from the state", async () => {
    const args = ["sample", "--corpus", ".", "--proportions", "p.json", "--block-size", "10", "--seed", "3"];
    const all = run([...args, "--n", "25"], dir);
    expect(all.status).toBe(0);
    const lines = all.stdout.trim().split("\n");
    expect(lines).toHaveLength(25);
    expect(JSON.parse(lines[0]!)).toMatchObject({ index: 0 });
    const a = await runHere([...args, "--n", "12", "--state-out", "s.json"], dir);
    const b = await runHere([...args, "--n", "13", "--state-in", "s.json"], dir);
    expect(`${a.stdout}${b.stdout}`).toBe(all.stdout);
    // The state counts what was printed, and its write left no temporary file behind.
    expect(JSON.parse(readFileSync(join(dir, "s.json"), "utf8")).consumed).toBe(12);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    const r1 = await runHere([...args, "--n", "12", "--rank", "1", "--world", "2"], dir);
    expect(
      r1.stdout.trim().split("\n").map((l) => JSON.parse(l).index),
    ).toEqual(Array.from({ length: 12 }, (_, i) => 2 * i + 1));
    // A rank resumes too: rank 1 of 2, 5 then 7 samples, equals 12 at once.
    const r1a = await runHere([...args, "--n", "5", "--rank", "1", "--world", "2", "--state-out", "r1.json"], dir);
    const r1b = await runHere([...args, "--n", "7", "--rank", "1", "--world", "2", "--state-in", "r1.json"], dir);
    expect(`${r1a.stdout}${r1b.stdout}`).toBe(r1.stdout);
    expect(JSON.parse(readFileSync(join(dir, "r1.json"), "utf8")).consumed).toBe(10);
  });

  it("summarises requested vs achieved shares", async () => {
    const r = await runHere(
      [
        "sample",
        "--corpus",
        ".",
        "--proportions",
        "p.json",
        "--summary",
        "--n",
        "100",
        "--block-size",
        "20",
        "--budget-samples",
        "100",
        "--unit",
        "samples",
      ],
      dir,
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/domain\s+records\s+tok\/rec\s+requested\s+achieved\(tok\)\s+achieved\(smp\)/);
    expect(r.stdout).toMatch(/over the 100 samples drawn: code 0.4000, web 0.6000/);
  });

  it("interrupted while printing: the saved state is untouched and no temporary file is left", async () => {
    const args = ["sample", "--corpus", ".", "--proportions", "p.json", "--block-size", "10"];
    expect(run([...args, "--n", "3", "--state-out", "int.json"], dir).status).toBe(0);
    const before = readFileSync(join(dir, "int.json"));
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const p = spawn(process.execPath, [BIN, ...args, "--n", "100000000", "--state-out", "int.json"], { cwd: dir });
      await new Promise<void>((resolve) => p.stdout.once("data", () => resolve()));
      p.kill(signal);
      await new Promise((resolve) => p.on("close", resolve));
      expect(readFileSync(join(dir, "int.json"))).toEqual(before);
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    }
  });

  it("interrupted while decompressing a .jsonl.gz into the cache: no temporary file is left", async () => {
    const d = join(dir, "gz");
    mkdirSync(join(d, "corpus"), { recursive: true });
    try {
      // Concatenated gzip members decompress to the concatenation: 100 × 4 MiB from a small file.
      const member = gzipSync(Buffer.from(`${JSON.stringify({ text: "x".repeat(1000) })}\n`.repeat(4096)));
      writeFileSync(join(d, "corpus", "web.jsonl.gz"), Buffer.concat(Array.from({ length: 100 }, () => member)));
      writeFileSync(join(d, "p.json"), JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 1 } }));
      const cache = join(d, "tmp", "mixlab-cache");
      mkdirSync(join(d, "tmp"));
      const p = spawn(process.execPath, [BIN, "sample", "--corpus", "corpus", "--proportions", "p.json"], {
        cwd: d,
        env: { ...process.env, TMPDIR: join(d, "tmp") },
      });
      const closed = new Promise((resolve) => p.on("close", resolve));
      // Wait for the temporary file, then interrupt.
      for (let i = 0; i < 500 && !(existsSync(cache) && readdirSync(cache).some((f) => f.endsWith(".tmp"))); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(readdirSync(cache).some((f) => f.endsWith(".tmp"))).toBe(true);
      p.kill("SIGINT");
      await closed;
      expect(readdirSync(cache)).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("an all-empty domain: an error naming it when it has a share, fine at share 0", async () => {
    const d = join(dir, "emptydom");
    mkdirSync(d);
    try {
      writeFileSync(
        join(d, "web.jsonl"),
        Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `page ${i}` })).join("\n") + "\n",
      );
      writeFileSync(
        join(d, "blank.jsonl"),
        Array.from({ length: 10 }, () => JSON.stringify({ text: "" })).join("\n") + "\n",
      );
      writeFileSync(
        join(d, "p.json"),
        JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 0.7, blank: 0.3 } }),
      );
      writeFileSync(
        join(d, "p0.json"),
        JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 1, blank: 0 } }),
      );
      const bad = await runHere(["sample", "--corpus", ".", "--proportions", "p.json"], d);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toBe(
        'error: blank.jsonl: domain "blank": expected records with text, ' +
          "got every record measured empty (0 tokens) with a share of 0.3 in proportions; " +
          "give it share 0 or remove it\n",
      );
      const ok = await runHere(["sample", "--corpus", ".", "--proportions", "p0.json", "--n", "5"], d);
      expect(ok.status).toBe(0);
      expect(ok.stdout.trim().split("\n").every((l) => JSON.parse(l).domain === "web")).toBe(true);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("bad input: exit 2, one message naming the flag, file or field, no stack trace", async () => {
    const base = ["sample", "--corpus", ".", "--proportions", "p.json"];
    await runHere([...base, "--n", "3", "--state-out", "s1.json", "--seed", "1"], dir);
    writeFileSync(join(dir, "notjson.json"), "{ nope");
    writeFileSync(
      join(dir, "fields.json"),
      JSON.stringify(
        { format: "mixlab.sampler-state/v1", planSha256: "abc", consumed: -3, appended: [
          { start: 1.5, proportions: { web: -1 } },
        ], extra: 1 },
      ),
    );
    writeFileSync(
      join(dir, "fmt.json"),
      JSON.stringify({ format: "v0", planSha256: "0".repeat(64), consumed: 0, appended: [] }),
    );
    const good = JSON.parse(readFileSync(join(dir, "s1.json"), "utf8"));
    writeFileSync(
      join(dir, "stage.json"),
      JSON.stringify({ ...good, appended: [{ start: 7, proportions: { web: 0.5, code: 0.5 } }] }),
    );
    writeFileSync(
      join(dir, "unknown.json"),
      JSON.stringify({ ...good, appended: [{ start: 1024, proportions: { web: 0.5, math: 0.5 } }] }),
    );
    const cases: [string[], string | RegExp][] = [
      [
        ["--budget-samples", "5", "--budget-tokens", "900"],
        "error: --budget-samples, --budget-tokens: expected one budget, got both (5 samples and 900 tokens)\n",
      ],
      [
        ["--n", "1.5"],
        `error: option '-n, --n <k>' argument '1.5' is invalid. expected an integer ≥ 0 (below 2^53), got "1.5"\n`,
      ],
      [
        ["--n", "1e300"],
        `error: option '-n, --n <k>' argument '1e300' is invalid. expected an integer ≥ 0 (below 2^53), got "1e300"\n`,
      ],
      [
        ["--n", "x"],
        `error: option '-n, --n <k>' argument 'x' is invalid. expected an integer ≥ 0 (below 2^53), got "x"\n`,
      ],
      [
        ["--rank", "-1"],
        `error: option '--rank <r>' argument '-1' is invalid. expected an integer ≥ 0 (below 2^53), got "-1"\n`,
      ],
      [
        ["--world", "0"],
        `error: option '--world <w>' argument '0' is invalid. expected an integer ≥ 1 (below 2^53), got "0"\n`,
      ],
      [["--rank", "2", "--world", "2"], "error: --rank: expected a rank below --world 2, got 2\n"],
      [
        ["--block-size", "0"],
        `error: option '--block-size <b>' argument '0' is invalid. expected an integer in [1, 1048576], got "0"\n`,
      ],
      [
        ["--block-size", "2000000"],
        `error: option '--block-size <b>' argument '2000000' is invalid. ` +
          `expected an integer in [1, 1048576], got "2000000"\n`,
      ],
      [
        ["--seed", "4294967296"],
        `error: option '--seed <n>' argument '4294967296' is invalid. ` +
          `expected an integer in [0, 4294967295], got "4294967296"\n`,
      ],
      [
        ["--max-epochs", "0", "--budget-samples", "10"],
        `error: option '--max-epochs <e>' argument '0' is invalid. expected a finite number > 0, got "0"\n`,
      ],
      [
        ["--max-epochs", "Infinity", "--budget-samples", "10"],
        `error: option '--max-epochs <e>' argument 'Infinity' is invalid. ` +
          `expected a finite number > 0, got "Infinity"\n`,
      ],
      [
        ["--max-epochs", "2"],
        "error: --max-epochs: expected --budget-samples or --budget-tokens with it " +
          "(epochs are counted over the run), got neither\n",
      ],
      [
        ["--budget-samples", "0"],
        `error: option '--budget-samples <n>' argument '0' is invalid. expected an integer ≥ 1 (below 2^53), got "0"\n`,
      ],
      [
        ["--budget-samples", "1e20"],
        `error: option '--budget-samples <n>' argument '1e20' is invalid. ` +
          `expected an integer ≥ 1 (below 2^53), got "1e20"\n`,
      ],
      [
        ["--budget-tokens", "-5"],
        `error: option '--budget-tokens <n>' argument '-5' is invalid. expected a number in (0, 2^53], got "-5"\n`,
      ],
      [
        ["--budget-tokens", "1e300"],
        `error: option '--budget-tokens <n>' argument '1e300' is invalid. ` +
          `expected a number in (0, 2^53], got "1e300"\n`,
      ],
      [["--unit", "bytes"], `error: --unit: expected tokens or samples, got "bytes"\n`],
      [["--order", "random"], `error: --order: expected shuffle or smooth, got "random"\n`],
      [["--on-exceed", "skip"], `error: --on-exceed: expected error or redistribute, got "skip"\n`],
      [["--state-in", "missing.json"], "error: missing.json: expected a sampler state (JSON), got ENOENT\n"],
      [
        ["--state-in", "notjson.json"],
        /^error: notjson\.json: expected a sampler state \(JSON\), got invalid JSON \(.+\)\n$/,
      ],
      [
        ["--state-in", "fields.json"],
        "error: fields.json: 5 problems:\n" +
          '  planSha256: expected 64 lowercase hex digits, got "abc"\n' +
          "  consumed: expected a number ≥ 0, got -3\n" +
          "  appended.0.start: expected an integer, got 1.5\n" +
          "  appended.0.proportions.web: expected a number ≥ 0, got -1\n" +
          '  document: expected no field "extra" (not part of the format), got one\n',
      ],
      [
        ["--state-in", "fmt.json"],
        'error: fmt.json: format: expected "mixlab.sampler-state/v1", got "v0"\n',
      ],
      [
        ["--state-in", "stage.json", "--seed", "1"],
        "error: stage.json: appended.0.start: expected a multiple of the block size 1024, got 7\n",
      ],
      [
        ["--state-in", "unknown.json", "--seed", "1"],
        'error: unknown.json: appended.0.proportions: expected domains of the corpus (code, web), got unknown "math"\n',
      ],
      [
        ["--state-out", "nope/s.json"],
        "error: --state-out: nope/s.json: expected a writable file in an existing folder, " +
          'got no folder "nope" (ENOENT)\n',
      ],
      [["--state-out", "."], 'error: --state-out: .: expected a writable file in an existing folder, got a folder\n'],
      [["--corpus", "nowhere"], "error: nowhere: expected a corpus directory, got ENOENT\n"],
    ];
    const results: Awaited<ReturnType<typeof runHere>>[] = [];
    for (const [flags] of cases) results.push(await runHere([...base, ...flags], dir));
    // Through the built bin too, for the real exit code and stderr of a process.
    for (const i of [0, 22]) expect(
      await runAsync([...base, ...cases[i]![0]], dir),
    ).toEqual({ ...results[i], stdout: "" });
    cases.forEach(([flags, message], i) => {
      const r = results[i]!;
      const stderr = r.stderr.replace(/\(run with --help for usage\)\n$/, "");
      expect(
        { flags, status: r.status, stderr: typeof message === "string" ? stderr : message.test(stderr) },
      ).toEqual({ flags, status: 2, stderr: typeof message === "string" ? message : true });
      expect(r.stdout).toBe("");
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
    // A state of another plan names both hashes.
    const other = await runHere([...base, "--state-in", "s1.json", "--seed", "2"], dir);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(
      new RegExp(
        `^error: s1\\.json: planSha256: expected [0-9a-f]{64} \\(this plan\\), got ${good.planSha256}: ` +
          `the corpus, proportions, seed, block size, unit, order or budget differ from the run that saved it\\n$`,
      ),
    );
    // Existing checks: an unknown domain, a repetition cap.
    writeFileSync(
      join(dir, "bad.json"),
      JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 0.5, math: 0.5 } }),
    );
    const u = await runHere(["sample", "--corpus", ".", "--proportions", "bad.json"], dir);
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/expected domains of the corpus \(code, web\), got unknown "math"/);
    const cap = await runHere([...base, "--budget-samples", "1000", "--max-epochs", "2", "--unit", "samples"], dir);
    expect(cap.status).toBe(2);
    expect(cap.stderr).toMatch(/domain "code": expected at most 2 epochs, got 26\.\d+ \(it has 15 records/);
  });

  it("bad corpus files: exit 2 naming the file and where", async () => {
    const cases: [string, Buffer | string, RegExp][] = [
      [
        "bom",
        Buffer.from(`{"text": "a"}\n\ufeff{"text": "b"}\n`),
        /^error: bom\.jsonl: line 2 \(byte 14\): expected a JSON object, got a UTF-8 byte-order mark/,
      ],
      [
        "arrow",
        Buffer.from(tableToIPC(tableFromArrays({ text: ["a", "b", "c"] }), "file")).subarray(0, 200),
        /^error: arrow\.arrow: expected an Arrow IPC file ending in its "ARROW1" footer, got 200 bytes without one \(truncated\?\)\n$/,
      ],
      [
        "parquet",
        Buffer.from(
          parquetWriteBuffer({ columnData: [{ name: "text", data: ["a", "b", "c"], type: "STRING" }] }),
        ).subarray(0, 50),
        /^error: parquet\.parquet: expected a Parquet file ending in its "PAR1" footer, got 50 bytes without one \(truncated\?\)\n$/,
      ],
    ];
    for (const [name, data, want] of cases) {
      const d = join(dir, `bad-${name}`);
      mkdirSync(d);
      try {
        writeFileSync(join(d, "web.jsonl"), '{"text": "page"}\n');
        const file = name === "bom" ? "bom.jsonl" : `${name}.${name}`;
        writeFileSync(join(d, file), data);
        writeFileSync(
          join(d, "p.json"),
          JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 0.5, [file.split(".")[0]!]: 0.5 } }),
        );
        const r = await runHere(["sample", "--corpus", ".", "--proportions", "p.json"], d);
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(want);
      } finally {
        rmSync(d, { recursive: true, force: true });
      }
    }
  });
});
