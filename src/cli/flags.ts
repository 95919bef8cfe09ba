// Flag parsers and the shared "load a runs table" flags. Parsers throw commander's
// InvalidArgumentError, which the program reports with exit code 2.

import { InvalidArgumentError, type Command } from "commander";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readFrameAsync } from "../runs/frame.js";
import { buildRunsTable, failedRunsNote, joinFrames, type RunsTable } from "../runs/table.js";
import { InputError } from "../errors.js";
import { PRESETS, type ProxyConfig } from "../proxy/model.js";

/** A number, optionally constrained. */
export function numberFlag(what: string, check: (x: number) => boolean = () => true) {
  return (raw: string): number => {
    const x = Number(raw.replace(/_/g, ""));
    if (raw.trim() === "" || !Number.isFinite(x) || !check(x)) throw new InvalidArgumentError(
      `expected ${what}, got ${JSON.stringify(raw)}`,
    );
    return x;
  };
}

export const seedFlag = numberFlag(
  "an integer in [0, 4294967295]",
  (x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff,
);
export const positiveInt = numberFlag("an integer ≥ 1", (x) => Number.isInteger(x) && x >= 1);
export const nonNegativeInt = numberFlag("an integer ≥ 0", (x) => Number.isInteger(x) && x >= 0);
export const positiveNumber = numberFlag("a number > 0", (x) => x > 0);
export const share = numberFlag("a share in [0, 1]", (x) => x >= 0 && x <= 1);

/** `a=1,b=2` → { a: 1, b: 2 } (numbers may use e-notation and underscores). */
export function domainMapFlag(raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.lastIndexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(
      `expected domain=value pairs separated by commas, got ${JSON.stringify(part)}`,
    );
    const d = part.slice(0, eq).trim();
    const v = Number(part.slice(eq + 1).trim().replace(/_/g, ""));
    if (!Number.isFinite(v)) throw new InvalidArgumentError(
      `${d}: expected a number, got ${JSON.stringify(part.slice(eq + 1))}`,
    );
    if (d in out) throw new InvalidArgumentError(`expected each domain once, got ${JSON.stringify(d)} twice`);
    out[d] = v;
  }
  if (Object.keys(out).length === 0) throw new InvalidArgumentError(
    `expected domain=value pairs, got ${JSON.stringify(raw)}`,
  );
  return out;
}

/**
 * domain=value pairs whose values are finite, ≥ 0 and not all zero (`--tokens`, `--prior`):
 * a negative count or an all-zero prior is refused here, naming the domain.
 */
export function nonNegativeMapFlag(what: string) {
  return (raw: string): Record<string, number> => {
    const out = domainMapFlag(raw);
    for (const [d, v] of Object.entries(out)) if (!(v >= 0)) throw new InvalidArgumentError(
      `${d}: expected ${what} ≥ 0, got ${v}`,
    );
    if (!Object.values(out).some((v) => v > 0)) {
      throw new InvalidArgumentError(
        `expected at least one domain with ${what} > 0, got all zero (${JSON.stringify(raw)})`,
      );
    }
    return out;
  };
}

/** `--tokens`: token counts per domain (≥ 0, not all zero). */
export const tokensFlag = nonNegativeMapFlag("a token count");
/** `--prior`: prior shares per domain (≥ 0, not all zero; normalised by the command). */
export const priorFlag = nonNegativeMapFlag("a prior share");
/** `--fidelity-costs`: positive cost per fidelity label. */
export function costsFlag(raw: string): Record<string, number> {
  const out = domainMapFlag(raw);
  for (const [d, v] of Object.entries(out)) if (!(v > 0)) throw new InvalidArgumentError(
    `${d}: expected a cost > 0, got ${v}`,
  );
  return out;
}

/** A single number for every domain, or domain=value pairs. */
export function shareOrMapFlag(raw: string): number | Record<string, number> {
  if (!raw.includes("=")) return share(raw);
  return domainMapFlag(raw);
}

/** `a,b,c` → ["a", "b", "c"]. */
export function listFlag(raw: string): string[] {
  const out = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (out.length === 0) throw new InvalidArgumentError(`expected a comma-separated list, got ${JSON.stringify(raw)}`);
  return out;
}

/** JSON object flag (`--options '{"numRounds": 500}'`). */
export function jsonObjectFlag(raw: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new InvalidArgumentError(`expected a JSON object, got invalid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new InvalidArgumentError(
    `expected a JSON object, got ${raw}`,
  );
  return v as Record<string, unknown>;
}

/** Flags shared by every command that reads a runs table. */
export interface RunsFlags {
  losses?: string;
  joinOn?: string;
  weightsPrefix?: string;
  weights?: string[];
  lossPattern?: string;
  sumTolerance?: number;
}

/** Declares the runs-table flags on a command. */
export function addRunsFlags(cmd: Command): Command {
  return cmd
    .option("--losses <file>", "a second table of losses to join with RUNS (RegMix ships mixtures and losses apart)")
    .option("--join-on <column>", "the key column shared by RUNS and --losses")
    .option("--weights-prefix <prefix>", "prefix of the proportion columns; the rest of the name is the domain", "w.")
    .option(
      "--weights <columns>",
      "explicit proportion columns, comma-separated (overrides --weights-prefix)",
      listFlag,
    )
    .option(
      "--loss-pattern <pattern>",
      "rename loss columns to loss.<domain>, e.g. 'metric/the_pile_{domain}_val_loss'",
    )
    .option(
      "--sum-tolerance <x>",
      "accept rows whose proportions sum to 1 ± x (default: the rounding of their printed digits)",
      positiveNumber,
    );
}

/**
 * Reads RUNS (and --losses), validates, and returns the table and the SHA-256 of the inputs.
 * Failed runs (status "failed") are left out with one line on stderr, unless `failedRuns` is "keep".
 */
export async function loadRuns(
  path: string,
  f: RunsFlags,
  o: { failedRuns?: "exclude" | "keep" } = {},
): Promise<{ table: RunsTable; sha256: string; files: string[] }> {
  let frame = await readFrameAsync(path);
  const files = [path];
  if (f.losses) {
    if (!f.joinOn) throw new InputError(
      "--losses",
      "expected --join-on <column> naming the key shared by both tables, got none",
    );
    frame = joinFrames(frame, await readFrameAsync(f.losses), f.joinOn);
    files.push(f.losses);
  } else if (f.joinOn) throw new InputError("--join-on", "expected --losses <file> to join with, got none");
  const table = buildRunsTable(frame, {
    ...(f.weightsPrefix !== undefined ? { weightsPrefix: f.weightsPrefix } : {}),
    ...(f.weights ? { weights: f.weights } : {}),
    ...(f.lossPattern ? { lossPattern: f.lossPattern } : {}),
    ...(f.sumTolerance !== undefined ? { sumTolerance: f.sumTolerance } : {}),
    ...(o.failedRuns ? { failedRuns: o.failedRuns } : {}),
  });
  const note = failedRunsNote(table);
  if (note) process.stderr.write(`${note}\n`);
  const h = createHash("sha256");
  for (const file of files) h.update(readFileSync(file));
  return { table, sha256: h.digest("hex"), files };
}

/** Flags shared by the commands that train proxies (train, sweep). */
export interface ProxyFlags {
  corpus: string;
  heldout?: string;
  model: string;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  backend: string;
  untiedHead?: boolean;
}

/** The model of --model and --untied-head. */
export function proxyConfig(f: ProxyFlags): ProxyConfig {
  const preset = PRESETS[f.model];
  if (!preset) throw new InputError(
    "--model",
    `expected one of ${Object.keys(PRESETS).join(", ")}, got ${JSON.stringify(f.model)}`,
  );
  return f.untiedHead ? { ...preset, untiedHead: true } : preset;
}

/** The package's root: the nearest folder above this module with a package.json (from src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The corpus shipped with the package (datasets/corpus), wherever mixlab is run from. */
export const EMBEDDED_CORPUS = join(packageRoot(), "datasets", "corpus");

/** Sequences per proxy step: a bound checked before any backend loads (a proxy batch is a few MB a row). */
export const MAX_BATCH_SIZE = 4096;
const batchSizeFlag = numberFlag(
  `an integer in [1, ${MAX_BATCH_SIZE}]`,
  (x) => Number.isInteger(x) && x >= 1 && x <= MAX_BATCH_SIZE,
);

/** Declares the proxy-training flags on a command. */
export function addProxyFlags(cmd: Command, models: readonly string[]): Command {
  return cmd
    .option("--corpus <dir>", "a built corpus folder (train/ + heldout/); default the embedded sample", EMBEDDED_CORPUS)
    .option("--heldout <dir>", "held-out corpus directory, when --corpus is a plain directory")
    .option("--model <preset>", `model preset: ${models.join(", ")}`, "tiny")
    .option("--steps <n>", "optimizer steps per run", positiveInt, 100)
    .option("--batch-size <n>", `sequences per step (at most ${MAX_BATCH_SIZE})`, batchSizeFlag, 16)
    .option("--lr <x>", "peak learning rate", positiveNumber, 3e-3)
    .option("--seed <n>", "seed of every run", seedFlag, 0)
    .option(
      "--backend <name>",
      "auto, tensorflow, webgpu, blas, wasm or cpu (auto: the first that loads, in that order)",
      "auto",
    )
    .option("--untied-head", "give the model an output head of its own instead of tying it to the token embedding");
}
