// `mixlab fit` end to end with the recommendation features: auto as the default method, the
// comparison table on stderr and in fitQuality.auto, diagnostics in proportions.json, --strict,
// --risk, and the guards' exit codes. Runs the built bin (build first).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseProportions } from "../src/export/proportions.js";
import { createWorld, drawSwarm, observe } from "../src/core/worlds.js";
import { createRng } from "../src/rng/index.js";
import { ROOT, tmp } from "./helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
const K = 4;
let dir: string;

function writeWorld(file: string, design: "flat" | "prior-centred", n: number, seed: number): void {
  const world = createWorld("bowl", K, createRng(seed), Float64Array.of(0.05, 0.3, 0.35, 0.3));
  const w = drawSwarm(design, K, n, createRng(seed).derive("swarm"));
  const losses = observe(world, w, 0.003, createRng(seed).derive("noise"));
  const head = [
    ...Array.from({ length: K }, (_, j) => `w.d${j}`),
    ...Array.from({ length: K }, (_, j) => `loss.d${j}`),
  ].join(",");
  const rows = Array.from({ length: n }, (_, i) =>
    [...Array.from(w.subarray(i * K, (i + 1) * K)), ...losses.map((c) => c[i]!)].join(","),
  );
  writeFileSync(join(dir, file), `${head}\n${rows.join("\n")}\n`);
}

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist", "src", "cli", "main.js"))) {
    execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  }
  dir = tmp();
  writeWorld("flat.csv", "flat", 40, 21);
  writeWorld("skewed.csv", "prior-centred", 40, 22);
  writeFileSync(join(dir, "const.csv"), "w.a,w.b,loss.a\n0.2,0.8,3.5\n0.5,0.5,3.5\n0.9,0.1,3.5\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TARGET = ["--target", "mean:loss.d0,loss.d1,loss.d2,loss.d3"];

describe("mixlab fit (recommendations)", () => {
  it("uses auto by default: comparison table on stderr, fitQuality.auto and diagnostics in the JSON", () => {
    const r = run(
      [
        "fit", "flat.csv", ...TARGET,
        "--bootstrap", "4",
        "--options", '{"regmix": {"numCandidates": 20000}}',
        "-o", "p.json",
      ],
      dir,
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/auto: 5-fold cross-validation of every law that applies \(40 runs\)/);
    expect(r.stderr).toMatch(/law +Spearman +pairwise +top-decile regret \(sd\)/);
    expect(r.stderr).toMatch(/\nchose \S+: Spearman/);
    expect(r.stderr).toMatch(
      /± [0-9.e-]+ \(1 sd, (bootstrap over runs, 4 replicates|gp posterior); criterion pessimistic\)/,
    );
    const text = readFileSync(join(dir, "p.json"), "utf8");
    parseProportions(text, "p.json");
    const doc = JSON.parse(text);
    expect(doc.chosenBy).toBe("auto");
    expect(doc.risk).toBe("pessimistic");
    expect(Array.isArray(doc.diagnostics)).toBe(true);
    expect(doc.fitQuality.auto.candidates.filter((c: { chosen: boolean }) => c.chosen)).toHaveLength(1);
    expect(doc.fitQuality.auto.criterion).toMatch(/^keep the laws whose out-of-fold Spearman/);
    expect(doc.predicted.sd).toBeGreaterThan(0);
  });

  it("warns on stderr, records the diagnostics, and with --strict exits 1 after writing", () => {
    const r = run(["fit", "skewed.csv", ...TARGET, "--method", "loglinear", "--strict", "-o", "s.json"], dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/warning \[far-from-runs\]: the recommendation is [0-9.]+ from the nearest run/);
    expect(r.stderr).toMatch(
      /mixlab suggest skewed\.csv --method bayesopt --target 'mean:loss\.d0,loss\.d1,loss\.d2,loss\.d3' --n 4 --prior d0=/,
    );
    expect(r.stderr).toMatch(/error: --strict: \d support diagnostics fired \(far-from-runs, outside-range/);
    const doc = JSON.parse(readFileSync(join(dir, "s.json"), "utf8"));
    expect(doc.diagnostics.map((d: { code: string }) => d.code)).toContain("outside-range");
    for (const d of doc.diagnostics) expect(typeof d.message).toBe("string");
  });

  it("--risk pessimistic recommends by prediction + one bootstrap sd", () => {
    const r = run(
      ["fit", "flat.csv", ...TARGET, "--method", "dml", "--risk", "pessimistic", "--bootstrap", "4", "--cv-folds", "0"],
      dir,
    );
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.risk).toBe("pessimistic");
    expect(doc.details.risk).toMatch(/^pessimistic: minimum of prediction \+ bootstrap sd/);
    expect(run(["fit", "flat.csv", ...TARGET, "--risk", "worst"], dir).stderr).toMatch(
      /--risk <criterion>.*expected mean or pessimistic, got "worst"/,
    );
  });

  it("a constant target exits 2 naming it (it used to exit 0 with Spearman NaN and R² -Infinity)", () => {
    const r = run(["fit", "const.csv", "--target", "loss.a"], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'error: const.csv: target "loss.a": expected values that differ between runs ' +
        "(a law has nothing to rank otherwise), got 3.5 in all 3 runs\n",
    );
  });
});
