// Reading a user-named file: any failure (missing, a directory, no permission) becomes one
// InputError naming the file and the system's reason, so the CLI exits with code 2.

import { readFileSync } from "node:fs";
import { InputError } from "../errors.js";

/** The bytes of a user-named file. @throws InputError "expected a readable file, got ENOENT" etc. */
export function readInputFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new InputError(path, `expected a readable file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/**
 * The UTF-8 text of a user-named file (same errors as readInputFile), without the byte-order
 * mark some editors put first (it would otherwise make JSON.parse fail on a valid document).
 */
export function readInputText(path: string): string {
  const text = readInputFile(path).toString("utf8");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
