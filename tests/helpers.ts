// Shared test helpers: the RegMix fixture tables and temporary directories that remove
// themselves (after the test file, or at once with `withTmp`).
import { afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readFrame } from "../src/runs/frame.js";
import { buildRunsTable, joinFrames, type RunsTable } from "../src/runs/table.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const REGMIX = join(ROOT, "datasets", "regmix");

/** Loads a RegMix mixtures + losses pair as a runs table (losses renamed to loss.<domain>). */
export function regmixTable(mixtures: string, losses: string): RunsTable {
  return buildRunsTable(joinFrames(readFrame(join(REGMIX, mixtures)), readFrame(join(REGMIX, losses)), "index"), {
    weightsPrefix: "train_the_pile_",
    lossPattern: "metric/the_pile_{domain}_val_loss",
  });
}

/** RegMix's natural token prior, in a table's domain order. */
export function regmixPrior(domains: readonly string[]): Float64Array {
  const p = JSON.parse(readFileSync(join(REGMIX, "token-prior.json"), "utf8")).domains as Record<string, number>;
  return Float64Array.from(domains.map((d) => p[d]!));
}

/** RegMix's own 1B mixture (mixture_config_1b/regmix.yaml), by domain. */
export function regmix1bMixture(): Record<string, number> {
  const text = readFileSync(join(REGMIX, "mixture_config_1b", "regmix.yaml"), "utf8");
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/train_the_pile_(\w+): ([0-9.e-]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

const made: string[] = [];

/** Removes every directory `tmp()` made in this test file. */
function removeTmps(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}
// Registered when a test file imports this module (its top level runs while the file is collected).
afterAll(removeTmps);

/** A fresh `mixlab-test-*` directory in the system temp folder, removed after the test file. */
export function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "mixlab-test-"));
  made.push(d);
  return d;
}

/** Runs `fn` with a fresh temporary directory and removes it when `fn` settles. */
export async function withTmp<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const d = mkdtempSync(join(tmpdir(), "mixlab-test-"));
  try {
    return await fn(d);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}
