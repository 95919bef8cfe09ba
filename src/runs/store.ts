// The runs table as a store shared by processes. Appends are serialised by a lock file beside
// the table (`<table>.lock`, created exclusively, holding the holder's pid and host); a lock whose
// holder is a dead process on this host is taken over, one held longer than the wait bound is an
// error naming the holder. Under the lock the table is read, rows whose run key is already there
// are left out, and the file is replaced atomically, so a reader always sees a whole table.
// Runs being trained are claimed with one file per key in `<table>.claims/`, so two sweeps never
// train the same run; a claim of a dead process is taken over the same way.
//
// A writer killed mid-write (SIGKILL) leaves its temporary file; the next append removes it.
//
// Why a lock and not append-only shards: every reader (fit, suggest, predict, other tools) keeps
// reading one ordinary file, and the duplicate check needs one place to look.

import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import { rmdirSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { MixError } from "../errors.js";
import { tempPathOf, writeFileAtomic } from "../io/atomic.js";
import { appendToTableBytes } from "./append.js";
import { formatOf, parseFrame, readFrameAsync, type Cell, type Frame } from "./frame.js";

/** Who holds a lock or a claim. */
export interface Holder {
  readonly pid: number;
  readonly host: string;
}

/** Options of lock waits. */
export interface LockOptions {
  /** How long to wait for a lock held by a live process, in ms (default 60 000). */
  readonly waitMs?: number;
  /** Called once when the lock is busy, with its holder (e.g. to log that we wait). */
  readonly onWait?: (holder: Holder | null) => void;
}

/** A lock or claim could not be taken (not the input's fault: exit 1). */
export class LockError extends MixError {
  constructor(message: string) {
    super("E_LOCK", message);
    this.name = "LockError";
  }
}

const POLL_MS = 25;
const ME: Holder = { pid: process.pid, host: hostname() };

/** The lock file of a table. */
export function lockPathOf(table: string): string {
  return `${table}.lock`;
}

/** The claims folder of a table. */
export function claimsDirOf(table: string): string {
  return `${table}.claims`;
}

function readHolder(path: string): Holder | null {
  try {
    const o = JSON.parse(readFileSync(path, "utf8")) as Partial<Holder>;
    return typeof o.pid === "number" && typeof o.host === "string" ? { pid: o.pid, host: o.host } : null;
  } catch {
    return null; // gone, or being written: look again
  }
}

/** True when the holder is a process on this host that no longer exists. */
export function holderIsDead(h: Holder): boolean {
  if (h.host !== ME.host) return false;
  if (h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Creates `path` exclusively with this process as holder; false when it exists. */
function createExclusive(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(ME));
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes `path` if it still names the dead holder `h`. The check and the removal run under a
 * second exclusive file (`path.break`) so two processes cannot both break one lock and remove
 * the fresh lock of the winner; a `.break` file older than 10 s is itself stale.
 */
function breakStale(path: string, h: Holder): void {
  const guard = `${path}.break`;
  if (!createExclusive(guard)) {
    try {
      if (Date.now() - statSync(guard).mtimeMs > 10_000) unlinkSync(guard);
    } catch {
      // someone else removed it
    }
    return;
  }
  try {
    const now = readHolder(path);
    if (now && now.pid === h.pid && now.host === h.host) unlinkSync(path);
  } catch {
    // already gone
  } finally {
    unlinkSync(guard);
  }
}

/** Takes an exclusive file, waiting while a live process holds it and taking it over from a dead one. */
async function acquire(path: string, what: string, o: LockOptions): Promise<void> {
  const waitMs = o.waitMs ?? 60_000;
  const t0 = performance.now();
  let told = false;
  for (;;) {
    if (createExclusive(path)) return;
    const h = readHolder(path);
    if (h && holderIsDead(h)) {
      breakStale(path, h);
      continue;
    }
    if (!told) {
      o.onWait?.(h);
      told = true;
    }
    if (performance.now() - t0 > waitMs) {
      const who = h ? `pid ${h.pid} on host ${h.host}` : "a process that left no pid";
      throw new LockError(
        `${path}: expected to take ${what} within ${waitMs / 1000} s, got it held by ${who}; ` +
          `if that process is gone (another host's cannot be checked from here), delete ${path}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Runs `fn` while holding the table's lock file; the lock is removed afterwards, also on error.
 * @throws LockError when a live process holds the lock longer than `waitMs`
 */
export async function withTableLock<T>(table: string, fn: () => Promise<T> | T, o: LockOptions = {}): Promise<T> {
  const path = lockPathOf(table);
  await acquire(path, "the runs-table lock", o);
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // removed by hand: nothing to release
    }
  }
}

/** Reads a runs table file, or null when it does not exist yet. */
export async function readRunsFile(table: string): Promise<Frame | null> {
  return existsSync(table) ? readFrameAsync(table) : null;
}

/** The run ids of a frame, as text (`007` and `7` are two ids). */
export function runIdsOf(frame: Frame | null): Set<string> {
  const out = new Set<string>();
  for (const v of frame?.cells.get("run_id") ?? []) if (v !== null) out.add(String(v));
  return out;
}

/**
 * Removes temporary files of the table left by a writer that died mid-write (SIGKILL). Called
 * under the lock: every writer of the table holds it, so no other temporary file is live.
 */
function removeStaleTemps(table: string): void {
  const dir = dirname(table);
  const prefix = `.${basename(table)}.`;
  const mine = basename(tempPathOf(table));
  for (const name of readdirSync(dir)) {
    const pid = name.startsWith(prefix) && name.endsWith(".tmp") ? name.slice(prefix.length, -4) : "";
    if (/^\d+$/.test(pid) && name !== mine) {
      try {
        unlinkSync(join(dir, name));
      } catch {
        // already gone
      }
    }
  }
}

/** What an append did. */
export interface AppendResult {
  /** Keys of the rows written. */
  readonly appended: string[];
  /** Keys left out because the table already had them. */
  readonly duplicates: string[];
  /** Rows in the table afterwards. */
  readonly numRows: number;
}

/**
 * Appends rows to a runs table (created when missing) under the table's lock: rows whose
 * `run_id` is already in the table (or twice in `rows`) are not written; existing cells are kept
 * byte for byte (CSV, JSONL) or value for value with their column types (Arrow, Parquet); the
 * file is replaced atomically.
 * @throws InputError when the table does not parse; LockError when the lock cannot be taken
 */
export async function appendRuns(
  table: string,
  rows: readonly ReadonlyMap<string, Cell>[],
  o: LockOptions = {},
): Promise<AppendResult> {
  const format = formatOf(table);
  return withTableLock(
    table,
    async () => {
      removeStaleTemps(table);
      const old = existsSync(table) ? readFileSync(table) : null;
      const parse = async (b: Uint8Array): Promise<Frame> =>
        format === "parquet" ? readFrameAsync(table) : parseFrame(b, format, table);
      const frame = old && old.byteLength > 0 ? await parse(old) : null;
      const have = runIdsOf(frame);
      const appended: string[] = [];
      const duplicates: string[] = [];
      const fresh = rows.filter((r) => {
        const id = r.get("run_id");
        const key = id === null || id === undefined ? null : String(id);
        if (key !== null && have.has(key)) {
          duplicates.push(key);
          return false;
        }
        if (key !== null) {
          have.add(key);
          appended.push(key);
        }
        return true;
      });
      const numOld = frame?.numRows ?? 0;
      if (fresh.length === 0) return { appended, duplicates, numRows: numOld };
      writeFileAtomic(table, await appendToTableBytes(old, { source: table, format, rows: fresh }));
      return { appended, duplicates, numRows: numOld + fresh.length };
    },
    o,
  );
}

/** A claim on a run: while it exists no other process trains that run. */
export interface Claim {
  readonly key: string;
  readonly path: string;
}

function claimPath(table: string, key: string): string {
  if (!/^[\w.-]+$/.test(key)) {
    throw new MixError("E_KEY", `run key ${JSON.stringify(key)}: expected letters, digits, '.', '_' or '-'`);
  }
  return join(claimsDirOf(table), key);
}

/**
 * Claims a run before training it. Returns the claim, or the live holder of an existing claim
 * (another sweep is training it); a dead holder's claim is taken over. The caller checks the
 * table for the key after claiming (a run finished by another process has no claim any more).
 */
export function claimRun(table: string, key: string): Claim | { heldBy: Holder } {
  const path = claimPath(table, key);
  for (let attempt = 0; ; attempt++) {
    try {
      if (createExclusive(path)) return { key, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || attempt > 20) throw e;
      mkdirSync(dirname(path), { recursive: true }); // the folder is removed when its last claim goes
      continue;
    }
    const h = readHolder(path);
    if (h && holderIsDead(h)) {
      breakStale(path, h);
      continue;
    }
    if (h) return { heldBy: h };
    if (attempt > 20) return { heldBy: { pid: -1, host: "unknown" } };
  }
}

/**
 * Removes the claims of dead processes on this host (a SIGKILLed sweep's), and the claims folder
 * when nothing is left in it. Returns how many were removed.
 */
export function clearDeadClaims(table: string): number {
  const dir = claimsDirOf(table);
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const name of readdirSync(dir)) {
    if (name.endsWith(".break")) continue;
    const path = join(dir, name);
    const h = readHolder(path);
    if (h && holderIsDead(h)) {
      breakStale(path, h);
      n++;
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // live claims remain
  }
  return n;
}

/** Releases a claim; the claims folder goes with its last claim. */
export function releaseClaim(claim: Claim): void {
  try {
    unlinkSync(claim.path);
  } catch {
    // already gone
  }
  try {
    rmdirSync(dirname(claim.path));
  } catch {
    // other claims remain (or another process just made the folder again)
  }
}
