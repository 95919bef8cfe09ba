// `mixlab predict MODEL MIXTURES`: reload a saved law and predict the target for each mixture;
// every input column is kept and a `predicted` column appended.

import type { Command } from "commander";
import { readInputText } from "../../io/read.js";
import { z } from "zod";
import { laws, type Law, type FittedLaw } from "../../../mixers/index.js";
import { addRunsFlags, loadRuns, type RunsFlags } from "../flags.js";
import { InputError, ZOD_MESSAGES, zodIssues } from "../../errors.js";
import { formatOf, serializeFrame, type Cell } from "../../runs/frame.js";
import { writeResult, log } from "../output.js";
import { checkOutputPaths } from "../../io/output.js";

const SavedLawSchema = z.strictObject({
  format: z.literal("mixlab.law/v1"),
  method: z.string(),
  domains: z.array(z.string()).min(2),
  target: z.string(),
  params: z.record(z.string(), z.unknown()),
});

/** Rebuilds the law, naming the model file and the field (`params.model.left`) when its params are bad. */
function loadSavedLaw(law: Law, saved: z.infer<typeof SavedLawSchema>, modelPath: string): FittedLaw {
  const dup = saved.domains.filter((d, i) => saved.domains.indexOf(d) !== i);
  if (dup.length) {
    throw new InputError(
      modelPath,
      `domains: expected unique names, got ${dup.map((d) => JSON.stringify(d)).join(", ")} twice`,
    );
  }
  try {
    return law.load(saved.domains, saved.params);
  } catch (e) {
    if (e instanceof InputError) {
      throw new InputError(
        modelPath,
        e.source === "model"
          ? e.issues
          : e.issues.map((i) => ({
              path: `params.options${i.path && i.path !== "options" ? `.${i.path}` : ""}`,
              message: i.message,
            })),
      );
    }
    throw e;
  }
}

interface PredictFlags extends RunsFlags {
  out?: string;
}

export function predictCommand(program: Command): void {
  const cmd = program
    .command("predict")
    .argument("<model>", "a law saved by `mixlab fit --save-model`")
    .argument("<mixtures>", "a table with w.<domain> columns")
    .summary("predict the target of mixtures with a saved law")
    .option("-o, --out <file>", "output table (format by extension; default CSV on stdout)");
  addRunsFlags(cmd);
  cmd.addHelpText(
    "after",
    "\nExample:\n  $ mixlab fit runs.csv -m regmix -t loss.web --save-model law.json\n" +
      "  $ mixlab predict law.json candidates.csv -o scored.csv",
  );
  cmd.action(async (modelPath: string, mixturesPath: string, f: PredictFlags) => {
    checkOutputPaths([["--out", f.out]], [modelPath, mixturesPath, f.losses]);
    const format = f.out ? formatOf(f.out, "--out") : "csv";
    const text = readInputText(modelPath);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new InputError(modelPath, `expected a saved law (JSON), got invalid JSON (${(e as Error).message})`);
    }
    const parsed = SavedLawSchema.safeParse(raw, ZOD_MESSAGES);
    if (!parsed.success) throw new InputError(modelPath, zodIssues(parsed.error.issues));
    const saved = parsed.data;
    const law = laws[saved.method];
    if (!law) throw new InputError(
      modelPath,
      `method: expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(saved.method)}`,
    );
    const fitted = loadSavedLaw(law, saved, modelPath);
    const { table } = await loadRuns(mixturesPath, f, { failedRuns: "keep" }); // every input row is scored and kept
    const missing = saved.domains.filter((d) => !table.domains.includes(d));
    const extra = table.domains.filter((d) => !saved.domains.includes(d));
    if (missing.length || extra.length) {
      throw new InputError(mixturesPath, [
        ...missing.map((d) => ({
          path: `domain ${JSON.stringify(d)}`,
          message: `expected a proportion column for this domain of the model, got none`,
        })),
        ...extra.map((d) => ({
          path: `domain ${JSON.stringify(d)}`,
          message: `expected only the model's domains (${saved.domains.join(", ")}), got this one too`,
        })),
      ]);
    }
    // Reorder columns by name into the model's domain order.
    const k = saved.domains.length;
    const idx = saved.domains.map((d) => table.domains.indexOf(d));
    const w = new Float64Array(table.numRuns * k);
    for (let i = 0; i < table.numRuns; i++)
      for (let j = 0; j < k; j++) w[i * k + j] = table.weights[i * table.domains.length + idx[j]!]!;
    const pred = fitted.predict(w);
    const frame = table.frame;
    const name = frame.cells.has("predicted") ? "predicted.mixlab" : "predicted";
    const cells = new Map(frame.cells);
    cells.set(name, Array.from(pred, (v): Cell => (Number.isFinite(v) ? v : null)));
    const out = {
      source: frame.source,
      columns: [...frame.columns, name],
      cells,
      numRows: frame.numRows,
      ...(frame.text ? { text: frame.text } : {}),
    }; // cells as written
    writeResult(await serializeFrame(out, format), f.out);
    log(
      `predicted ${saved.target} for ${table.numRuns} mixtures with ${saved.method}` +
        `${f.out ? `; wrote ${f.out}` : ""}`,
    );
  });
}
