// `mixlab serve`: the sampler and the online mixers over HTTP (Fastify; every request validated
// against the JSON Schemas of schemas.ts). Corpora are opened once at start and named by clients,
// never given as paths. Loopback by default; any other address needs a bearer token.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { createHash, timingSafeEqual } from "node:crypto";
import { InputError, MixError, showValue } from "../errors.js";
import { openCorpus, type Corpus } from "../sampler/corpus.js";
import { VERSION } from "../version.js";
import {
  batchQuery,
  checkpointQuery,
  checkpointSchema,
  DEFAULT_LIMITS,
  idParams,
  openApi,
  sessionSchema,
  statsSchema,
  type ServeLimits,
} from "./schemas.js";
import { Makers } from "./maker.js";
import {
  BATCH_MEDIA_TYPE,
  ConflictError,
  CorpusError,
  Session,
  type MixerFactory,
  type RankStats,
  type ServedCorpus,
  type SessionCheckpoint,
  type SessionSpec,
  type StatsMerger,
} from "./session.js";

/** Options of `startServer`. */
export interface ServeOptions {
  /** Corpora by name → directory (opened once at start). */
  readonly corpora: readonly { readonly name: string; readonly dir: string }[];
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 0: a free one). */
  readonly port?: number;
  /** Bearer token every request must carry; required for a non-loopback host. */
  readonly token?: string;
  readonly limits?: Partial<ServeLimits>;
  /**
   * Online mixers: creation and the merge of per-rank statistics (defaults: mixlab's registry and
   * mergeDomainStats).
   */
  readonly createMixer?: MixerFactory;
  readonly mergeStats?: StatsMerger;
  /** Where warnings go (default stderr). */
  readonly warn?: (m: string) => void;
  /**
   * Threads that make the batches of static sessions while the server's thread writes responses
   * (default: one per core beyond the server's, at most 4; 0 makes them on the server's thread).
   */
  readonly threads?: number;
  /** Make each static session's next response while the last one travels (default true). */
  readonly readAhead?: boolean;
  /** The compiled worker script (default: maker.js beside this module; tests running from the sources pass dist's). */
  readonly threadScript?: URL;
}

/** A running server. */
export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** Whether an address is on the loopback interface. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** One JSON error body: `{ error: { code, message, field? } }`. */
function sendError(reply: FastifyReply, status: number, code: string, message: string, field?: string): FastifyReply {
  return reply.code(status).type("application/json").send({ error: { code, message, ...(field ? { field } : {}) } });
}

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  data?: unknown;
}

/** An Ajv error as `<field>: expected <what>, got <value>`. */
function describeValidation(context: string, e: AjvError): { field: string; message: string } {
  let field = `${context}${e.instancePath.replace(/\//g, ".")}`;
  let expected = e.message ?? "a valid value";
  let got = showValue(e.data);
  const p = e.params;
  switch (e.keyword) {
    case "required":
      field = `${field}.${String(p.missingProperty)}`;
      expected = "a value";
      got = "nothing";
      break;
    case "additionalProperties":
      field = `${field}.${String(p.additionalProperty)}`;
      expected = "no such field (not part of the API)";
      got = "one";
      break;
    case "type":
      expected = `a value of type ${String(p.type)}`;
      break;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum": {
      const op = { minimum: "≥", maximum: "≤", exclusiveMinimum: ">", exclusiveMaximum: "<" }[e.keyword];
      expected = `a number ${op} ${String(p.limit)}`;
      break;
    }
    case "enum":
      expected = `one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
      break;
    case "const":
      expected = JSON.stringify(p.allowedValue);
      break;
    case "pattern":
      expected = `a string matching ${String(p.pattern)}`;
      break;
    case "minLength":
      expected = `a string of at least ${String(p.limit)} characters`;
      break;
    case "minItems":
    case "maxItems":
      expected = `${e.keyword === "minItems" ? "at least" : "at most"} ${String(p.limit)} items`;
      break;
    case "minProperties":
      expected = `at least ${String(p.limit)} entries`;
      break;
    default:
      break;
  }
  return { field: field.replace(/^\./, ""), message: `${field.replace(/^\./, "")}: expected ${expected}, got ${got}` };
}

/** Builds the Fastify app over opened corpora (exported for in-process tests). */
export function buildApp(o: {
  corpora: Map<string, ServedCorpus>;
  token?: string;
  limits: ServeLimits;
  createMixer?: MixerFactory;
  mergeStats?: StatsMerger;
  makers?: Makers;
  readAhead?: boolean;
  warn: (m: string) => void;
}): FastifyInstance {
  const l = o.limits;
  const sessions = new Map<string, Session>();
  const app = Fastify({
    logger: false,
    bodyLimit: l.maxBodyBytes,
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
        verbose: true,
      },
    },
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    // Closing ends every connection at once: a keep-alive connection whose request finished during
    // the close would otherwise hold it open until its idle timeout (seconds).
    forceCloseConnections: true,
  });
  app.removeContentTypeParser("text/plain"); // JSON only: anything else is a 415
  const tokenDigest = o.token ? createHash("sha256").update(o.token).digest() : null;

  app.addHook("onRequest", async (req, reply) => {
    if (!tokenDigest) return;
    const h = req.headers.authorization;
    const given = typeof h === "string" && h.startsWith("Bearer ") ? h.slice(7) : "";
    const ok = timingSafeEqual(createHash("sha256").update(given).digest(), tokenDigest);
    const got = given ? "another" : "none";
    if (!ok) return sendError(reply, 401, "E_AUTH", `authorization: expected a valid bearer token, got ${got}`);
    return undefined;
  });

  type Failure = Error & { validation?: AjvError[]; validationContext?: string; statusCode?: number; code?: string };
  app.setErrorHandler((err: Failure, _req, reply) => {
    if (err.validation && err.validation.length) {
      const d = describeValidation(err.validationContext ?? "body", err.validation[0]!);
      return sendError(reply, 400, "E_VALIDATION", d.message, d.field);
    }
    if (err instanceof InputError) return sendError(reply, 400, "E_INPUT", err.message, err.source);
    if (err instanceof ConflictError) return sendError(reply, 409, err.code, err.message);
    if (err instanceof CorpusError) {
      o.warn(err.message);
      return sendError(reply, 500, err.code, err.message);
    }
    if (err instanceof MixError) return sendError(reply, 422, err.code, err.message);
    const status = err.statusCode ?? 500;
    // Fastify's own body errors, in the API's codes and message shape.
    const framework: Record<string, [string, string]> = {
      FST_ERR_CTP_INVALID_JSON_BODY: ["E_JSON", "body: expected a JSON document, got text that does not parse as JSON"],
      FST_ERR_CTP_EMPTY_JSON_BODY: ["E_JSON", "body: expected a JSON document, got an empty body"],
      FST_ERR_CTP_BODY_TOO_LARGE: ["E_BODY_TOO_LARGE", `body: expected at most ${l.maxBodyBytes} bytes, got more`],
      FST_ERR_CTP_INVALID_MEDIA_TYPE: [
        "E_MEDIA_TYPE",
        `content-type: expected application/json, got ${showValue(_req.headers["content-type"] ?? "none")}`,
      ],
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
        "E_CONTENT_LENGTH",
        "content-length: expected the length of the body, got another",
      ],
    };
    const known = err.code ? framework[err.code] : undefined;
    if (known) return sendError(reply, status, known[0], known[1]);
    if (status >= 400 && status < 500) return sendError(reply, status, err.code ?? "E_REQUEST", err.message);
    if (status === 503) return sendError(reply, 503, err.code ?? "E_UNAVAILABLE", err.message); // closing
    o.warn(`internal error: ${err.stack ?? err.message}`);
    return sendError(reply, 500, "E_INTERNAL", `internal error: ${err.message}`);
  });
  // Routes by path pattern, so that a known path asked with another method gets 405 and Allow.
  const methods = new Map<string, { re: RegExp; allow: Set<string> }>();
  app.addHook("onRoute", (r) => {
    const re = new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z]+/g, "[^/]+")}$`);
    const entry = methods.get(r.url) ?? { re, allow: new Set<string>() };
    for (const m of [r.method].flat()) if (m !== "HEAD") entry.allow.add(m);
    methods.set(r.url, entry);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0]!;
    const known = [...methods.values()].find((e) => e.re.test(path));
    if (known) {
      const allow = [...known.allow].sort().join(", ");
      reply.header("allow", allow);
      return sendError(reply, 405, "E_METHOD", `${req.method} ${path}: expected one of ${allow}, got ${req.method}`);
    }
    const message = `${req.method} ${path}: expected a route of /v1/openapi.json, got none`;
    return sendError(reply, 404, "E_NOT_FOUND", message);
  });

  const session = (req: FastifyRequest): Session => {
    const id = (req.params as { id: string }).id;
    const s = sessions.get(id);
    if (!s) throw Object.assign(
      new Error(`session ${JSON.stringify(id)}: expected an open session, got none (closed, expired or never opened)`),
      { statusCode: 404, code: "E_NO_SESSION" },
    );
    return s;
  };

  app.get("/v1/health", async () => ({
    status: "ok",
    version: VERSION,
    sessions: sessions.size,
    corpora: [...o.corpora.keys()],
    threads: o.makers?.live ?? 0,
  }));
  app.get("/v1/openapi.json", async () => openApi(l));
  app.get("/v1/corpora", async () => ({
    corpora: [...o.corpora.values()].map((c) => ({
      name: c.name,
      domains: c.names,
      records: c.sources.map((s) => s.numRecords),
    })),
  }));

  app.post("/v1/sessions", { schema: { body: sessionSchema(l) } }, async (req, reply) => {
    if (sessions.size >= l.maxSessions) {
      const message = `sessions: expected at most ${l.maxSessions} open, got ${sessions.size}; ` +
        "close one (DELETE /v1/sessions/{id})";
      return sendError(reply, 429, "E_TOO_MANY_SESSIONS", message);
    }
    const body = req.body as SessionSpec & { state?: SessionCheckpoint };
    const { state, ...given } = body;
    const spec = resolveSpec(given, state);
    const corpus = o.corpora.get(spec.corpus);
    if (!corpus) {
      const names = [...o.corpora.keys()].map((c) => JSON.stringify(c)).join(", ");
      throw new InputError("corpus", `expected one of ${names}, got ${JSON.stringify(spec.corpus)}`);
    }
    const world = spec.worldSize ?? 1;
    if (spec.batchSize * spec.seqLen > l.maxBatchTokens) throw new InputError(
      "batchSize",
      `expected batchSize × seqLen ≤ ${l.maxBatchTokens} tokens, got ${spec.batchSize} × ${spec.seqLen}`,
    );
    if (spec.mixer && spec.blockSize !== undefined && spec.blockSize !== world * spec.batchSize) {
      throw new InputError(
        "blockSize",
        `expected worldSize × batchSize = ${world * spec.batchSize} with an online mixer (it decides every step), ` +
          `got ${spec.blockSize}`,
      );
    }
    const s = await Session.open({
      corpus,
      spec,
      ...(state ? { checkpoint: state } : {}),
      ...(o.createMixer ? { createMixer: o.createMixer } : {}),
      ...(o.mergeStats ? { mergeStats: o.mergeStats } : {}),
      ...(o.makers ? { makers: o.makers } : {}),
      ...(o.readAhead !== undefined ? { readAhead: o.readAhead } : {}),
      waitMs: l.waitMs,
      warn: o.warn,
    });
    sessions.set(s.id, s);
    return reply.code(201).send(s.describe());
  });

  app.get("/v1/sessions/:id", { schema: { params: idParams } }, async (req) => session(req).describe());
  app.delete("/v1/sessions/:id", { schema: { params: idParams } }, async (req, reply) => {
    const s = session(req);
    sessions.delete(s.id);
    await s.close();
    return reply.code(204).send();
  });

  // No HEAD: a request for batches moves the rank's stream on, which a HEAD must not do.
  const batchRoute = { schema: { params: idParams, querystring: batchQuery }, exposeHeadRoute: false };
  app.get("/v1/sessions/:id/batches", batchRoute, async (req, reply) => {
    const s = session(req);
    const q = req.query as { rank: string; step?: string; count?: string };
    const count = q.count === undefined ? 1 : Number(q.count);
    const tokens = s.spec.batchSize * s.spec.seqLen;
    const most = Math.max(1, Math.min(l.maxBatchesPerResponse, Math.floor(l.maxResponseTokens / tokens)));
    if (!(count >= 1 && count <= most)) {
      const limits = `at most ${l.maxBatchesPerResponse} batches and ${l.maxResponseTokens} tokens a response`;
      throw new InputError(
        "count",
        `expected an integer in [1, ${most}] (${limits}; a batch here has ${tokens}), got ${q.count}`,
      );
    }
    const res = reply.raw;
    // true once every byte was handed to the socket, false if the connection closed first.
    const sent = new Promise<boolean>((r) => {
      res.once("finish", () => r(true));
      res.once("close", () => r(res.writableFinished));
    });
    const step = q.step === undefined ? {} : { step: Number(q.step) };
    const batches = await s.take(Number(q.rank), { ...step, count, sent });
    if (!batches.length) return reply.code(204).header("x-mixlab-done", "1").send();
    // The batches' own buffers go to the socket in one gathered write, without a joined copy.
    let length = 0;
    for (const b of batches) length += b.body.length;
    reply.hijack();
    res.writeHead(200, {
      "content-type": BATCH_MEDIA_TYPE,
      "content-length": length,
      "x-mixlab-batches": batches.length,
    });
    res.cork();
    for (const b of batches) res.write(b.body);
    res.end();
    return reply;
  });

  const statsRoute = { schema: { params: idParams, body: statsSchema } };
  app.post("/v1/sessions/:id/stats", statsRoute, async (req) => session(req).observe(req.body as RankStats));
  const checkpointRoute = { schema: { params: idParams, querystring: checkpointQuery } };
  app.get("/v1/sessions/:id/checkpoint", checkpointRoute, async (req) => {
    const q = req.query as { step?: string };
    return session(req).checkpoint(q.step === undefined ? undefined : Number(q.step));
  });
  app.get("/v1/sessions/:id/table", { schema: { params: idParams } }, async (req) => ({ rows: session(req).table() }));

  app.addHook("onClose", async () => {
    for (const s of sessions.values()) await s.close();
    sessions.clear();
  });
  return app;
}

/** The spec of a new session: the body, or the checkpoint's spec when resuming (they must agree). */
function resolveSpec(given: Partial<SessionSpec>, state: SessionCheckpoint | undefined): SessionSpec {
  if (!state) {
    for (const f of ["corpus", "batchSize", "seqLen"] as const) {
      if (given[f] === undefined) throw new InputError(`body.${f}`, "expected a value, got nothing");
    }
    const n = (given.proportions ? 1 : 0) + (given.stages ? 1 : 0) + (given.mixer ? 1 : 0);
    const got = n === 0 ? "none" : "several";
    if (n !== 1) throw new InputError("body", `expected exactly one of proportions, stages or mixer, got ${got}`);
    return given as SessionSpec;
  }
  const saved = state.spec as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(given)) {
    if (JSON.stringify(saved[k]) !== JSON.stringify(v)) throw new InputError(
      `body.${k}`,
      `expected the checkpoint's value ${showValue(saved[k])} (or leave it out), got ${showValue(v)}`,
    );
  }
  return state.spec;
}

/** Opens the corpora, binds, and resolves once the server accepts requests. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const host = o.host ?? "127.0.0.1";
  if (!isLoopback(host) && !o.token) throw new InputError(
    "--host",
    `expected a loopback address (127.0.0.1, ::1, localhost) without --token-file, got ${JSON.stringify(host)}: ` +
      "binding another address needs a token",
  );
  const limits = { ...DEFAULT_LIMITS, ...(o.limits ?? {}) };
  const opened: Corpus[] = [];
  const corpora = new Map<string, ServedCorpus>();
  let makers: Makers | null = null;
  try {
    for (const c of o.corpora) {
      if (corpora.has(c.name)) {
        throw new InputError("--corpus", `expected each corpus name once, got ${JSON.stringify(c.name)} twice`);
      }
      const corpus = await openCorpus(c.dir);
      opened.push(corpus);
      corpora.set(c.name, { name: c.name, names: corpus.names, sources: corpus.sources });
    }
    const warn = o.warn ?? ((m: string): void => void process.stderr.write(`warning: ${m}\n`));
    const threads = o.threads ?? Makers.defaultThreads();
    if (threads > 0) {
      const script = o.threadScript ? { script: o.threadScript } : {};
      makers = await Makers.start(threads, o.corpora, { ...script, warn });
    }
    const app = buildApp({
      corpora,
      ...(o.token ? { token: o.token } : {}),
      limits,
      ...(o.createMixer ? { createMixer: o.createMixer } : {}),
      ...(o.mergeStats ? { mergeStats: o.mergeStats } : {}),
      ...(makers ? { makers } : {}),
      ...(o.readAhead !== undefined ? { readAhead: o.readAhead } : {}),
      warn,
    });
    const started = makers;
    app.addHook("onClose", async () => {
      await started?.stop();
      for (const c of opened) await c.close();
    });
    await app.listen({ host, port: o.port ?? 0 });
    const addr = app.server.address();
    const port = typeof addr === "object" && addr ? addr.port : o.port ?? 0;
    const shown = host.includes(":") ? `[${host}]` : host;
    return { url: `http://${shown}:${port}`, app, close: () => app.close() };
  } catch (e) {
    await makers?.stop();
    for (const c of opened) await c.close();
    throw e;
  }
}

export { checkpointSchema };
