// `mixlab demo [--quick] [--out DIR]`: the whole loop on the embedded corpus.

import type { Command } from "commander";
import { join } from "node:path";
import { runDemo } from "../../demo.js";
import { EMBEDDED_CORPUS, seedFlag } from "../flags.js";
import { log, table, f4 } from "../output.js";
import { BACKENDS, type BackendName } from "../../proxy/backend.js";
import { existsSync, statSync } from "node:fs";
import { InputError } from "../../errors.js";

export function demoCommand(program: Command): void {
  program
    .command("demo")
    .summary("the whole loop on the embedded corpus: swarm → proxies → fit → recommend → measure")
    .option("--quick", "a smaller swarm and shorter runs (under a minute)")
    .option("--out <dir>", "output folder (runs.arrow, proportions.json)", "mixlab-demo")
    .option("--corpus <dir>", "a built corpus folder (default: the embedded sample)", EMBEDDED_CORPUS)
    .option("--seed <n>", "seed", seedFlag, 0)
    .option(
      "--backend <name>",
      "auto, tensorflow, webgpu, blas, wasm or cpu (auto: the first that loads, in that order)",
      "auto",
    )
    .addHelpText("after", "\nExample:\n  $ npx mixlab demo --quick")
    .action(async (f: { quick?: boolean; out: string; corpus: string; seed: number; backend: string }) => {
      // Flags checked before any run starts.
      if (!(BACKENDS as readonly string[]).includes(f.backend)) {
        throw new InputError("--backend", `expected one of ${BACKENDS.join(", ")}, got ${JSON.stringify(f.backend)}`);
      }
      const lacks = ["manifest.json", "train", "heldout"].filter((x) => !existsSync(join(f.corpus, x)));
      if (lacks.length) {
        throw new InputError(
          "--corpus",
          `expected a built corpus folder (manifest.json, train/, heldout/: mixlab datasets build), ` +
            `got ${JSON.stringify(f.corpus)} without ${lacks.join(", ")}`,
        );
      }
      if (existsSync(f.out) && !statSync(f.out).isDirectory()) {
        throw new InputError("--out", `expected a folder (made when missing), got the file ${JSON.stringify(f.out)}`);
      }
      const r = await runDemo({
        out: f.out,
        quick: Boolean(f.quick),
        corpus: f.corpus,
        seed: f.seed,
        backend: f.backend as BackendName,
        log,
      });
      const domains = Object.keys(r.rows[0]!.proportions);
      const answer = r.rows.find((x) => x.role === "answer")!;
      const verdict = r.rows
        .filter((x) => x.role === "baseline")
        .map((b) =>
          answer.measured < b.measured
            ? `beats ${b.name} by ${(b.measured - answer.measured).toFixed(4)}`
            : `does not beat ${b.name} (worse by ${(answer.measured - b.measured).toFixed(4)})`,
        )
        .join(", ");
      process.stdout.write(
        `\n${table(
          ["mixture", `predicted (${r.chosen})`, "measured", ...domains],
          r.rows.map((x) => [
            x.name,
            f4(x.predicted),
            f4(x.measured),
            ...domains.map((d) => (x.proportions[d] ?? 0).toFixed(3)),
          ]),
        )}\n\n` +
          "cross-validated quality of every law (auto keeps the laws within one standard error " +
          `of the best Spearman, then the lowest top-decile regret):\n${table(
            ["law", "CV Spearman", "top-decile regret (sd)", "verdict"],
            r.laws.map((l) => [
              l.law,
              f4(l.spearman),
              f4(l.topDecileRegret),
              l.chosen ? "chosen" : l.kept ? "kept, not best" : "rejected",
            ]),
          )}\n\n` +
          `mean held-out loss in nats per byte (lower is better); the recommendation ${verdict}` +
          `${r.diagnostics.length
            ? `; ${r.diagnostics.length} warning${r.diagnostics.length > 1 ? "s" : ""} ` +
              `(${r.diagnostics.map((d) => d.code).join(", ")}, see stderr)`
            : "; no support warning"}; ` +
          `${r.seconds.toFixed(0)} s; wrote ${join(f.out, "proportions.json")} and ${join(f.out, "runs.arrow")}\n` +
          `report: ${r.report}\n`,
      );
    });
}
