// The mixlab program: builds the commander program and runs it. Errors are caught once here:
// bad input (InputError, a bad flag) prints one message and exits 2; other failures exit 1;
// --verbose adds the stack.

import { Command, CommanderError } from "commander";
import { MixError, InputError } from "../errors.js";
import { VERSION } from "../version.js";
import { fitCommand } from "./commands/fit.js";
import { predictCommand } from "./commands/predict.js";
import { suggestCommand } from "./commands/suggest.js";
import { exportCommand } from "./commands/export.js";
import { sampleCommand } from "./commands/sample.js";
import { datasetsCommand } from "./commands/datasets.js";
import { trainCommand } from "./commands/train.js";
import { demoCommand } from "./commands/demo.js";
import { sweepCommand } from "./commands/sweep.js";
import { workerCommand } from "./commands/worker.js";
import { serveCommand } from "./commands/serve.js";
import { reportCommand } from "./commands/report.js";

/** Builds the program (exported for in-process tests). */
export function buildProgram(): Command {
  const program = new Command("mixlab")
    .description("Choose and apply data mixtures for language-model pretraining.")
    .version(VERSION)
    .option("--verbose", "print stacks with errors")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  fitCommand(program);
  predictCommand(program);
  suggestCommand(program);
  exportCommand(program);
  sampleCommand(program);
  datasetsCommand(program);
  trainCommand(program);
  demoCommand(program);
  sweepCommand(program);
  workerCommand(program);
  serveCommand(program);
  reportCommand(program);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program).slice(1)) c.exitOverride().showHelpAfterError("(run with --help for usage)");
  return program;
}

/** Runs the CLI on argv; sets process.exitCode. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    const verbose = argv.includes("--verbose");
    if (e instanceof InputError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = 2;
    } else if (e instanceof MixError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`error: ${(e as Error).message ?? String(e)}\n`);
      process.exitCode = 1;
    }
    if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  }
}
