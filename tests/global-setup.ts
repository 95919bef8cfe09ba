// Runs once around the whole suite. Every test process (and every CLI process a test spawns)
// gets a private temp folder through TMPDIR; after the suite it must be empty, or the run fails
// naming what a test left behind (a directory from tmp() not removed, a cache written under
// os.tmpdir() by src/). The private folder itself is then removed, so the system temp folder
// holds no new `mixlab-*` entry after `npm test`, whatever other processes do there meanwhile.
// One entry is expected: `mixlab-cache`, the sampler's default cache of decompressed corpus files,
// written by CLI runs that tests spawn without --cache; it lives and dies with the private folder.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const systemTmp = tmpdir();
  const runTmp = mkdtempSync(join(systemTmp, "mixlab-vitest-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = runTmp;
  return () => {
    const left = readdirSync(runTmp).filter((e) => e !== "mixlab-cache");
    rmSync(runTmp, { recursive: true, force: true });
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (left.length) {
      // vitest reports a teardown error but keeps its exit code; set ours so CI fails.
      process.exitCode = 1;
      const names = left.slice(0, 20).join(", ");
      throw new Error(`tests left ${left.length} entries in the temp folder (remove what a test creates): ${names}`);
    }
  };
}
