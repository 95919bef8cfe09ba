// `mixlab sample` end to end: JSONL of the stream, resumption through --state-out/--state-in,
// ranks, the summary table, and bad input with exit code 2.
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
let dir: string;

beforeAll(() => {
  dir = tmp();
  writeFileSync(join(dir, "web.jsonl"), Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `page ${i} ${"x".repeat(i % 9)}` })).join("\n") + "\n");
  writeFileSync(join(dir, "code.jsonl"), Array.from({ length: 15 }, (_, i) => JSON.stringify({ text: `def f${i}(): pass` })).join("\n") + "\n");
  writeFileSync(join(dir, "p.json"), JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 0.6, code: 0.4 } }));
});

describe("mixlab sample", () => {
  it("prints the stream and resumes it exactly from the state", () => {
    const args = ["sample", "--corpus", ".", "--proportions", "p.json", "--block-size", "10", "--seed", "3"];
    const all = run([...args, "--n", "25"], dir);
    expect(all.status).toBe(0);
    const lines = all.stdout.trim().split("\n");
    expect(lines).toHaveLength(25);
    expect(JSON.parse(lines[0]!)).toMatchObject({ index: 0 });
    const a = run([...args, "--n", "12", "--state-out", "s.json"], dir);
    const b = run([...args, "--n", "13", "--state-in", "s.json"], dir);
    expect(`${a.stdout}${b.stdout}`).toBe(all.stdout);
    const r1 = run([...args, "--n", "12", "--rank", "1", "--world", "2"], dir);
    expect(r1.stdout.trim().split("\n").map((l) => JSON.parse(l).index)).toEqual(Array.from({ length: 12 }, (_, i) => 2 * i + 1));
  });

  it("summarises requested vs achieved shares", () => {
    const r = run(["sample", "--corpus", ".", "--proportions", "p.json", "--summary", "--n", "100", "--block-size", "20", "--budget-samples", "100", "--unit", "samples"], dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/domain\s+records\s+tok\/rec\s+requested\s+achieved\(tok\)\s+achieved\(smp\)/);
    expect(r.stdout).toMatch(/over the 100 samples drawn: code 0.4000, web 0.6000/);
  });

  it("bad input: unknown domain, repetition cap, a state of another plan — exit 2", () => {
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ format: "mixlab.proportions/v1", domains: { web: 0.5, math: 0.5 } }));
    const u = run(["sample", "--corpus", ".", "--proportions", "bad.json"], dir);
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/expected domains of the corpus \(code, web\), got unknown "math"/);
    const cap = run(["sample", "--corpus", ".", "--proportions", "p.json", "--budget-samples", "1000", "--max-epochs", "2", "--unit", "samples"], dir);
    expect(cap.status).toBe(2);
    expect(cap.stderr).toMatch(/domain "code": expected at most 2 epochs, got 26\.\d+ \(it has 15 records/);
    run(["sample", "--corpus", ".", "--proportions", "p.json", "--n", "3", "--state-out", "s2.json", "--seed", "1"], dir);
    const other = run(["sample", "--corpus", ".", "--proportions", "p.json", "--state-in", "s2.json", "--seed", "2"], dir);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/expected a state of this plan/);
  });
});
