// Bounded pools of open files shared by the sources, and positioned reads through them.

import { open, type FileHandle } from "node:fs/promises";
import { openSync, closeSync } from "node:fs";
import { InputError } from "../../errors.js";

/** A bounded pool of open file handles (least recently used is closed first). */
export class FileHandlePool {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  constructor(readonly maxOpen = 64) {}

  async get(path: string): Promise<FileHandle> {
    let h = this.handles.get(path);
    if (h) {
      this.handles.delete(path);
      this.handles.set(path, h);
      return h;
    }
    h = open(path, "r").catch((e: NodeJS.ErrnoException) => {
      this.handles.delete(path);
      throw new InputError(path, `expected a readable shard, got ${e.code ?? e.message}`);
    });
    this.handles.set(path, h);
    while (this.handles.size > this.maxOpen) {
      const [oldest, oh] = this.handles.entries().next().value as [string, Promise<FileHandle>];
      this.handles.delete(oldest);
      void oh.then((fh) => fh.close()).catch(() => undefined);
    }
    return h;
  }

  /** Number of handles currently open (for tests of the bound). */
  get size(): number {
    return this.handles.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) await (await h.catch(() => null))?.close();
  }
}

/**
 * A bounded pool of synchronous file descriptors (for the token-shard fast path). Use is tracked
 * by a counter; the least recently used descriptor is closed when the bound is passed, so a hit
 * costs one map lookup.
 */
export class SyncFdPool {
  private readonly fds = new Map<string, { fd: number; used: number }>();
  private tick = 0;
  /** Bumped whenever a descriptor is closed, so callers that cache one know to ask again. */
  generation = 0;
  constructor(readonly maxOpen = 64) {}
  get(path: string): number {
    const hit = this.fds.get(path);
    if (hit !== undefined) {
      hit.used = ++this.tick;
      return hit.fd;
    }
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new InputError(path, `expected a readable shard, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    this.fds.set(path, { fd, used: ++this.tick });
    if (this.fds.size > this.maxOpen) {
      let oldest = "";
      let min = Infinity;
      for (const [p, e] of this.fds) if (e.used < min) [oldest, min] = [p, e.used];
      closeSync(this.fds.get(oldest)!.fd);
      this.fds.delete(oldest);
      this.generation++;
    }
    return fd;
  }
  get size(): number {
    return this.fds.size;
  }
  closeAll(): void {
    for (const e of this.fds.values()) closeSync(e.fd);
    this.fds.clear();
    this.generation++;
  }
}

/** The shared default pools. */
export const defaultSyncPool = new SyncFdPool(64);

/** The shared default pool. */
export const defaultPool = new FileHandlePool(64);

/** Reads `length` bytes at `offset` of `path` through the pool; a short file is an InputError. */
export async function readAt(pool: FileHandlePool, path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await pool.get(path);
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
    if (bytesRead === 0) throw new InputError(
      path,
      `byte ${offset + done}: expected ${length} bytes of a record, got the end of the file (truncated shard?)`,
    );
    done += bytesRead;
  }
  return buf;
}
