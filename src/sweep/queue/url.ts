// Queue URLs and names for the distributed sweep: parsing `redis://[user:password@]host:port[/db]` (and
// `rediss://` for TLS), redaction so that a password never reaches a log line, an error, job data or the runs
// table, and queue names. No Redis client here, so the CLI checks flags without loading one.

import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { InputError, MixError, showValue } from "../../errors.js";

/** A parsed queue URL. `label` is the only form ever printed: scheme, host, port and db, no credentials. */
export interface QueueTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  /** `redis://host:port/db` (or `rediss://…`) without user name or password. */
  readonly label: string;
}

/** Redis could not be reached, or was lost for longer than allowed (exit 1: not the input's fault). */
export class QueueError extends MixError {
  constructor(message: string) {
    super("E_QUEUE", message);
    this.name = "QueueError";
  }
}

/** Redis key of the set of sweep queues that workers without `--queue-name` serve. */
export const QUEUE_REGISTRY = "mixlab:queues";

const URL_SHAPE = "redis://[:password@]host:port[/db] or rediss://… (TLS)";

/**
 * Parses a queue URL.
 * @param raw - `redis://[[user]:password@]host[:port][/db]` or `rediss://…`; port defaults to 6379, db to 0
 * @param source - the flag or option named in errors (default `--queue`)
 * @throws InputError for another scheme, a bad port or db; the message shows the URL with its password masked
 */
export function parseQueueUrl(raw: string, source = "--queue"): QueueTarget {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new InputError(source, `expected ${URL_SHAPE}, got ${showValue(maskUrl(raw))}`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new InputError(source, `expected ${URL_SHAPE}, got scheme ${JSON.stringify(u.protocol.replace(/:$/, ""))}`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new InputError(source, `expected a host in ${URL_SHAPE}, got ${showValue(maskUrl(raw))}`);
  const port = u.port === "" ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, "");
  const db = dbText === "" ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || !/^\d*$/.test(dbText)) {
    throw new InputError(source, `expected a database number ≥ 0 after the port, got ${JSON.stringify(dbText)}`);
  }
  if (u.search || u.hash) {
    throw new InputError(source, `expected no query or fragment in ${URL_SHAPE}, got ${showValue(maskUrl(raw))}`);
  }
  const tls = u.protocol === "rediss:";
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  return {
    host,
    port,
    db,
    tls,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    label: `${tls ? "rediss" : "redis"}://${u.hostname}:${port}/${db}`,
  };
}

/** A URL-like string with anything between `//` and `@` replaced by `***` (for errors about unparsable URLs). */
function maskUrl(raw: string): string {
  return raw.replace(/\/\/[^/@]*@/, "//***@");
}

/** Replaces every occurrence of the target's password (raw and URL-encoded) in a text by `***`. */
export function redact(text: string, target: Pick<QueueTarget, "password" | "username">): string {
  let out = text;
  for (const secret of [target.password, target.password && encodeURIComponent(target.password)]) {
    if (secret) out = out.split(secret).join("***");
  }
  return out;
}

/** The default queue name of a runs table: `mixlab-` + the first 16 hex digits of SHA-256(absolute path). */
export function queueNameFor(runsPath: string): string {
  return `mixlab-${createHash("sha256").update(resolve(runsPath)).digest("hex").slice(0, 16)}`;
}

/** Checks a `--queue-name`: BullMQ names may not contain `:`. */
export function checkQueueName(name: string, source = "--queue-name"): string {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) {
    throw new InputError(source, `expected 1–100 letters, digits, '.', '_' or '-', got ${showValue(name)}`);
  }
  return name;
}
