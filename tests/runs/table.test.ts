import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseFrame, readFrameAsync, writeFrame, type Frame } from "../../src/runs/frame.js";
import { buildRunsTable, joinFrames, resolveTarget } from "../../src/runs/table.js";
import { parseCsv } from "../../src/runs/csv.js";
import { regmixTable, tmp } from "../helpers.js";

const csv = (text: string): Frame => parseFrame(Buffer.from(text), "csv", "runs.csv");

describe("CSV", () => {
  it("parses quotes, doubled quotes and CRLF", () => {
    const d = parseCsv('a,b\r\n"x, y","say ""hi"""\r\n1,2\r\n', "t.csv");
    expect(d.rows).toEqual([["x, y", 'say "hi"'], ["1", "2"]]);
  });
  it("lists every ragged row", () => {
    expect(() => parseCsv("a,b\n1\n1,2,3\n", "t.csv")).toThrowErrorMatchingInlineSnapshot(`
      [InputError: t.csv: 2 problems:
        row 1 (line 2): expected 2 cells, got 1
        row 2 (line 3): expected 2 cells, got 3]
    `);
  });
});

describe("runs table validation", () => {
  it("gathers every problem into one error with row, column, expected and found", () => {
    const f = csv(
      [
        "run_id,w.web,w.code,loss.web",
        "a,0.5,0.5,3.1",
        "b,0.3x,0.7,3.0",
        "c,-0.2,1.2,2.9",
        "a,0.6,0.6,2.8",
        "e,,1,2.7",
      ].join("\n"),
    );
    expect(() => buildRunsTable(f)).toThrowErrorMatchingInlineSnapshot(`
      [InputError: runs.csv: 6 problems:
        row 2 (line 3), column "w.web": expected a number in [0, 1], got "0.3x"
        row 3 (line 4), column "w.web": expected a number in [0, 1], got -0.2 (a negative proportion)
        row 3 (line 4), column "w.code": expected a number in [0, 1], got 1.2
        row 4 (line 5): expected the proportions to sum to 1 (± 0.1, the rounding of its printed digits), got 1.2; pass --sum-tolerance to accept a larger gap
        row 5 (line 6), column "w.web": expected a number in [0, 1], got an empty cell
        row 4 (line 5), column "run_id": expected unique run ids, got "a" again (first in row 1 (line 2))]
    `);
  });

  it("accepts rows off by their printed rounding, renormalises them and reports it", () => {
    const f = csv(["w.a,w.b,w.c", "0.333,0.333,0.333", "0.5,0.25,0.25"].join("\n"));
    const t = buildRunsTable(f);
    expect(t.renormalised.rows).toBe(1);
    expect(t.weights[0]! + t.weights[1]! + t.weights[2]!).toBeCloseTo(1, 15);
    // One printed decimal allows ±0.05 a cell, so 0.3 + 0.6 is within rounding; 0.3 + 0.5 is not.
    expect(buildRunsTable(csv("w.a,w.b\n0.3,0.6\n")).renormalised.rows).toBe(1);
    expect(() => buildRunsTable(csv("w.a,w.b\n0.3,0.5\n"))).toThrow(
      /row 1 \(line 2\): expected the proportions to sum to 1 \(± 0.1, the rounding of its printed digits\), got 0.8/,
    );
    expect(() => buildRunsTable(csv("w.a,w.b\n0.333333,0.666\n"))).toThrow(
      /± 0\.0005\d*, the rounding of its printed digits\), got 0\.999333/,
    );
    expect(buildRunsTable(csv("w.a,w.b\n0.333333,0.666\n"), { sumTolerance: 0.001 }).numRuns).toBe(1);
  });

  it("names a missing target column and missing target values", () => {
    const t = buildRunsTable(csv("w.a,w.b,loss.a\n0.5,0.5,3\n0.2,0.8,\n"));
    expect(() => resolveTarget(t, "loss.zzz")).toThrowErrorMatchingInlineSnapshot(
      `[InputError: --target: expected a column "loss.zzz" in runs.csv, got no such column; columns there: loss.a]`,
    );
    expect(() => resolveTarget(t, "loss.a")).toThrowErrorMatchingInlineSnapshot(
      `[InputError: runs.csv: row 2 (line 3), column "loss.a": expected a finite number (the target), got an empty cell (a run with no result yet?)]`,
    );
    expect(Number.isNaN(resolveTarget(t, "loss.a", { allowMissing: true }).values[1])).toBe(true);
  });

  it("averages targets with mean:", () => {
    const t = buildRunsTable(csv("w.a,w.b,loss.a,loss.b\n0.5,0.5,3,5\n"));
    expect(resolveTarget(t, "mean:loss.a,loss.b").values[0]).toBe(4);
  });

  it("says how to name weight columns when none is found", () => {
    expect(() => buildRunsTable(csv("x,y\n0.5,0.5\n"))).toThrowErrorMatchingInlineSnapshot(
      `[InputError: runs.csv: expected proportion columns named w.<domain>, got none (columns: x, y); name them with --weights-prefix or --weights]`,
    );
    expect(buildRunsTable(csv("x,y\n0.5,0.5\n"), { weights: ["x", "y"] }).domains).toEqual(["x", "y"]);
  });

  it("joins on a key and reports orphans and duplicates", () => {
    const m = csv("index,w.a,w.b\n1,0.5,0.5\n2,0.1,0.9\n");
    const l = parseFrame(Buffer.from("index,loss.a\n2,3.5\n3,4\n3,4\n"), "csv", "losses.csv");
    expect(() => joinFrames(m, l, "index")).toThrowErrorMatchingInlineSnapshot(`
      [InputError: join of runs.csv and losses.csv: 2 problems:
        losses.csv: row 3 (line 4), column "index": expected unique keys, got "3" again (first in row 2 (line 3))
        losses.csv: row 2 (line 3): expected a mixture with index "3" in runs.csv, got none]
    `);
    const ok = joinFrames(m, parseFrame(Buffer.from("index,loss.a\n2,3.5\n"), "csv", "losses.csv"), "index");
    expect(ok.cells.get("loss.a")).toEqual([null, 3.5]);
  });

  it("reads RegMix's released runs by name: 512 runs, 17 domains, 13 eval losses", () => {
    const t = regmixTable("train_mixture_1m.csv", "train_pile_loss_1m.csv");
    expect(t.numRuns).toBe(512);
    expect(t.domains).toHaveLength(17);
    expect(t.domains).toContain("pile_cc");
    expect(t.frame.columns.filter((c) => c.startsWith("loss."))).toHaveLength(13);
    expect(t.renormalised.rows).toBeGreaterThan(0);
    expect(t.renormalised.maxGap).toBeLessThanOrEqual(0.0085);
  });
});

describe("formats", () => {
  it.each(["csv", "jsonl", "arrow", "parquet"])("round-trips a runs table through .%s exactly", async (ext) => {
    const src = csv(["run_id,w.a,w.b,loss.a,note", "r1,0.1,0.9,3.14159265358979,x", "r2,0.7,0.3,,y"].join("\n"));
    const dir = tmp();
    const path = join(dir, `runs.${ext}`);
    await writeFrame(src, path);
    const back = await readFrameAsync(path);
    expect(back.columns).toEqual(src.columns);
    for (const c of src.columns) expect(back.cells.get(c)).toEqual(src.cells.get(c));
  });

  it("rejects a file that is not what its extension says", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "bad.arrow"), "not arrow");
    writeFileSync(join(dir, "bad.parquet"), "not parquet");
    writeFileSync(join(dir, "bad.jsonl"), '{"a": 1}\n[1, 2]\nnot json\n');
    await expect(readFrameAsync(join(dir, "bad.arrow"))).rejects.toThrow(/expected an Arrow IPC file/);
    await expect(readFrameAsync(join(dir, "bad.parquet"))).rejects.toThrow(/expected a Parquet file/);
    await expect(readFrameAsync(join(dir, "bad.jsonl"))).rejects.toThrow(
      /line 2: expected a JSON object, got \[1,2\][\s\S]*line 3: expected a JSON object, got invalid JSON/,
    );
    await expect(readFrameAsync(join(dir, "runs.txt"))).rejects.toThrow(
      /expected a file ending in .csv, .jsonl, .arrow or .parquet, got ".txt"/,
    );
  });
});
