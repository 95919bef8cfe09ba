// `mixlab serve --corpus DIR [--corpus name=DIR …]`: the sampler and the online mixers over HTTP
// for training loops in any language (src/serve). Prints `listening on http://HOST:PORT` on
// stderr once it accepts requests; SIGINT/SIGTERM close it.

import { InvalidArgumentError, type Command } from "commander";
import { basename, resolve } from "node:path";
import { InputError } from "../../errors.js";
import { readInputText } from "../../io/read.js";
import { startServer } from "../../serve/server.js";
import { DEFAULT_LIMITS } from "../../serve/schemas.js";
import { numberFlag, positiveInt } from "../flags.js";
import { log } from "../output.js";

interface ServeFlags {
  corpus: { name: string; dir: string }[];
  host: string;
  port: number;
  tokenFile?: string;
  maxSessions: number;
  waitMs: number;
  threads?: number;
}

/** `name=DIR` or `DIR` (named after its folder); repeatable. */
function corpusFlag(raw: string, prev: { name: string; dir: string }[] = []): { name: string; dir: string }[] {
  const eq = raw.indexOf("=");
  const name = eq > 0 ? raw.slice(0, eq) : basename(resolve(raw));
  const dir = eq > 0 ? raw.slice(eq + 1) : raw;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new InvalidArgumentError(
    `expected a corpus name of letters, digits, '.', '_' or '-' (at most 64), got ${JSON.stringify(name)}`,
  );
  if (dir === "") throw new InvalidArgumentError(`expected name=DIR or DIR, got ${JSON.stringify(raw)}`);
  return [...prev, { name, dir }];
}

/** The bearer token from a file: its first line, at least 16 characters. */
function readToken(path: string): string {
  const token = readInputText(path).split(/\r?\n/)[0]!.trim();
  if (token.length < 16) throw new InputError(
    path,
    `expected a token of at least 16 characters on the first line, got ${token.length}`,
  );
  return token;
}

export function serveCommand(program: Command): void {
  program
    .command("serve")
    .summary("serve the sampler and online mixers over HTTP")
    .description(
      "Serve sampling sessions over HTTP (API in the README and at /v1/openapi.json). Binds loopback by default;\n" +
        "any other address needs --token-file (requests then carry `Authorization: Bearer <token>`).",
    )
    .requiredOption(
      "--corpus <[name=]dir>",
      "a corpus clients may name (repeatable; a bare DIR is named after its folder)",
      corpusFlag,
    )
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option(
      "--port <p>",
      "port (0 picks a free one)",
      numberFlag("an integer in [0, 65535]", (x) => Number.isInteger(x) && x >= 0 && x <= 65535),
      0,
    )
    .option("--token-file <file>", "file whose first line is the bearer token every request must carry")
    .option("--max-sessions <n>", "open sessions at most", positiveInt, DEFAULT_LIMITS.maxSessions)
    .option(
      "--wait-ms <ms>",
      "how long a batch request waits for the statistics its step needs",
      positiveInt,
      DEFAULT_LIMITS.waitMs,
    )
    .option(
      "--threads <n>",
      "threads making the batches of static sessions (default: one per core beyond the server's, at most 4; 0: none)",
      numberFlag("an integer in [0, 64]", (x) => Number.isInteger(x) && x >= 0 && x <= 64),
    )
    .addHelpText(
      "after",
      "\nExample:\n  $ mixlab serve --corpus web=data/web-corpus --corpus code=data/code --port 8470",
    )
    .action(async (f: ServeFlags) => {
      const token = f.tokenFile ? readToken(f.tokenFile) : undefined;
      const server = await startServer({
        corpora: f.corpus,
        host: f.host,
        port: f.port,
        ...(token ? { token } : {}),
        limits: { maxSessions: f.maxSessions, waitMs: f.waitMs },
        ...(f.threads !== undefined ? { threads: f.threads } : {}),
      });
      log(`listening on ${server.url}`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void server.close().then(done, done);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
