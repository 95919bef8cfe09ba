// A sweep's failed rows (status "failed") do not make `fit` fail and are not pending runs for
// `suggest --method bayesopt`: every reader leaves them out and says so in one line.
import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("failed runs in a runs table", () => {
  it("fit and suggest --method bayesopt leave them out, with one note", () => {
    const dir = tmp();
    dirs.push(dir);
    const lines = ["run_id,w.a,w.b,w.c,loss.mean,status,error"];
    for (let i = 0; i < 8; i++) {
      const a = (i + 1) / 10;
      const b = (1 - a) / 2;
      lines.push(`r${i},${a},${b},${1 - a - b},${(3 + (a - 0.3) ** 2 + (b - 0.5) ** 2).toFixed(5)},ok,`);
    }
    lines.push("f1,0.2,0.3,0.5,,failed,training loss of member 1 is not finite at step 3");
    lines.push("f2,0.1,0.1,0.8,,failed,training loss of member 1 is not finite at step 3");
    writeFileSync(join(dir, "runs.csv"), `${lines.join("\n")}\n`);
    const note =
      'note: runs.csv: 2 failed runs (status "failed"; rows 9, 10) kept in the file and left out: ' +
      '"training loss of member 1 is not finite at step 3" (2 runs)\n';
    const fit = run(["fit", "runs.csv", "--method", "regmix-linear", "--target", "loss.mean", "-o", "p.json"], dir);
    expect(fit.status, fit.stderr).toBe(0);
    expect(fit.stderr.startsWith(note)).toBe(true);
    const bo = run(["suggest", "runs.csv", "--method", "bayesopt", "--target", "loss.mean", "--n", "1"], dir);
    expect(bo.status, bo.stderr).toBe(0);
    expect(bo.stderr.startsWith(note)).toBe(true);
    expect(bo.stderr).toMatch(/bayesopt: 1 proposals from 8 finished and 0 pending runs/);
  }, 60_000);
});
