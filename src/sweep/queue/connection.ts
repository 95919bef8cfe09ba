// Redis connections for the distributed sweep: connecting with back-off, and a watchdog that gives up when
// Redis stays away too long. Errors name host and port only (see url.ts for parsing and redaction).

import { Redis } from "ioredis";
import { redact, QueueError, type QueueTarget } from "./url.js";

/** ioredis options: reconnect with back-off (0.1 s doubling to 2 s) forever; callers decide when to stop. */
export function redisOptions(target: QueueTarget) {
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: { servername: target.host } } : {}),
    // BullMQ's blocking commands need this; commands issued while Redis is away wait for it to return.
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectTimeout: 5_000,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times - 1, 5), 2_000),
    lazyConnect: true,
  };
}

/**
 * Opens a connection and waits until Redis answers PING.
 * @param timeoutMs - how long to keep trying at start (default 5000)
 * @throws QueueError naming host and port (never the password) when Redis does not answer in time or refuses
 *   the credentials
 */
export async function connectRedis(target: QueueTarget, timeoutMs = 5_000): Promise<Redis> {
  const redis = new Redis(redisOptions(target));
  let lastError = "no answer";
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string): void => {
        redis.disconnect();
        reject(new QueueError(`cannot reach Redis at ${target.host}:${target.port}: ${why}`));
      };
      redis.on("error", (e: Error) => {
        lastError = redact(e.message, target);
        // Wrong credentials do not get better with retries.
        if (/WRONGPASS|NOAUTH|NOPERM|invalid password/i.test(e.message)) fail(lastError);
      });
      redis.once("ready", () => {
        redis.ping().then(() => resolve(), (e: Error) => fail(redact(e.message, target)));
      });
      timer = setTimeout(() => fail(`${lastError} (gave up after ${(timeoutMs / 1000).toFixed(1)} s)`), timeoutMs);
      redis.connect().catch(() => {});
    });
  } finally {
    clearTimeout(timer);
  }
  return redis;
}

/**
 * Watches a connection: when it has been down for longer than `timeoutMs`, calls `onGiveUp` once.
 * Returns a function that stops watching.
 */
export function watchConnection(
  redis: Redis,
  options: { timeoutMs: number; onLost?: () => void; onBack?: () => void; onGiveUp: (downMs: number) => void },
): () => void {
  let since: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  const down = (): void => {
    if (since !== null) return;
    since = performance.now();
    options.onLost?.();
    timer = setTimeout(() => options.onGiveUp(performance.now() - since!), options.timeoutMs);
  };
  const up = (): void => {
    if (since === null) return;
    since = null;
    clearTimeout(timer);
    options.onBack?.();
  };
  redis.on("close", down);
  redis.on("ready", up);
  return () => {
    clearTimeout(timer);
    redis.off("close", down);
    redis.off("ready", up);
  };
}

const LOST = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH"]);

/** Whether an error only says the connection to Redis is down (the watchdog reports that once). */
export function isConnectionLoss(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return (code !== undefined && LOST.has(code)) || /Connection is closed|ECONNREFUSED|ECONNRESET/.test(e.message);
}
