// Atomic file writes: write to a temporary name in the same folder, then rename, so an
// interrupted run never leaves a half-written output behind. The temporary file is removed when
// the write fails, and SIGINT/SIGTERM/SIGHUP arriving during the write are held until the file
// is renamed (or removed), then delivered as before: no temporary file outlives a signal.

import { renameSync, writeFileSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

// One shared listener for all writes in flight (a process has one set of signal handlers).
let writesInFlight = 0;
const held: NodeJS.Signals[] = [];
const hold = (s: NodeJS.Signals): void => void held.push(s);

function holdSignals(): void {
  if (writesInFlight++ === 0) for (const s of SIGNALS) process.on(s, hold);
}

function releaseSignals(): void {
  // A signal's callback runs in the event loop's poll phase; the write may itself run inside a
  // poll-phase callback, so the listener stays for two check phases, with a poll phase between.
  setImmediate(() =>
    setImmediate(() => {
      if (--writesInFlight > 0) return;
      for (const s of SIGNALS) process.off(s, hold);
      const s = held[0];
      held.length = 0;
      if (s !== undefined && process.listenerCount(s) === 0) process.kill(process.pid, s);
    }),
  );
}

/** The temporary name `writeFileAtomic` uses for `path` in this process. */
export function tempPathOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
}

/**
 * Writes `data` to `path` atomically (same-directory temporary file, then rename).
 * @throws the file system's error (the temporary file removed) when the write or the rename fails
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tempPathOf(path);
  // A listener keeps Node from dying on a signal mid-write; a signal that came is re-sent once
  // the listener is gone, so the process ends as it would have (unless others listen too).
  holdSignals();
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
  } finally {
    releaseSignals();
  }
}
