import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd = ROOT) =>
  spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, TMPDIR: tmp() } });

describe("mixlab datasets", () => {
  it("lists and measures the shipped corpus", () => {
    const l = run(["datasets", "list", "datasets/corpus"]);
    expect(l.status).toBe(0);
    expect(l.stdout).toMatch(/^domain\s+records\s+bytes\s+files/);
    for (const d of ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"]) {
      expect(l.stdout).toContain(d);
    }
    const s = run(["datasets", "stats", "datasets/corpus", "--split", "heldout"]);
    expect(s.status).toBe(0);
    expect(s.stdout).toContain("Jensen–Shannon divergence (bits), byte bigrams");
    expect(s.stdout).toContain("Jensen–Shannon divergence (bits), word unigrams");
  });

  it("names a broken corpus: an empty domain, a record without text (exit 2)", () => {
    const dir = tmp();
    mkdirSync(join(dir, "empty"));
    const e = run(["datasets", "list", dir]);
    expect(e.status).toBe(2);
    expect(e.stderr).toMatch(/empty: expected shard files .* got none: a domain with no data/);
    const dir2 = tmp();
    writeFileSync(join(dir2, "web.jsonl"), '{"text": "ok"}\n{"body": "no text"}\n');
    const r = run(["datasets", "stats", dir2]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/web.jsonl: line 2 \(byte 15\): expected a string field "text", got no such field/);
  });
});
