// Output paths checked before any work, and written whole or not at all. A command calls
// `checkOutputPath` for every file it will write as soon as its flags are parsed, so a typo in
// `-o` fails in milliseconds instead of after a fit; `writeOutputFile` then writes atomically with
// SIGINT/SIGTERM held off, so an interrupt never leaves a temporary or half-written file behind.

import { accessSync, constants, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";

/**
 * Checks that `path` can be written: its folder exists and is writable, and the path itself is
 * not a folder. Writes nothing.
 * @param flag the flag that named the path (`-o`, `--save-model`), for the message
 * @throws InputError `<flag>: <path>: expected a writable file in an existing folder, got …`
 */
export function checkOutputPath(path: string, flag: string): void {
  const fail = (got: string): never => {
    throw new InputError(flag, `${path}: expected a writable file in an existing folder, got ${got}`);
  };
  if (path.trim() === "") fail("an empty path");
  const dir = dirname(resolve(path));
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch (e) {
    return fail(`no folder ${JSON.stringify(dirname(path))} (${(e as NodeJS.ErrnoException).code ?? "missing"})`);
  }
  if (!dirStat.isDirectory()) fail(`${JSON.stringify(dirname(path))}, which is not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    fail(`a folder without write permission (${JSON.stringify(dirname(path))})`);
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    return; // a new file
  }
  if (st.isDirectory()) fail("a folder");
  try {
    accessSync(path, constants.W_OK);
  } catch {
    fail("a file without write permission");
  }
}

/**
 * Checks every output path of a command at once (undefined entries are skipped): each must be
 * writable, differ from the others, and differ from every input file, so a typo never overwrites
 * the user's data (`fit runs.csv -o runs.csv`).
 * @param inputs the files the command reads (undefined entries are skipped)
 */
export function checkOutputPaths(
  paths: readonly (readonly [flag: string, path: string | undefined])[],
  inputs: readonly (string | undefined)[] = [],
): void {
  const seen = new Map<string, string>();
  for (const input of inputs) if (input !== undefined) seen.set(resolve(input), `the input ${input}`);
  for (const [flag, path] of paths) {
    if (path === undefined) continue;
    checkOutputPath(path, flag);
    const key = resolve(path);
    const other = seen.get(key);
    if (other) throw new InputError(flag, `${path}: expected a different file from ${other}, got the same path`);
    seen.set(key, flag);
  }
}

/** Runs `fn` with SIGINT and SIGTERM held; a signal that arrived meanwhile is re-raised after it. */
function holdingSignals(fn: () => void): void {
  const pending: NodeJS.Signals[] = [];
  const hold = (sig: NodeJS.Signals): void => void pending.push(sig);
  process.on("SIGINT", hold);
  process.on("SIGTERM", hold);
  try {
    fn();
  } finally {
    process.off("SIGINT", hold);
    process.off("SIGTERM", hold);
    if (pending.length) process.kill(process.pid, pending[0]);
  }
}

/**
 * Writes `data` to `path` atomically while SIGINT and SIGTERM are held: a signal that arrives
 * during the write is re-raised once the file is complete (or its temporary file removed).
 */
export function writeOutputFile(path: string, data: string | Uint8Array): void {
  holdingSignals(() => writeFileAtomic(path, data));
}

/**
 * Writes several outputs all or none: every file goes to a temporary name first, and only when
 * all are written are they renamed into place (a failure removes the temporaries and leaves the
 * old files). Signals are held as in `writeOutputFile`.
 */
export function writeOutputFiles(files: readonly (readonly [path: string, data: string | Uint8Array])[]): void {
  holdingSignals(() => {
    const temps = files.map(([path]) => join(dirname(path), `.${basename(path)}.${process.pid}.tmp`));
    try {
      files.forEach(([, data], i) => writeFileSync(temps[i]!, data));
      files.forEach(([path], i) => renameSync(temps[i]!, path));
    } catch (e) {
      for (const t of temps) {
        try {
          unlinkSync(t);
        } catch {
          // never written, or already renamed
        }
      }
      throw e;
    }
  });
}
