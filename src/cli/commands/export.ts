// `mixlab export P.json --format F`: proportions in another trainer's format.

import { readInputText } from "../../io/read.js";
import type { Command } from "commander";
import { parseProportions } from "../../export/proportions.js";
import { exportProportions, EXPORT_FORMATS, type ExportFormat } from "../../export/formats.js";
import { InputError } from "../../errors.js";
import { writeResult } from "../output.js";
import { checkOutputPaths } from "../../io/output.js";
import { positiveInt, positiveNumber } from "../flags.js";

export function exportCommand(program: Command): void {
  program
    .command("export")
    .argument("<proportions>", "a mixlab.proportions/v1 JSON file")
    .summary("write proportions in Megatron, Hugging Face, MosaicML Streaming, OLMo or Levanter form")
    .option("-f, --format <name>", EXPORT_FORMATS.join("|"), "json")
    .option("--path-prefix <prefix>", "prefix of each domain's data path in the output")
    .option(
      "--max-epochs <e>",
      "OLMo's max_repetition_ratio (default: the constraint recorded, else 1)",
      positiveNumber,
    )
    .option(
      "--phase <n>",
      "export stage N (1-based) of a schedule as one mixture (Megatron per-phase blends)",
      positiveInt,
    )
    .option("--static", "export the static answer (`domains`) of a document with a schedule")
    .option("--seq-len <n>", "tokens per sequence (Levanter's stage starts are sequence indices)", positiveInt)
    .option("-o, --out <file>", "write here instead of stdout")
    .addHelpText("after", "\nExample:\n  $ mixlab export proportions.json --format megatron --path-prefix /data/pile/")
    .action((path: string, f: {
      format: string;
      pathPrefix?: string;
      maxEpochs?: number;
      out?: string;
      phase?: number;
      static?: boolean;
      seqLen?: number;
    }) => {
      if (!(EXPORT_FORMATS as readonly string[]).includes(f.format)) throw new InputError(
        "--format",
        `expected one of ${EXPORT_FORMATS.join(", ")}, got ${JSON.stringify(f.format)}`,
      );
      if (f.phase !== undefined && f.static) throw new InputError(
        "--phase",
        `expected either --phase or --static (one stage, or the static answer), got --phase ${f.phase} with --static`,
      );
      // Flags a format does not read are refused, not ignored.
      const usesPrefix = ["megatron", "streaming", "olmo"];
      if (f.pathPrefix !== undefined && !usesPrefix.includes(f.format)) {
        throw new InputError(
          "--path-prefix",
          `expected a format with data paths (${usesPrefix.join(", ")}), got --format ${f.format}`,
        );
      }
      if (f.maxEpochs !== undefined && f.format !== "olmo") {
        throw new InputError(
          "--max-epochs",
          `expected --format olmo (its max_repetition_ratio), got --format ${f.format}`,
        );
      }
      checkOutputPaths([["--out", f.out]], [path]);
      const text = readInputText(path);
      const doc = parseProportions(text, path);
      writeResult(
        exportProportions(doc, f.format as ExportFormat, {
          ...(f.pathPrefix !== undefined ? { pathPrefix: f.pathPrefix } : {}),
          ...(f.maxEpochs !== undefined ? { maxEpochs: f.maxEpochs } : {}),
          ...(f.phase !== undefined ? { phase: f.phase } : {}),
          ...(f.static ? { static: true } : {}),
          ...(f.seqLen !== undefined ? { seqLen: f.seqLen } : {}),
        }),
        f.out,
      );
    });
}
