// A throw-away Redis for tests: redis-server on a free loopback port with persistence off, stopped (and its
// working folder removed) afterwards. Where redis-server is missing, `REDIS_SKIP` holds the printed reason.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const found = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
/** Why Redis tests are skipped here (null when redis-server is installed). */
export const REDIS_SKIP: string | null = found.error
  ? `redis-server not found (${found.error.message}); install Debian's redis-server`
  : null;
if (REDIS_SKIP) process.stderr.write(`queue tests skipped: ${REDIS_SKIP}\n`);

/** A free TCP port on 127.0.0.1 (the OS picks one; it is free when this returns). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running test Redis. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGTERM, no save) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop; nothing when it is running). */
  start(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
}

/** Starts redis-server on a free loopback port; `password` turns on requirepass. */
export async function startRedis(options: { password?: string } = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "mixlab-redis-"));
  let child: ChildProcess | null = null;
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
  if (options.password) args.push("--requirepass", options.password);
  const start = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const c = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const onData = (b: Buffer): void => {
        out += b.toString();
        if (out.includes("Ready to accept connections")) {
          c.stdout!.off("data", onData);
          c.stdout!.resume();
          resolve();
        }
      };
      c.stdout!.on("data", onData);
      c.stderr!.resume();
      c.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise((r) => {
      c.once("exit", r);
      c.kill("SIGTERM");
    });
  };
  await start();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    stop,
    start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
