// `mixlab datasets build|list|stats`: build the embedded corpus from Debian and npm packages,
// and inspect any corpus directory.

import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import { InputError } from "../../errors.js";
import { join } from "node:path";
import { buildCorpus } from "../../datasets/build.js";
import { DOMAINS } from "../../datasets/domains.js";
import { corpusStats } from "../../datasets/stats.js";
import { openCorpus } from "../../sampler/corpus.js";
import { listFlag, positiveNumber, seedFlag } from "../flags.js";
import { log, table } from "../output.js";

/** `--split`: train or heldout. */
function splitFlag(raw: string): string {
  if (raw !== "train" && raw !== "heldout") throw new InvalidArgumentError(
    `expected train or heldout, got ${JSON.stringify(raw)}`,
  );
  return raw;
}

/** A folder flag (`--out`, `--cache`): missing (it is made) or a folder, never a file. */
function checkFolder(path: string | undefined, flag: string): void {
  if (path !== undefined && existsSync(path) && !statSync(path).isDirectory()) {
    throw new InputError(flag, `expected a folder (made when missing), got the file ${JSON.stringify(path)}`);
  }
}

/** A built corpus folder holds train/ and heldout/; a plain corpus directory is used as is. */
function corpusDir(dir: string, split: string): string {
  return existsSync(join(dir, "manifest.json")) && existsSync(join(dir, split)) ? join(dir, split) : dir;
}

export function datasetsCommand(program: Command): void {
  const ds = program.command("datasets").summary("build the embedded corpus; list and measure corpora");
  ds.command("build")
    .summary("build the ten-domain corpus from Debian and npm packages")
    .option("--out <dir>", "output folder (train/, heldout/, manifest.json)", "mixlab-corpus")
    .option("--domains <a,b>", `domains to build (default all: ${DOMAINS.map((d) => d.name).join(", ")})`, listFlag)
    .option("--max-mb <n>", "cap on each domain's text in MB", positiveNumber, 16)
    .option("--cache <dir>", "package cache (default <out>/.cache)")
    .option("--compress", "write .jsonl.br (brotli) instead of .jsonl")
    .option("--shippable-only", "only the domains whose licences allow shipping a sample")
    .option("--force", "rebuild domains that are already up to date")
    .option("--seed <n>", "seed of the size caps", seedFlag, 0)
    .addHelpText("after", "\nExample:\n  $ mixlab datasets build --out corpus --domains legal,speeches --max-mb 4")
    .action(async (f: {
      out: string;
      domains?: string[];
      maxMb: number;
      cache?: string;
      compress?: boolean;
      shippableOnly?: boolean;
      force?: boolean;
      seed: number;
    }) => {
      checkFolder(f.out, "--out");
      checkFolder(f.cache, "--cache");
      const t0 = performance.now();
      const m = await buildCorpus({
        out: f.out,
        maxMb: f.maxMb,
        seed: f.seed,
        ...(f.domains ? { domains: f.domains } : {}),
        ...(f.cache ? { cache: f.cache } : {}),
        ...(f.compress ? { compress: true } : {}),
        ...(f.shippableOnly ? { shippableOnly: true } : {}),
        ...(f.force ? { force: true } : {}),
      });
      log(
        `built ${m.domains.length} domains in ${((performance.now() - t0) / 1000).toFixed(1)} s into ${f.out}` +
          `${m.notBuilt.length ? `; ${m.notBuilt.length} not built here` : ""}`,
      );
    });
  ds.command("list")
    .argument("<dir>", "a corpus directory (or a built corpus folder: its train/ split)")
    .summary("domains, files and records of a corpus")
    .option("--split <s>", "train or heldout, for a built corpus folder", splitFlag, "train")
    .addHelpText("after", "\nExample:\n  $ mixlab datasets list datasets/corpus")
    .action(async (dir: string, f: { split: string }) => {
      const c = await openCorpus(corpusDir(dir, f.split));
      process.stdout.write(`${table(
        ["domain", "records", "bytes", "files"],
        c.names.map((n, i) => [
          n,
          String(c.sources[i]!.numRecords),
          String(c.sources[i]!.totalBytes),
          c.layout.domains[i]!.files.map((x) => x.slice(c.layout.dir.length + 1)).join(" "),
        ]),
      )}\n`);
      await c.close();
    });
  ds.command("stats")
    .argument("<dir>", "a corpus directory (or a built corpus folder: its train/ split)")
    .summary("records, bytes, tokens and pairwise Jensen–Shannon divergence of domains")
    .option("--split <s>", "train or heldout, for a built corpus folder", splitFlag, "train")
    .option("--tokenizer <name>", "also count tokens with gpt-tokenizer's encode (if installed)")
    .addHelpText("after", "\nExample:\n  $ mixlab datasets stats datasets/corpus")
    .action(async (dir: string, f: { split: string; tokenizer?: string }) => {
      let other: ((t: string) => Int32Array) | undefined;
      if (f.tokenizer) {
        try {
          const mod = (await import(f.tokenizer)) as { encode: (t: string) => number[] };
          other = (t) => Int32Array.from(mod.encode(t));
        } catch {
          throw new InputError(
            "--tokenizer",
            `expected an installed npm package with an encode(text) export, got ${JSON.stringify(f.tokenizer)}`,
          );
        }
      }
      const c = await openCorpus(corpusDir(dir, f.split));
      const { stats, bigram, unigram } = await corpusStats(c.names, c.sources, other);
      const rows = stats.map((s) => [
        s.domain,
        String(s.records),
        (s.bytes / 2 ** 20).toFixed(2),
        String(s.tokens),
        ...(other ? [String(s.otherTokens)] : []),
      ]);
      process.stdout.write(
        `${table(["domain", "records", "MB", "byte tokens", ...(other ? [`${f.tokenizer} tokens`] : [])], rows)}\n`,
      );
      const matrix = (title: string, m: number[][]) =>
        `\n${title}\n${table(
          ["", ...c.names],
          c.names.map((n, i) => [n, ...m[i]!.map((v, j) => (i === j ? "-" : v.toFixed(2)))]),
        )}\n`;
      process.stdout.write(matrix("Jensen–Shannon divergence (bits), byte bigrams", bigram));
      process.stdout.write(matrix("Jensen–Shannon divergence (bits), word unigrams", unigram));
      await c.close();
    });
}
