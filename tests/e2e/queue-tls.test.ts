// `rediss://`: a worker reaches a TLS-only redis-server (self-signed certificate trusted through
// NODE_EXTRA_CA_CERTS), and without that CA it fails with the TLS reason, exit 1, and no password in its output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { REDIS_SKIP, freePort } from "../redis.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const openssl = spawnSync("openssl", ["version"]);
const SKIP = REDIS_SKIP ?? (openssl.error ? "openssl not found" : null);

describe.skipIf(SKIP !== null)("rediss:// (TLS)", () => {
  let dir: string;
  let port: number;
  let server: ChildProcess;
  beforeAll(async () => {
    dir = tmp();
    const cert = spawnSync(
      "openssl",
      [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
      ],
      { cwd: dir },
    );
    expect(cert.status).toBe(0);
    port = await freePort();
    server = spawn(
      "redis-server",
      [
        "--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "--tls-cert-file", "cert.pem",
        "--tls-key-file", "key.pem", "--tls-ca-cert-file", "cert.pem", "--tls-auth-clients", "no", "--save", "",
        "--appendonly", "no", "--dir", dir, "--requirepass", "tls-secret-pw",
      ],
      { cwd: dir, stdio: ["ignore", "pipe", "ignore"] },
    );
    await new Promise<void>((resolve, reject) => {
      let out = "";
      server.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("Ready to accept connections")) resolve();
      });
      server.once("exit", (code) => reject(new Error(`redis-server (TLS) exited with ${code}: ${out}`)));
    });
  }, 60_000);
  afterAll(async () => {
    if (server && server.exitCode === null) {
      await new Promise((r) => {
        server.once("exit", r);
        server.kill("SIGTERM");
      });
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("connects with the CA trusted; without it: the TLS reason, exit 1, no password", async () => {
    const url = `rediss://:tls-secret-pw@localhost:${port}`;
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, "cert.pem") };
    const w = spawn(process.execPath, [BIN, "worker", "--queue", url, "--queue-name", "tls-test"], {
      cwd: dir,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let out = "";
    w.stderr!.on("data", (b: Buffer) => (out += b.toString()));
    for (let i = 0; i < 600 && !out.includes("serving queue tls-test"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(out).toContain(`worker: connected to rediss://localhost:${port}/0`);
    w.kill("SIGTERM");
    expect(await new Promise((r) => w.once("exit", r))).toBe(0);
    const bare = spawnSync(process.execPath, [BIN, "worker", "--queue", url], { cwd: dir, encoding: "utf8" });
    expect(bare.status).toBe(1);
    expect(bare.stderr).toMatch(
      new RegExp(`^error: cannot reach Redis at localhost:${port}: self[- ]signed certificate`),
    );
    expect(out + bare.stderr).not.toContain("tls-secret-pw");
  }, 60_000);
});
