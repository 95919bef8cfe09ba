// `mixlab report` end to end (the built bin) and in a real browser: the report of RegMix's 512
// released runs (time and size printed), bad input rejected with exit 2 before any fit, and
// headless Debian chromium opening the reports over the DevTools protocol: every section, every
// plot drawn, no console message, no exception, no CSP violation, no request but the page itself;
// a screenshot is written to test-artifacts/report.png (git-ignored). The browser part skips,
// saying why, where chromium is missing.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, REGMIX, tmp } from "../helpers.js";
// @ts-expect-error plain ESM script without types
import { checkReport, findChromium, problems } from "../../scripts/report-browser.mjs";

const BIN = join(ROOT, "bin", "mixlab.js");
const FIX = join(ROOT, "tests", "report", "fixtures");
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
const REGMIX_FLAGS = [
  "--losses", "losses.csv", "--join-on", "index", "--weights-prefix", "train_the_pile_",
  "--loss-pattern", "metric/the_pile_{domain}_val_loss",
];
const ARTIFACTS = join(ROOT, "test-artifacts");

let dir: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, "dist", "src", "cli", "commands", "report.js"))) {
    execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  }
  dir = tmp();
  copyFileSync(join(REGMIX, "train_mixture_1m.csv"), join(dir, "mixtures.csv"));
  copyFileSync(join(REGMIX, "train_pile_loss_1m.csv"), join(dir, "losses.csv"));
  copyFileSync(join(FIX, "regmix-capped.json"), join(dir, "capped.json"));
  copyFileSync(join(FIX, "online-run.json"), join(dir, "online.json"));
  copyFileSync(join(FIX, "online-run.csv"), join(dir, "online.csv"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mixlab report", () => {
  it("writes one HTML file for RegMix's 512 runs (regmix, 5-fold cross-validation) under 2 MB", () => {
    const t0 = performance.now();
    const r = run(
      ["report", "mixtures.csv", ...REGMIX_FLAGS, "--proportions", "capped.json", "-o", "regmix.html"],
      dir,
    );
    const seconds = (performance.now() - t0) / 1000;
    expect(r.stderr).toMatch(
      /^report: 5 sections, 5 plots, [\d.]+ MB in [\d.]+ s \(fit [\d.]+ s, plots [\d.]+ s\) → regmix\.html\n$/,
    );
    expect(r.status).toBe(0);
    const bytes = statSync(join(dir, "regmix.html")).size;
    // Measured, not asserted (machines differ): the issue asks for under 10 s on 2 cores.
    console.log(
      `mixlab report on 512 RegMix runs: ${seconds.toFixed(1)} s wall (process included), ` +
        `${(bytes / 1e6).toFixed(2)} MB; ${r.stderr.trim()}`,
    );
    expect(bytes).toBeLessThan(2e6);
    const html = readFileSync(join(dir, "regmix.html"), "utf8");
    for (const s of ["runs", "fit", "recommendation", "response", "matrix"]) {
      expect(html).toContain(`data-section="${s}"`);
    }
    expect(html).toContain('<td>regmix</td><td class="num">5-fold</td><td class="num">512</td>');
  }, 120_000);

  it("rejects bad input with exit 2 before fitting, and writes nothing", () => {
    const cases: [string[], string][] = [
      [
        ["report", "mixtures.csv", ...REGMIX_FLAGS, "-o", "missing/report.html"],
        'error: --out: missing/report.html: expected a writable file in an existing folder, got no folder "missing" ' +
          "(ENOENT)\n",
      ],
      [
        ["report", "mixtures.csv", ...REGMIX_FLAGS, "-o", "losses.csv"],
        "error: --out: losses.csv: expected a different file from the input losses.csv, got the same path\n",
      ],
      [
        ["report", "mixtures.csv", ...REGMIX_FLAGS, "--law", "law.json", "--method", "dml"],
        "error: --law: expected either --law or --method, got both\n",
      ],
      [
        ["report", "mixtures.csv", ...REGMIX_FLAGS, "--options", "{}"],
        "error: --options: expected exactly one --method to apply them to, got 0\n",
      ],
      [
        ["report", "mixtures.csv", ...REGMIX_FLAGS, "--proportions", "nope.json"],
        'error: --proportions: expected a readable file, got "nope.json" (ENOENT)\n',
      ],
      [
        ["report", "online.csv", "--proportions", "capped.json"],
        "error: capped.json: domains: expected the runs table's domains " +
          "(code, dictionary, docs, encyclopedia, legal, literature, math, speeches), " +
          "got arxiv, freelaw, nih_exporter, pubmed_central, wikipedia_en, dm_mathematics, github, philpapers, " +
          "stackexchange, enron_emails, gutenberg_pg_19, pile_cc, ubuntu_irc, europarl, hackernews, " +
          "pubmed_abstracts, uspto_backgrounds\n",
      ],
    ];
    for (const [args, stderr] of cases) {
      const r = run(args, dir);
      expect(r.stderr).toBe(stderr);
      expect(r.status).toBe(2);
    }
    const bad = JSON.parse(readFileSync(join(dir, "online.json"), "utf8"));
    bad.online.trajectory[0].proportions = { code: 1 };
    writeFileSync(join(dir, "bad.json"), JSON.stringify(bad));
    const r = run(["report", "online.csv", "--proportions", "bad.json", "-o", "bad.html"], dir);
    expect(r.stderr).toMatch(/^error: bad\.json: online\.trajectory\.0\.proportions: expected the domains code, dictionary, docs, encyclopedia, legal, literature, math, speeches, got code\n$/);
    expect(r.status).toBe(2);
    expect(existsSync(join(dir, "bad.html"))).toBe(false);
  }, 60_000);

  it("uses a saved law (--law) instead of fitting: in-sample panel, response and recommendation from it", () => {
    copyFileSync(join(ROOT, "datasets", "demo-runs", "runs.arrow"), join(dir, "demo.arrow"));
    const fit = run(
      [
        "fit", "demo.arrow", "-m", "loglinear", "-t", "loss.mean", "--cv-folds", "0",
        "-o", "demo-p.json", "--save-model", "law.json",
      ],
      dir,
    );
    expect(fit.status).toBe(0);
    const r = run(["report", "demo.arrow", "--law", "law.json", "-o", "law.html"], dir);
    expect(r.stderr).toMatch(/^report: 5 sections, 5 plots/);
    expect(r.status).toBe(0);
    const html = readFileSync(join(dir, "law.html"), "utf8");
    expect(html).toContain('<td>loglinear (saved law)</td><td class="num">in-sample</td><td class="num">14</td>');
    expect(html).toContain("the unconstrained optimum of loglinear (saved law)");
  }, 60_000);

  it("writes the online run's report", () => {
    const r = run(["report", "online.csv", "--proportions", "online.json", "-o", "online.html"], dir);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^report: 5 sections, 6 plots/);
  }, 60_000);
});

const chromium = findChromium();
if (!chromium) {
  console.log("report browser test skipped: chromium not found (apt-get install chromium, or set CHROMIUM)");
}

describe.skipIf(!chromium)("the report in headless chromium", () => {
  it("RegMix's report: every section and plot drawn, no console message, no request; screenshot written", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const f = await checkReport(join(dir, "regmix.html"), { screenshot: join(ARTIFACTS, "report.png") });
    expect(problems(f)).toEqual([]);
    expect(f.page.sections).toEqual(["runs", "fit", "recommendation", "response", "matrix"]);
    expect(f.page.figures.map((x: { id: string }) => x.id)).toEqual([
      "runs-mixtures",
      "fit-regmix",
      "recommendation",
      "response",
      "matrix",
    ]);
    expect(f.page.scripts).toBe(0);
    expect(statSync(join(ARTIFACTS, "report.png")).size).toBeGreaterThan(10_000);
    console.log(`screenshot: ${join(ARTIFACTS, "report.png")} (${f.screenshot.width}×${f.screenshot.height})`);
  }, 90_000);

  it("the online run's report: the trajectory plots are drawn too", async () => {
    const f = await checkReport(join(dir, "online.html"));
    expect(problems(f)).toEqual([]);
    expect(f.page.sections).toEqual(["runs", "notes", "recommendation", "matrix", "online"]);
    expect(f.page.figures.map((x: { id: string }) => x.id)).toEqual([
      "runs-mixtures",
      "recommendation",
      "matrix",
      "online-weights",
      "online-eval-loss",
      "online-train-loss",
    ]);
  }, 90_000);

  it("catches a page that tries to fetch, logs or throws (the check can fail)", async () => {
    const html = readFileSync(join(dir, "online.html"), "utf8").replace(
      "</main>",
      '<img src="http://127.0.0.1:9/x.png" alt=""></main>',
    );
    writeFileSync(join(dir, "tampered.html"), html);
    const f = await checkReport(join(dir, "tampered.html"));
    expect(f.violations.join("\n")).toContain(
      "Loading the image 'http://127.0.0.1:9/x.png' violates the following Content Security Policy directive",
    );
    expect(problems(f).length).toBeGreaterThan(0);
  }, 90_000);
});
