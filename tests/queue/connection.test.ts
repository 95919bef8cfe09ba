// Queue URLs, queue names, redaction, mixture checks, and the error when Redis cannot be reached.
import { describe, expect, it } from "vitest";
import { connectRedis, isConnectionLoss } from "../../src/sweep/queue/connection.js";
import { checkQueueName, parseQueueUrl, queueNameFor, redact } from "../../src/sweep/queue/url.js";
import { mixtureProblem } from "../../src/sweep/queue/job.js";
import { freePort } from "../redis.js";

describe("isConnectionLoss", () => {
  it("is true for a lost or refused connection, false for everything else", () => {
    const err = (message: string, code?: string): Error => Object.assign(new Error(message), code ? { code } : {});
    expect(isConnectionLoss(err("connect ECONNREFUSED 127.0.0.1:6390", "ECONNREFUSED"))).toBe(true);
    expect(isConnectionLoss(err("read ECONNRESET", "ECONNRESET"))).toBe(true);
    expect(isConnectionLoss(err("Connection is closed."))).toBe(true);
    expect(isConnectionLoss(err("Missing lock for job run-1. moveToFinished"))).toBe(false);
    expect(isConnectionLoss(err("NOAUTH Authentication required."))).toBe(false);
  });
});

describe("parseQueueUrl", () => {
  it("reads host, port, db, password and TLS; the label carries no credentials", () => {
    expect(parseQueueUrl("redis://:s3cr%40t@10.0.0.5:6380/2")).toEqual({
      host: "10.0.0.5",
      port: 6380,
      db: 2,
      tls: false,
      password: "s3cr@t",
      label: "redis://10.0.0.5:6380/2",
    });
    expect(parseQueueUrl("rediss://alice:pw@redis.example.org")).toEqual({
      host: "redis.example.org",
      port: 6379,
      db: 0,
      tls: true,
      username: "alice",
      password: "pw",
      label: "rediss://redis.example.org:6379/0",
    });
    expect(parseQueueUrl("redis://[::1]:7000").host).toBe("::1");
  });

  it("rejects other schemes, bad databases and junk, never echoing a password", () => {
    expect(() => parseQueueUrl("http://:hunter2@host:6379")).toThrowErrorMatchingInlineSnapshot(
      `[InputError: --queue: expected redis://[:password@]host:port[/db] or rediss://… (TLS), got scheme "http"]`,
    );
    expect(() => parseQueueUrl("redis://:hunter2@host:6379/x")).toThrowErrorMatchingInlineSnapshot(
      `[InputError: --queue: expected a database number ≥ 0 after the port, got "x"]`,
    );
    expect(() => parseQueueUrl("redis//:hunter2@host")).toThrowErrorMatchingInlineSnapshot(
      `[InputError: --queue: expected redis://[:password@]host:port[/db] or rediss://… (TLS), got "redis//***@host"]`,
    );
    expect(() => parseQueueUrl("redis://:hunter2@host:6379?tls=1")).toThrowErrorMatchingInlineSnapshot(
      `[InputError: --queue: expected no query or fragment in redis://[:password@]host:port[/db] or rediss://… (TLS), got "redis://***@host:6379?tls=1"]`,
    );
  });
});

describe("redact", () => {
  it("masks the password, raw and URL-encoded", () => {
    expect(redact("auth a b/c failed for a%20b%2Fc", { password: "a b/c" })).toBe("auth *** failed for ***");
    expect(redact("nothing to hide", {})).toBe("nothing to hide");
  });
});

describe("queue names", () => {
  it("derive from the runs table's absolute path; --queue-name is checked", () => {
    expect(queueNameFor("runs.csv")).toMatch(/^mixlab-[0-9a-f]{16}$/);
    expect(queueNameFor("runs.csv")).toBe(queueNameFor(`${process.cwd()}/runs.csv`));
    expect(queueNameFor("a/runs.csv")).not.toBe(queueNameFor("b/runs.csv"));
    expect(checkQueueName("team-a.sweep_1")).toBe("team-a.sweep_1");
    expect(() => checkQueueName("a:b")).toThrowErrorMatchingInlineSnapshot(
      `[InputError: --queue-name: expected 1–100 letters, digits, '.', '_' or '-', got "a:b"]`,
    );
  });
});

describe("mixtureProblem", () => {
  it("accepts a mixture on the simplex over known domains and names what is wrong otherwise", () => {
    expect(mixtureProblem({ domains: ["a", "b"], proportions: { a: 0.25, b: 0.75 } })).toBeNull();
    expect(mixtureProblem({ domains: ["a", "b"], proportions: { a: 0.5, c: 0.5 } })).toBe(
      "mixture: expected domains of the corpus (a, b), got c",
    );
    expect(mixtureProblem({ domains: ["a", "b"], proportions: { a: -0.5, b: 1.5 } })).toBe(
      "mixture: a: expected a share ≥ 0, got -0.5",
    );
    expect(mixtureProblem({ domains: ["a", "b"], proportions: { a: 0.5, b: 0.6 } })).toBe(
      "mixture: expected shares summing to 1, got 1.1",
    );
  });
});

describe("connectRedis", () => {
  it("names host and port, never the password, when nothing listens", async () => {
    const port = await freePort();
    const err = await connectRedis(parseQueueUrl(`redis://:hunter2@127.0.0.1:${port}`), 800).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      new RegExp(`^cannot reach Redis at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
    expect((err as Error).message).not.toMatch(/hunter2/);
  });
});
