// The report from real runs tables: RegMix's released runs with a capped recommendation, the
// demo's runs, an online run; every expected section present, every plot drawn (data marks > 0),
// nothing that could reach the network, byte-identical output for the same inputs, and the
// messages for bad inputs pinned.
import { describe, expect, it } from "vitest";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  buildReport,
  reportHtml,
  renderSvg,
  countMarks,
  parseReportProportions,
  domainColors,
  writeReportFile,
  type Report,
} from "../../src/report/index.js";
import { readFrameAsync } from "../../src/runs/frame.js";
import { buildRunsTable } from "../../src/runs/table.js";
import { ROOT, regmixTable, tmp } from "../helpers.js";

const FIX = join(ROOT, "tests", "report", "fixtures");
const DEMO = join(ROOT, "datasets", "demo-runs");
const read = (p: string): string => readFileSync(p, "utf8");
const demoTable = async () => buildRunsTable(await readFrameAsync(join(DEMO, "runs.arrow")));
const DEMO_OPTIONS = {
  regmix: { minDataInLeaf: 2, earlyStoppingRounds: 0, numRounds: 300, numCandidates: 20_000, topK: 32 },
  dml: { numStarts: 4 },
};

function sectionsOf(r: Report): string[] {
  return r.sections.map((s) => s.id);
}

/** Every figure has data marks, in the report object and in the HTML (data-marks and in the inline SVG). */
function expectDrawn(r: Report, html: string): void {
  for (const s of r.sections) for (const f of s.figures) {
    expect(f.marks, `${f.id} has no marks`).toBeGreaterThan(0);
    expect(countMarks(f.svg)).toBe(f.marks);
    expect(html).toContain(`data-plot="${f.id}" data-marks="${f.marks}"`);
  }
}

/** Nothing in the page can fetch: no script, no src/href outside the page, a CSP forbidding everything. */
function expectOffline(html: string): void {
  expect(html).toContain(`http-equiv="Content-Security-Policy" content="default-src 'none';`);
  // Local fragment references (url(#gradient) in vega's legends) stay inside the page.
  expect(
    [...html.matchAll(/<script|<link|<iframe|<img|<object|<embed|@import|url\((?!#)/gi)].map((m) => m[0]),
  ).toEqual([]);
  const refs = [...html.matchAll(/\s(?:src|href|xlink:href)="([^"]*)"/g)].map((m) => m[1]!);
  expect(refs.filter((r) => !r.startsWith("#"))).toEqual([]);
}

describe("report on RegMix's 512 released runs with a capped recommendation", () => {
  it("has every section, draws every plot, compares two laws, shows the caps and the diagnostics", async () => {
    const table = regmixTable("train_mixture_1m.csv", "train_pile_loss_1m.csv");
    const doc = JSON.parse(read(join(FIX, "regmix-capped.json")));
    doc.diagnostics = [
      { code: "EPOCH_CAP_BINDS", message: "pile_cc is held at its epoch cap <0.474>", domain: "pile_cc" },
    ];
    const proportions = parseReportProportions(JSON.stringify(doc), "regmix-capped.json");
    const r = await buildReport({
      table,
      proportions,
      methods: ["loglinear", "dml"],
      optionsByMethod: { dml: { numStarts: 2, maxIterations: 100 } },
      cvFolds: 4,
    });
    const html = reportHtml(r);
    expect(sectionsOf(r)).toEqual(["runs", "fit", "recommendation", "response", "matrix"]);
    expect(r.sections.flatMap((s) => s.figures.map((f) => f.id))).toEqual([
      "runs-mixtures",
      "fit-loglinear",
      "fit-dml",
      "recommendation",
      "response",
      "matrix",
    ]);
    expectDrawn(r, html);
    expectOffline(html);
    // Each compared law: one scatter with all 512 runs and the identity line.
    for (const id of ["fit-loglinear", "fit-dml"]) {
      expect(r.sections[1]!.figures.find((f) => f.id === id)!.marks).toBe(512 + 1);
    }
    expect(html).toMatch(
      /<td>loglinear<\/td><td class="num">4-fold<\/td><td class="num">512<\/td><td class="num">0\.\d{4}<\/td>/,
    );
    // The recommendation is the file's; the references include the uncapped optimum and the natural
    // shares from its tokens.
    const rec = r.sections.find((s) => s.id === "recommendation")!;
    for (const h of [
      "without epoch caps",
      "prior (mean of the runs)",
      "uniform",
      "natural (token shares)",
      "allowed",
      "epochs",
      "(epoch cap)",
    ]) {
      expect(rec.html).toContain(h);
    }
    expect(rec.html).toContain(
      `<td>pile_cc</td><td class="num">${doc.domains.pile_cc.toFixed(4)}</td>` +
        `<td class="num">${doc.withoutEpochCaps.domains.pile_cc.toFixed(4)}</td>`,
    );
    // Bars for 17 domains, 17 grey bands, 4 reference marks × 17.
    expect(rec.figures[0]!.marks).toBe(17 + 17 + 4 * 17);
    // loglinear has no matrix of its own → rank correlations: 17 training domains × the 13 eval
    // domains RegMix released (a cell and its label each).
    expect(r.sections.find((s) => s.id === "matrix")!.figures[0]!.marks).toBe(2 * 17 * 13);
    expect(html).toContain(
      '<div class="callout" data-code="EPOCH_CAP_BINDS"><strong>EPOCH_CAP_BINDS</strong>: ' +
        "pile_cc is held at its epoch cap &lt;0.474&gt;</div>",
    );
    expect(html.indexOf('id="diagnostics"')).toBeLessThan(html.indexOf('id="runs"'));
    expect(Buffer.byteLength(html)).toBeLessThan(2e6);
  }, 120_000);
});

describe("report on the demo's runs table", () => {
  it("has every section and the DML coefficients as the matrix when DML leads; same inputs, same bytes", async () => {
    const table = await demoTable();
    const proportions = parseReportProportions(read(join(DEMO, "proportions.json")), "proportions.json");
    const opts = {
      table,
      proportions,
      methods: ["dml", "regmix"],
      optionsByMethod: DEMO_OPTIONS,
      runsName: "runs.arrow",
      proportionsName: "proportions.json",
    };
    const r = await buildReport(opts);
    const html = reportHtml(r);
    expect(sectionsOf(r)).toEqual(["runs", "fit", "recommendation", "response", "matrix"]);
    expectDrawn(r, html);
    expectOffline(html);
    expect(r.sections.find((s) => s.id === "matrix")!.figures[0]!.svg).toContain("Data Mixing Law coefficients t");
    expect(r.sections[0]!.html).toContain("14 (14 finished, 0 failed)");
    expect(r.sections[0]!.html).toContain("tiny-32: 14");
    expect(reportHtml(await buildReport(opts))).toBe(html);
  }, 120_000);

  it("lists failed runs with their errors and leaves them out of the fit", async () => {
    const frame = await readFrameAsync(join(DEMO, "runs.arrow"));
    frame.cells.get("status")![3] = "failed";
    frame.cells.get("error")![3] = "worker exited with code 137 <oom>";
    for (const c of frame.columns) if (c.startsWith("loss.")) frame.cells.get(c)![3] = null;
    const table = buildRunsTable(frame);
    const r = await buildReport({ table, methods: ["loglinear"] });
    const html = reportHtml(r);
    expect(r.sections[0]!.html).toContain("14 (13 finished, 1 failed)");
    expect(r.sections[0]!.html).toContain("<h3>Failed runs (left out of every fit)</h3><p>Rows 4 of <code>");
    expect(r.sections[0]!.html).toContain('<td>worker exited with code 137 &lt;oom&gt;</td><td class="num">1</td>');
    expect(html).toMatch(/<td>loglinear<\/td><td class="num">5-fold<\/td><td class="num">13<\/td>/);
    expectDrawn(r, html);
  }, 60_000);
});

describe("laws compared by fit --method auto", () => {
  it("draws one panel per registered law the proportions' auto selection compared, the chosen one first", async () => {
    const table = await demoTable();
    const doc = JSON.parse(read(join(DEMO, "proportions.json")));
    doc.method = "dml";
    doc.fitQuality = {
      auto: {
        candidates: [
          { law: "regmix", chosen: false },
          { law: "ensemble(gp+trees)", chosen: false },
          { law: "dml", chosen: true },
          { law: "loglinear" },
        ],
      },
    };
    const proportions = parseReportProportions(JSON.stringify(doc), "auto.json");
    const r = await buildReport({ table, proportions, optionsByMethod: DEMO_OPTIONS });
    expect(r.sections.find((s) => s.id === "fit")!.figures.map((f) => f.id)).toEqual([
      "fit-dml",
      "fit-regmix",
      "fit-loglinear",
    ]);
    expectDrawn(r, reportHtml(r));
  }, 60_000);
});

describe("report on an online run", () => {
  it("draws the weights over tokens (stacked) and the per-domain losses, and the mixer's A matrix", async () => {
    const table = buildRunsTable(await readFrameAsync(join(FIX, "online-run.csv")));
    const proportions = parseReportProportions(read(join(FIX, "online-run.json")), "online-run.json");
    const r = await buildReport({ table, proportions });
    const html = reportHtml(r);
    expect(sectionsOf(r)).toEqual(["runs", "notes", "recommendation", "matrix", "online"]);
    expect(r.sections[1]!.html).toContain("need at least 10 finished runs");
    const online = r.sections.find((s) => s.id === "online")!;
    expect(online.figures.map((f) => f.id)).toEqual(["online-weights", "online-eval-loss", "online-train-loss"]);
    expect(online.figures[0]!.marks).toBe(8); // one stacked area per domain
    expect(online.figures[1]!.marks).toBe(8 + 8 * 25); // a line and 25 points per domain
    expect(r.sections.find((s) => s.id === "matrix")!.figures[0]!.svg).toContain("Interaction matrix A (simulated)");
    expectDrawn(r, html);
    expectOffline(html);
  }, 60_000);
});

describe("writeReportFile (what mixlab demo calls)", () => {
  it("reads the demo's runs table and proportions and writes the page", async () => {
    const dir = tmp();
    try {
      const out = join(dir, "report.html");
      const bytes = await writeReportFile({
        runs: join(DEMO, "runs.arrow"),
        proportions: join(DEMO, "proportions.json"),
        out,
        methods: ["loglinear"],
      });
      const html = readFileSync(out, "utf8");
      expect(Buffer.byteLength(html)).toBe(bytes);
      for (const s of ["runs", "fit", "recommendation", "response", "matrix"]) {
        expect(html).toContain(`data-section="${s}"`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("plots", () => {
  it("counts data marks, not axes: 0 for no data, 3 for three points", async () => {
    const spec = (values: unknown[]) => ({
      data: { values },
      mark: "point",
      encoding: {
        x: { field: "x", type: "quantitative", title: "x (nats)" },
        y: { field: "y", type: "quantitative" },
      },
    });
    expect(countMarks(await renderSvg(spec([])))).toBe(0);
    expect(countMarks(await renderSvg(spec([{ x: 1, y: 2 }, { x: 2, y: 1 }, { x: 3, y: 3 }])))).toBe(3);
  });

  it("gives each domain the same colour in every plot, distinct for up to 20 domains", async () => {
    const c = domainColors(Array.from({ length: 20 }, (_, i) => `d${i}`));
    expect(new Set(c).size).toBe(20);
    const table = await demoTable();
    const r = await buildReport({ table, methods: ["dml"], optionsByMethod: { dml: { numStarts: 2 } }, cvFolds: 0 });
    // "math" is the 7th domain of the demo: its colour appears in the mixtures and response plots.
    const math = domainColors(table.domains)[table.domains.indexOf("math")]!;
    for (const id of ["runs-mixtures", "response", "recommendation"]) {
      expect(r.sections.flatMap((s) => s.figures).find((f) => f.id === id)!.svg).toContain(math);
    }
  }, 60_000);
});

describe("bad input", () => {
  it("names the file and field of a malformed online trajectory", () => {
    const doc = JSON.parse(read(join(FIX, "online-run.json")));
    doc.online.trajectory[2].proportions.code += 0.5;
    doc.online.trajectory[3].tokens = doc.online.trajectory[2].tokens - 1;
    doc.details.diagnostics.A = [[1, 2]];
    expect(() => parseReportProportions(JSON.stringify(doc), "run.json")).toThrowErrorMatchingInlineSnapshot(`
      [InputError: run.json: 3 problems:
        online.trajectory.2.proportions: expected proportions summing to 1 (± 1e-6), got 1.5000000000000002
        online.trajectory.3.tokens: expected tokens non-decreasing, got 5119 after 5120
        details.diagnostics.A: expected a 8 × 8 matrix of numbers (rows and columns in domain order), got [[1,2]]]
    `);
  });

  it("rejects a proportions file whose domains differ from the table's", async () => {
    const table = regmixTable("train_mixture_1m.csv", "train_pile_loss_1m.csv");
    const proportions = parseReportProportions(read(join(DEMO, "proportions.json")), "demo.json");
    await expect(buildReport({ table, proportions, proportionsName: "demo.json" })).rejects.toThrowErrorMatchingInlineSnapshot(`[InputError: demo.json: domains: expected the runs table's domains (arxiv, freelaw, nih_exporter, pubmed_central, wikipedia_en, dm_mathematics, github, philpapers, stackexchange, enron_emails, gutenberg_pg_19, pile_cc, ubuntu_irc, europarl, hackernews, pubmed_abstracts, uspto_backgrounds), got code, dictionary, docs, encyclopedia, legal, literature, math, speeches]`);
  });

  it("names an unknown method and a missing target", async () => {
    const table = await demoTable();
    // The list of laws grows as laws are added: pin the message's shape, not the list.
    await expect(buildReport({ table, methods: ["regmx"] })).rejects.toThrow(
      /^--method: expected one of regmix, regmix-linear, dml, .*, got "regmx"$/,
    );
    const err = await buildReport({ table, target: "loss.web" }).catch((e: Error) => e);
    expect(String(err).replace(ROOT, "<root>")).toMatchInlineSnapshot(`"InputError: --target: expected a column "loss.web" in <root>/datasets/demo-runs/runs.arrow, got no such column; columns there: loss.code, loss.dictionary, loss.docs, loss.encyclopedia, loss.legal, loss.literature, loss.math, loss.speeches, loss.mean, bpb.code, …"`);
  });
});
