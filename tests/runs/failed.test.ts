// Failed runs (status "failed") are kept in the file and left out of every reader, loudly.
import { describe, expect, it } from "vitest";
import { parseFrame } from "../../src/runs/frame.js";
import { buildRunsTable, failedRunsNote, resolveTarget } from "../../src/runs/table.js";

const CSV = [
  "run_id,w.a,w.b,loss.a,status,error",
  "r1,0.5,0.5,3.1,ok,",
  "r2,0.2,0.8,,failed,training loss of member 1 is not finite at step 3",
  "r3,0.9,0.1,2.9,ok,",
  "r4,0.4,0.6,,failed,training loss of member 1 is not finite at step 3",
  "r5,0.3,0.7,x,ok,",
].join("\n");

describe("failed runs", () => {
  it("are left out of the table with one note naming how many, where and why; row labels stay the file's", () => {
    const frame = parseFrame(Buffer.from(CSV), "csv", "runs.csv");
    const t = buildRunsTable(frame);
    expect(t.numRuns).toBe(3);
    expect(t.frame.cells.get("run_id")).toEqual(["r1", "r3", "r5"]);
    expect(t.failed.rows).toEqual([2, 4]);
    expect(failedRunsNote(t)).toBe(
      'note: runs.csv: 2 failed runs (status "failed"; rows 2, 4) kept in the file and left out: ' +
        '"training loss of member 1 is not finite at step 3" (2 runs)',
    );
    // A problem in a later row is still reported at its row and line in the file.
    expect(() => resolveTarget(t, "loss.a")).toThrow(
      'runs.csv: row 5 (line 6), column "loss.a": expected a finite number (the target), got "x"',
    );
    expect(Array.from(t.weights)).toEqual([0.5, 0.5, 0.9, 0.1, 0.3, 0.7]);
  });

  it("are kept as rows on request (predict scores every row), with no note", () => {
    const t = buildRunsTable(parseFrame(Buffer.from(CSV), "csv", "runs.csv"), { failedRuns: "keep" });
    expect(t.numRuns).toBe(5);
    expect(failedRunsNote(t)).toBeNull();
  });

  it("a table of failed runs only is an error saying so", () => {
    const only = "run_id,w.a,w.b,status,error\nr1,0.5,0.5,failed,boom\n";
    const frame = parseFrame(Buffer.from(only), "csv", "runs.csv");
    const message = "runs.csv: expected at least one run that did not fail, got 1 failed runs only";
    expect(() => buildRunsTable(frame)).toThrow(message);
  });
});
