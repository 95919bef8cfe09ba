// writeFileAtomic under a signal: SIGINT arriving mid-write is held until the file is renamed,
// then ends the process as before; no temporary file is left.
import { afterEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const SIZE = 16 * 1024 * 1024;
const CHILD = `
import { writeFileAtomic } from ${JSON.stringify(join(ROOT, "dist", "src", "io", "atomic.js"))};
const data = Buffer.alloc(${SIZE}, 97);
process.stdout.write("ready\\n");
process.stdin.once("data", () => {
  process.stdin.destroy();
  for (let i = 0; i < 10; i++) writeFileAtomic(process.argv[1], data);
  setTimeout(() => process.stdout.write("survived\\n"), 3000);
});
`;

describe("writeFileAtomic and signals", () => {
  it("SIGINT during the write: the file is complete, no temporary file, the process still ends by SIGINT", async () => {
    const dir = tmp();
    dirs.push(dir);
    const out = join(dir, "out.bin");
    const args = ["--input-type=module", "-e", CHILD, out];
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    const exit = new Promise<NodeJS.Signals | null>((r) => child.on("exit", (_c, s) => r(s)));
    while (!stdout.includes("ready")) await new Promise((r) => setTimeout(r, 10));
    child.stdin!.write("go\n");
    // Signal as soon as a temporary file is seen (the writes take a while: 10 × 16 MiB).
    const tmpName = `.out.bin.${child.pid}.tmp`;
    const t0 = performance.now();
    let seen = false;
    while (!(seen = readdirSync(dir).includes(tmpName)) && performance.now() - t0 < 10_000) {
      await new Promise((r) => setImmediate(r));
    }
    child.kill("SIGINT");
    expect(seen).toBe(true); // the signal lands mid-write
    expect(await exit).toBe("SIGINT");
    expect(stdout).not.toMatch(/survived/);
    expect(readdirSync(dir)).toEqual(existsSync(out) ? ["out.bin"] : []);
    if (existsSync(out)) expect(statSync(out).size).toBe(SIZE);
  }, 30_000);
});
