// Atomic file writes: write to a temporary name in the same folder, then rename, so an
// interrupted run never leaves a half-written output behind.

import { renameSync, writeFileSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Writes `data` to `path` atomically (same-directory temporary file, then rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file was never created
    }
    throw e;
  }
}
