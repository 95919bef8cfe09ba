// One checkpoint file for a proxy run: a JSON header (the run's fingerprint, step, sampler +
// mixer state, counters) and the raw float32 arrays (weights and both AdamW moments) after it.
// Written atomically (temporary file in the same folder, then rename), so a kill at any moment
// leaves either the previous checkpoint or the new one, never half of one.

import { existsSync, readdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../io/atomic.js";
import { InputError } from "../errors.js";

export const CHECKPOINT_FORMAT = "mixlab.proxy-checkpoint/v1";
const MAGIC = "MIXLABCK";

/** What a checkpoint holds besides the arrays. */
export interface CheckpointHeader {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** SHA-256 of everything that decides the run (config, data, seed, steps, mixer and its options). */
  readonly fingerprint: string;
  /** Optimizer steps done. */
  readonly step: number;
  /** JSON-safe run state (sampler + mixer state, counters, trajectory so far). */
  readonly state: Record<string, unknown>;
  /** Names and lengths of the float32 arrays, in file order. */
  readonly arrays: readonly { readonly name: string; readonly length: number }[];
}

/** Writes a checkpoint atomically: magic, header length (uint32 LE), header JSON, then the arrays. */
export function writeCheckpoint(
  path: string,
  header: Omit<CheckpointHeader, "format" | "arrays">,
  arrays: readonly { name: string; data: Float32Array }[],
): void {
  const head = Buffer.from(
    JSON.stringify({
      format: CHECKPOINT_FORMAT,
      ...header,
      arrays: arrays.map((a) => ({ name: a.name, length: a.data.length })),
    }),
    "utf8",
  );
  // Pad the header so the arrays start on a 4-byte boundary.
  const pad = (4 - ((MAGIC.length + 4 + head.length) % 4)) % 4;
  const total = MAGIC.length + 4 + head.length + pad + arrays.reduce((a, x) => a + 4 * x.data.length, 0);
  const out = Buffer.alloc(total);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(head.length + pad, MAGIC.length);
  head.copy(out, MAGIC.length + 4);
  out.fill(0x20, MAGIC.length + 4 + head.length, MAGIC.length + 4 + head.length + pad);
  let off = MAGIC.length + 4 + head.length + pad;
  for (const a of arrays) {
    Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).copy(out, off);
    off += a.data.byteLength;
  }
  writeFileAtomic(path, out);
}

/**
 * Reads a checkpoint written by `writeCheckpoint`.
 * @throws InputError naming the file when it is not a mixlab checkpoint or is cut short
 */
export function readCheckpoint(path: string): { header: CheckpointHeader; arrays: Map<string, Float32Array> } {
  const buf = readFileSync(path);
  if (buf.length < MAGIC.length + 4 || buf.toString("latin1", 0, MAGIC.length) !== MAGIC) throw new InputError(
    path,
    `expected a mixlab proxy checkpoint (${CHECKPOINT_FORMAT}), got another file`,
  );
  const len = buf.readUInt32LE(MAGIC.length);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.toString("utf8", MAGIC.length + 4, MAGIC.length + 4 + len)) as CheckpointHeader;
  } catch (e) {
    throw new InputError(path, `header: expected JSON, got invalid JSON (${(e as Error).message})`);
  }
  if (header.format !== CHECKPOINT_FORMAT) throw new InputError(
    path,
    `format: expected ${CHECKPOINT_FORMAT}, got ${JSON.stringify(header.format)}`,
  );
  const arrays = new Map<string, Float32Array>();
  let off = MAGIC.length + 4 + len;
  for (const a of header.arrays) {
    if (off + 4 * a.length > buf.length) throw new InputError(
      path,
      `${a.name}: expected ${a.length} float32 values, got a file cut short`,
    );
    const data = new Float32Array(a.length);
    Buffer.from(data.buffer).set(buf.subarray(off, off + 4 * a.length));
    arrays.set(a.name, data);
    off += 4 * a.length;
  }
  if (off !== buf.length) throw new InputError(path, `expected ${off} bytes, got ${buf.length}`);
  return { header, arrays };
}

/**
 * Checks before any training that a checkpoint can be written at `path` (its folder exists and
 * is a folder), and removes temporary files a killed writer left beside it.
 * @throws InputError naming the flag and the path
 */
export function prepareCheckpointPath(path: string, flag = "--checkpoint"): void {
  const dir = dirname(resolve(path));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(
    flag,
    `expected a file in an existing folder, got ${JSON.stringify(path)} (no folder ${JSON.stringify(dir)})`,
  );
  if (existsSync(path) && statSync(path).isDirectory()) throw new InputError(
    flag,
    `expected a file, got the folder ${JSON.stringify(path)}`,
  );
  const stale = new RegExp(`^\\.${basename(path).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(\\d+)\\.tmp$`);
  for (const f of readdirSync(dir)) {
    const m = stale.exec(f);
    if (m && !alive(Number(m[1]))) unlinkSync(join(dir, f));
  }
}

/** Whether a process with this id exists (a live writer's temporary file is left alone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
