// End-to-end runs of the built bin (npm test builds first) on copies of the datasets/ fixtures:
// exit codes, stdout parsed with the same schema the library uses, stderr for broken input.
import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { parseProportions } from "../../src/export/proportions.js";
import { ROOT, REGMIX, tmp } from "../helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) =>
  spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, TMPDIR: cwd } });
const REGMIX_FLAGS = [
  "--losses", "losses.csv", "--join-on", "index", "--weights-prefix", "train_the_pile_",
  "--loss-pattern", "metric/the_pile_{domain}_val_loss",
];

let dir: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, "dist", "src", "cli", "main.js"))) {
    execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  }
  dir = tmp();
  copyFileSync(join(REGMIX, "train_mixture_1m.csv"), join(dir, "mixtures.csv"));
  copyFileSync(join(REGMIX, "train_pile_loss_1m.csv"), join(dir, "losses.csv"));
  copyFileSync(join(REGMIX, "test_mixture_1B.csv"), join(dir, "candidates.csv"));
  writeFileSync(
    join(dir, "bad-free.csv"),
    "run_id,w.web,w.code,w.math,loss.web\na,0.2,0.3,0.5,3\nb,0.5,0.25,0.25,2.9\n",
  );
});

describe("mixlab CLI", () => {
  it("--help lists the commands and each has an example", () => {
    const r = run(["--help"], dir);
    expect(r.status).toBe(0);
    for (const c of ["fit", "predict", "suggest", "export"]) expect(r.stdout).toContain(c);
    for (const c of ["fit", "predict", "suggest", "export"]) expect(run([c, "--help"], dir).stdout).toMatch(/Example/);
  });

  it("fit → proportions.json (valid, deterministic) → predict → export", () => {
    const args = [
      "fit", "mixtures.csv", ...REGMIX_FLAGS, "--method", "regmix", "--target", "loss.pile_cc",
      "--candidates", "50000", "--cv-folds", "0", "--bootstrap", "0", "--seed", "3",
    ];
    const a = run([...args, "-o", "p.json", "--save-model", "law.json"], dir);
    expect(a.stderr).toContain("pile_cc");
    expect(a.status).toBe(0);
    const doc = parseProportions(readFileSync(join(dir, "p.json"), "utf8"), "p.json");
    expect(doc.method).toBe("regmix");
    expect(doc.provenance?.numRuns).toBe(512);
    expect(doc.provenance?.runsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.domains.pile_cc!).toBeGreaterThan(0.5);
    // Same seed, same bytes (up to the wall time recorded in provenance).
    const b = run(args, dir);
    const strip = (s: string) => s.replace(/"seconds": [0-9.]+/, "");
    expect(strip(b.stdout)).toBe(strip(readFileSync(join(dir, "p.json"), "utf8")));

    const pr = run(
      ["predict", "law.json", "candidates.csv", "--weights-prefix", "train_the_pile_", "-o", "scored.csv"],
      dir,
    );
    expect(pr.status).toBe(0);
    const lines = readFileSync(join(dir, "scored.csv"), "utf8").trim().split("\n");
    expect(lines[0]).toMatch(/^index,train_the_pile_arxiv,.*,predicted$/);
    expect(lines).toHaveLength(65);

    const mg = run(["export", "p.json", "--format", "megatron", "--path-prefix", "/data/"], dir);
    expect(mg.status).toBe(0);
    expect(mg.stdout).toMatch(/^[0-9.e-]+ \/data\/\w+( [0-9.e-]+ \/data\/\w+)*\n$/);
    const hf = JSON.parse(run(["export", "p.json", "--format", "hf"], dir).stdout);
    expect(hf.probabilities.reduce((x: number, y: number) => x + y, 0)).toBeCloseTo(1, 9);
  }, 180_000); // two 50,000-candidate fits of 512 runs: ~30 s alone, more on a loaded machine

  it("suggest writes a swarm on the simplex with run ids, reproducible by seed", () => {
    const args = [
      "suggest", "--domains", "web,code,math", "--n", "20", "--tokens", "web=5e9,code=1e9,math=2e8", "--seed", "4",
    ];
    const a = run(args, dir);
    expect(a.status).toBe(0);
    expect(run(args, dir).stdout).toBe(a.stdout);
    expect(run([...args.slice(0, -1), "5"], dir).stdout).not.toBe(a.stdout);
    const rows = a.stdout.trim().split("\n");
    expect(rows[0]).toBe("run_id,w.web,w.code,w.math,seed");
    for (const r of rows.slice(1)) {
      const [, ...w] = r.split(",");
      const s = w.slice(0, 3).map(Number);
      expect(Math.abs(s[0]! + s[1]! + s[2]! - 1)).toBeLessThan(1e-12);
      expect(s[2]!).toBeLessThanOrEqual(Math.min(1, (15 * 2e8) / 6.2e9) + 1e-12);
    }
  });

  it("suggest --method dirichlet honours --min-share and --max-share", () => {
    const r = run(
      [
        "suggest", "--domains", "web,code,math", "--n", "30",
        "--min-share", "web=0.3", "--max-share", "code=0.2", "--seed", "2",
      ],
      dir,
    );
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split("\n").slice(1).map((l) => l.split(",").slice(1, 4).map(Number));
    expect(rows).toHaveLength(30);
    for (const [web, code, math] of rows) {
      expect(web!).toBeGreaterThanOrEqual(0.3);
      expect(code!).toBeLessThanOrEqual(0.2);
      expect(Math.abs(web! + code! + math! - 1)).toBeLessThan(1e-12);
    }
  });

  it("fit --method unimax reads --budget and --max-epochs", () => {
    const r = run(
      [
        "fit", "bad-free.csv", "--method", "unimax", "--target", "loss.web",
        "--tokens", "web=1e10,code=5e9,math=1e8", "--budget", "3e9", "--max-epochs", "2",
      ],
      dir,
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    // math: 2 epochs × 1e8 = 2e8 of the 3e9 budget; web and code share the rest equally.
    expect(doc.domains.math * 3e9).toBeCloseTo(2e8, 0);
    expect(doc.domains.web).toBeCloseTo(doc.domains.code, 12);
  });

  it("bad input: one message listing every problem, exit code 2", () => {
    writeFileSync(join(dir, "bad.csv"), "run_id,w.web,w.code,loss.web\na,0.5,0.5,3\nb,0.7,0.7,3\nc,x,0.5,3\n");
    const r = run(["fit", "bad.csv", "--method", "regmix", "--target", "loss.web"], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatchInlineSnapshot(`
      "error: bad.csv: 2 problems:
        row 2 (line 3): expected the proportions to sum to 1 (± 0.1, the rounding of its printed digits), got 1.4; pass --sum-tolerance to accept a larger gap
        row 3 (line 4), column "w.web": expected a number in [0, 1], got "x"
      "
    `);
    const m = run(["fit", "mixtures.csv", ...REGMIX_FLAGS, "--method", "nope", "--target", "loss.pile_cc"], dir);
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/--method: expected auto or one of regmix, regmix-linear, dml, loglinear, bimix, bayesopt, dcpt, ensemble, uniform, natural, temperature, unimax, got "nope"/);
    const s = run(["fit", "mixtures.csv", "--method", "regmix", "--target", "x", "--seed", "-3"], dir);
    expect(s.status).toBe(2);
    expect(s.stderr).toMatch(/--seed <n>' argument '-3' is invalid. expected an integer in \[0, 4294967295\]/);
    const missing = run(["fit", "nothere.csv", "--method", "regmix", "--target", "x"], dir);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("nothere.csv: expected a readable file, got ENOENT");
    const pred = run(["predict", "law.json", "bad.csv"], dir);
    expect(pred.status).toBe(2);
  });

  it("predict names a domain the mixtures lack", () => {
    writeFileSync(join(dir, "two.csv"), "w.arxiv,w.pile_cc\n0.5,0.5\n");
    const r = run(["predict", "law.json", "two.csv"], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/domain "freelaw": expected a proportion column for this domain of the model, got none/);
  });
});

describe("mixlab suggest --method bayesopt", () => {
  it("reads the runs so far (pending rows included) and writes the next mixtures; fit recommends", () => {
    const lines = readFileSync(join(dir, "mixtures.csv"), "utf8").split("\n").slice(0, 31).join("\n");
    writeFileSync(join(dir, "m30.csv"), `${lines}\n`);
    writeFileSync(
      join(dir, "l30.csv"),
      `${readFileSync(join(dir, "losses.csv"), "utf8").split("\n").slice(0, 31).join("\n")}\n`,
    );
    const FLAGS30 = REGMIX_FLAGS.map((a) => (a === "losses.csv" ? "l30.csv" : a));
    const args = [
      "suggest", "m30.csv", ...FLAGS30, "--method", "bayesopt", "--target", "loss.pile_cc",
      "--n", "2", "--seed", "5", "--options", '{"numCandidates": 256}',
    ];
    const r = run(args, dir);
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^run_id,w\.arxiv,.*,predicted,predicted_sd,seed$/);
    expect(rows).toHaveLength(3);
    expect(run(args, dir).stdout).toBe(r.stdout);
    expect(r.stderr).toMatch(/2 proposals from 30 finished and 0 pending runs/);
    const f = run(
      [
        "fit", "m30.csv", ...FLAGS30, "--method", "bayesopt", "--target", "loss.pile_cc",
        "--cv-folds", "0", "--options", '{"numCandidates": 256}',
      ],
      dir,
    );
    expect(f.status).toBe(0);
    expect(JSON.parse(f.stdout).method).toBe("bayesopt");
    const bad = run(["suggest", "m30.csv", ...FLAGS30, "--method", "bayesopt", "--n", "2"], dir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--target: expected the column to minimise/);
    // A prior over other domains is an error, not silently zero-filled.
    const prior = run([...args, "--prior", "pile_cc=1,nosuch=1"], dir);
    expect(prior.status).toBe(2);
    expect(prior.stderr).toMatch(/--prior: expected one of the domains \(arxiv, .*\), got "nosuch"/);
    expect(prior.stderr).toMatch(/--prior: expected a value for domain "arxiv", got none/);
  });
});

describe("export --format json round trip", () => {
  it("writes a file that export, sample and train --mixture read back", () => {
    // A fit's document: exported as JSON, it reads back and re-exports to the same bytes.
    const fit = run(
      ["fit", "mixtures.csv", ...REGMIX_FLAGS, "--method", "uniform", "--target", "loss.pile_cc", "-o", "u.json"],
      dir,
    );
    expect(fit.status).toBe(0);
    const once = run(["export", "u.json", "--format", "json", "-o", "u-export.json"], dir);
    expect(once.stderr).toBe("");
    expect(once.status).toBe(0);
    const twice = run(["export", "u-export.json", "--format", "json"], dir);
    expect(twice.status).toBe(0);
    expect(twice.stdout).toBe(readFileSync(join(dir, "u-export.json"), "utf8"));
    expect(parseProportions(twice.stdout, "stdout").orderedDomains).toEqual(
      parseProportions(readFileSync(join(dir, "u.json"), "utf8"), "u.json").orderedDomains,
    );
    // A document over the embedded corpus's domains, in a non-alphabetical order.
    writeFileSync(
      join(dir, "c.json"),
      JSON.stringify({
        format: "mixlab.proportions/v1",
        domains: { legal: 0.75, code: 0.25 },
        order: ["legal", "code"],
      }),
    );
    expect(run(["export", "c.json", "--format", "json", "-o", "c-export.json"], dir).status).toBe(0);
    const exported = readFileSync(join(dir, "c-export.json"), "utf8");
    expect(JSON.parse(exported).order).toEqual(["legal", "code"]);
    expect(exported).not.toContain("orderedDomains");
    expect(run(["export", "c-export.json", "--format", "megatron"], dir).stdout).toBe(
      "0.75 legal_text_document 0.25 code_text_document\n",
    );
    const sample = run(
      ["sample", "--corpus", join(ROOT, "datasets", "corpus", "train"), "--proportions", "c-export.json", "--n", "4"],
      dir,
    );
    expect(sample.stderr).not.toMatch(/error/);
    expect(sample.status).toBe(0);
    expect(sample.stdout.trim().split("\n")).toHaveLength(4);
    const train = spawnSync(
      process.execPath,
      [
        BIN, "train", "--mixture", "c-export.json", "--corpus", join(ROOT, "datasets", "corpus"),
        "--steps", "2", "--batch-size", "2", "--backend", "wasm",
      ],
      { cwd: dir, encoding: "utf8", env: { ...process.env, TMPDIR: dir } },
    );
    expect(train.stderr).not.toMatch(/error/);
    expect(train.status).toBe(0);
    expect(JSON.parse(train.stdout)["w.legal"]).toBe(0.75);
  }, 120_000);
});

describe("pipes", () => {
  it("exits quietly when stdout is closed early (mixlab … | head)", () => {
    const r = spawnSync("sh", ["-c", `"${process.execPath}" "${BIN}" sweep --help | head -1`], { encoding: "utf8" });
    expect(r.stdout).toMatch(/^Usage: mixlab sweep/);
    expect(r.stderr).not.toMatch(/EPIPE/);
  });
});
