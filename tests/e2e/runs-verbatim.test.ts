// `mixlab predict` keeps the columns it promises to keep exactly as written: CSV cells byte for
// byte, and in typed formats the text of cells a number cannot hold (`007`, 20-digit integers).
import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { readFrameAsync } from "../../src/runs/frame.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const IDS = ["21973721702e9423", "25261690588699e7", "007", "1e3", "0x10", "12345678901234567890"];

describe("mixlab predict keeps cells verbatim", () => {
  it("CSV in, CSV and JSONL out", async () => {
    const dir = tmp();
    dirs.push(dir);
    const lines = ["run_id,w.a,w.b,loss.a,code,big,sci"];
    for (let i = 0; i < 12; i++) {
      const a = ((i + 1) / 13).toFixed(3);
      const b = (1 - Number(a)).toFixed(3);
      const id = `${IDS[i % IDS.length]}${i >= IDS.length ? "x" : ""}`;
      lines.push(`${id},${a},${b},${(3 + Number(a) ** 2).toFixed(4)},00${i},1234567890123456789${i},${i}e3`);
    }
    writeFileSync(join(dir, "runs.csv"), `${lines.join("\n")}\n`);
    const fit = run(["fit", "runs.csv", "-m", "regmix-linear", "-t", "loss.a", "--save-model", "law.json"], dir);
    expect(fit.status, fit.stderr).toBe(0);
    const csv = run(["predict", "law.json", "runs.csv", "-o", "scored.csv"], dir);
    expect(csv.status, csv.stderr).toBe(0);
    const out = readFileSync(join(dir, "scored.csv"), "utf8").trimEnd().split("\n");
    expect(out[0]).toBe(`${lines[0]},predicted`);
    const escaped = (s: string) => s.replace(/[.+]/g, "\\$&");
    out.slice(1).forEach((l, i) => expect(l).toMatch(new RegExp(`^${escaped(lines[i + 1]!)},[0-9.]+$`)));
    const jsonl = run(["predict", "law.json", "runs.csv", "-o", "scored.jsonl"], dir);
    expect(jsonl.status, jsonl.stderr).toBe(0);
    const f = await readFrameAsync(join(dir, "scored.jsonl"));
    expect(f.cells.get("run_id")!.slice(0, IDS.length)).toEqual(IDS);
    expect(f.cells.get("code")!.slice(0, 3)).toEqual(["000", "001", "002"]);
    expect(f.cells.get("big")![0]).toBe("12345678901234567890");
    expect(f.cells.get("sci")!.slice(0, 3)).toEqual([0, 1000, 2000]);
    expect(f.cells.get("w.a")![0]).toBe(0.077);
  }, 60_000);
});
