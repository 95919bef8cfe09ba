// The embedded corpus is the default of `train` and `sweep` wherever mixlab runs from (it was a
// path relative to the repository, so a user's own project folder could not find it), and a
// built corpus's root given where a folder of domains is expected says which folder to pass.

import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const run = (args: string[], cwd: string) =>
  spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, TMPDIR: cwd } });

describe("the embedded corpus", () => {
  it("is train's default from any folder (and weights that do not sum to 1 are said to be normalised)", () => {
    const dir = tmp();
    const r = run(
      ["train", "--weights", "code=2", "--steps", "1", "--batch-size", "2", "--backend", "wasm", "--runs", "runs.csv"],
      dir,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/appended run [0-9a-f]{16} to runs\.csv/);
    expect(r.stderr).toContain("note: --weights sum to 2; trained on the proportions code=1.0000\n");
  });

  it("is named by its train/ folder when its root is given as a folder of domains", () => {
    const dir = tmp();
    const corpus = join(ROOT, "datasets", "corpus");
    const r = run(
      [
        "sample", "--corpus", corpus,
        "--proportions", join(ROOT, "datasets", "demo-runs", "proportions.json"), "--n", "1",
      ],
      dir,
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `error: ${corpus}: expected a folder of domains, got a built corpus (manifest.json, train/, heldout/); ` +
        `pass ${JSON.stringify(join(corpus, "train"))} (or heldout/)\n`,
    );
  });
});
