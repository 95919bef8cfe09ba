// JSON Schemas of `mixlab serve`'s requests: Fastify validates every request against them, and
// the OpenAPI description served at /v1/openapi.json is built from the same objects.

import { VERSION } from "../version.js";

/** Limits a server enforces (documented in the README; `mixlab serve` flags override some). */
export interface ServeLimits {
  /** Live sessions at once (default 64). */
  readonly maxSessions: number;
  /** Bytes of a request body (default 8 MiB: a checkpoint of a long online run fits). */
  readonly maxBodyBytes: number;
  /** Rows of one batch (default 4096). */
  readonly maxBatchRows: number;
  /** Tokens per row (default 131072). */
  readonly maxSeqLen: number;
  /** Tokens of one batch, rows × seqLen (default 2^24). */
  readonly maxBatchTokens: number;
  /** Batches of one response, `count` (default 256). */
  readonly maxBatchesPerResponse: number;
  /** Tokens of one response, count × rows × seqLen (default 2^24; one batch is always allowed). */
  readonly maxResponseTokens: number;
  /** Ranks of one session (default 1024). */
  readonly maxWorldSize: number;
  /** How long a batch request waits for the statistics its step needs, in ms (default 60,000). */
  readonly waitMs: number;
}

export const DEFAULT_LIMITS: ServeLimits = {
  maxSessions: 64,
  maxBodyBytes: 8 << 20,
  maxBatchRows: 4096,
  maxSeqLen: 131072,
  maxBatchTokens: 1 << 24,
  maxBatchesPerResponse: 256,
  maxResponseTokens: 1 << 24,
  maxWorldSize: 1024,
  waitMs: 60_000,
};

const shares = {
  type: "object",
  minProperties: 1,
  additionalProperties: { type: "number", minimum: 0 },
  description: "share by domain name (token shares unless unit is samples)",
} as const;

const uint32 = { type: "integer", minimum: 0, maximum: 4294967295 } as const;

/** The body of POST /v1/sessions (without the limits, which `sessionSchema(limits)` adds). */
export function sessionSchema(l: ServeLimits) {
  return {
    type: "object",
    additionalProperties: false,
    properties: {
      corpus: { type: "string", minLength: 1, description: "a corpus name the server was started with" },
      proportions: shares,
      stages: {
        type: "array",
        minItems: 1,
        maxItems: 1000,
        items: {
          type: "object",
          additionalProperties: false,
          required: ["proportions"],
          properties: {
            untilSamples: { type: "integer", minimum: 1 },
            untilTokens: { type: "number", exclusiveMinimum: 0 },
            proportions: shares,
          },
        },
      },
      mixer: {
        type: "object",
        additionalProperties: false,
        required: ["method"],
        properties: {
          method: { type: "string", minLength: 1 },
          options: { type: "object" },
          seed: uint32,
          initial: shares,
        },
      },
      seed: uint32,
      unit: { enum: ["tokens", "samples"] },
      order: { enum: ["shuffle", "smooth"] },
      blockSize: { type: "integer", minimum: 1, maximum: 1 << 20 },
      budgetSamples: { type: "integer", minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
      budgetTokens: { type: "number", exclusiveMinimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      maxEpochs: {
        anyOf: [
          { type: "number", exclusiveMinimum: 0 },
          { type: "object", minProperties: 1, additionalProperties: { type: "number", exclusiveMinimum: 0 } },
        ],
      },
      onExceed: { enum: ["error", "redistribute"] },
      worldSize: { type: "integer", minimum: 1, maximum: l.maxWorldSize },
      batchSize: { type: "integer", minimum: 1, maximum: l.maxBatchRows },
      seqLen: { type: "integer", minimum: 1, maximum: l.maxSeqLen },
      padId: { type: "integer", minimum: 0, maximum: 4294967295 },
      lag: { type: "integer", minimum: 0, maximum: 1000 },
      state: checkpointSchema,
    },
  } as const;
}

const samplerState = {
  type: "object",
  additionalProperties: false,
  required: ["format", "planSha256", "consumed", "appended"],
  properties: {
    format: { const: "mixlab.sampler-state/v1" },
    planSha256: { type: "string", pattern: "^[0-9a-f]{64}$" },
    consumed: { type: "integer", minimum: 0 },
    appended: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["start", "proportions"],
        properties: { start: { type: "integer", minimum: 0 }, proportions: shares },
      },
    },
  },
} as const;

/** A checkpoint from GET /v1/sessions/{id}/checkpoint, given back as `state` to resume. */
export const checkpointSchema = {
  type: "object",
  additionalProperties: false,
  required: ["format", "spec", "step", "sampler", "mixer", "decided"],
  properties: {
    format: { const: "mixlab.serve-checkpoint/v1" },
    spec: { type: "object" },
    step: { type: "integer", minimum: 0 },
    sampler: samplerState,
    mixer: {
      anyOf: [
        { type: "null" },
        {
          type: "object",
          additionalProperties: false,
          required: ["format", "method", "domains", "data"],
          properties: {
            format: { const: "mixlab.online-mixer/v1" },
            method: { type: "string" },
            domains: { type: "array", items: { type: "string" } },
            data: { type: "object" },
          },
        },
      ],
    },
    decided: { type: "array", items: shares },
  },
} as const;

const counts = { type: "object", additionalProperties: { type: "number", minimum: 0 } } as const;

/** The body of POST /v1/sessions/{id}/stats: one rank's per-domain statistics of one step. */
export const statsSchema = {
  type: "object",
  additionalProperties: false,
  required: ["rank", "step", "kind", "lossSum", "tokens"],
  properties: {
    rank: { type: "integer", minimum: 0 },
    step: { type: "integer", minimum: 0 },
    kind: { enum: ["train", "eval"] },
    lossSum: { ...counts, description: "sum of the loss (nats) over the rank's tokens of each domain" },
    tokens: { ...counts, description: "tokens behind each lossSum" },
    referenceSum: { ...counts, description: "DoReMi: the reference model's loss sum over the same tokens" },
    excessSum: {
      ...counts,
      description: "DoReMi: the sum of per-token clipped excess losses max(loss − reference, 0)",
    },
  },
} as const;

export const idParams = {
  type: "object",
  additionalProperties: false,
  required: ["id"],
  properties: { id: { type: "string", pattern: "^[0-9a-f-]{36}$" } },
} as const;

export const batchQuery = {
  type: "object",
  additionalProperties: false,
  required: ["rank"],
  properties: {
    rank: { type: "string", pattern: "^[0-9]{1,9}$" },
    step: { type: "string", pattern: "^[0-9]{1,15}$" },
    count: { type: "string", pattern: "^[0-9]{1,9}$" },
  },
} as const;

export const checkpointQuery = {
  type: "object",
  additionalProperties: false,
  properties: { step: { type: "string", pattern: "^[0-9]{1,15}$" } },
} as const;

const errorBody = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: { code: { type: "string" }, message: { type: "string" }, field: { type: "string" } },
    },
  },
} as const;

/** The OpenAPI 3.1 description of the API. */
export function openApi(l: ServeLimits): Record<string, unknown> {
  const json = (schema: unknown) => ({ content: { "application/json": { schema } } });
  /** An error answer: its description and the JSON error body. */
  const failure = (description: string) => ({ description, ...json(errorBody) });
  const errors = {
    "400": failure("bad request: the field, what was expected and what was found"),
    "401": failure("missing or wrong bearer token"),
    "404": failure("no such session or route"),
    "405": failure("a known path asked with another method (header Allow lists its methods)"),
    "503": failure("the server is closing (E_CLOSING)"),
  };
  const ok = { "200": { description: "ok" } };
  const id = [{ name: "id", in: "path", required: true, schema: { type: "string" } }];
  return {
    openapi: "3.1.0",
    info: { title: "mixlab serve", version: VERSION, description: "The mixlab sampler and online mixers over HTTP." },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths: {
      "/v1/health": {
        get: { summary: "liveness, version, corpora, session count and batch-making threads running", responses: ok },
      },
      "/v1/corpora": { get: { summary: "the corpora this server serves, with their domains", responses: ok } },
      "/v1/sessions": {
        post: {
          summary: "open a sampling session (or resume one from `state`, a checkpoint)",
          requestBody: { required: true, ...json(sessionSchema(l)) },
          responses: {
            "201": { description: "the session: id, domains, world size, budget" },
            "429": failure(`more than ${l.maxSessions} sessions`),
            ...errors,
          },
        },
      },
      "/v1/sessions/{id}": {
        get: {
          summary: "the session's facts and, online, the mixer's progress",
          parameters: id,
          responses: { ...ok, ...errors },
        },
        delete: {
          summary: "close the session",
          parameters: id,
          responses: { "204": { description: "closed" }, ...errors },
        },
      },
      "/v1/sessions/{id}/batches": {
        get: {
          summary: "the next packed batches of a rank",
          description:
            "Body (application/vnd.mixlab.batch.v1): one or more batches back to back (header x-mixlab-batches says " +
            "how many). A batch: a uint32 little-endian header length, the UTF-8 JSON header (step, rank, rows, " +
            "seqLen, width, domainPerRow, indexPerRow, truncatedTokens, padTokens; online: proportions, evalDue), " +
            "zero padding to a multiple of 4 bytes, rows × seqLen token ids as little-endian unsigned integers of " +
            "`width` bytes (1, 2 or 4), zero padding to a multiple of 4 bytes. 204 at the end of the stream. " +
            "`count` (default 1) asks for that many consecutive batches: fewer come at the end of the stream and, " +
            `online, when later steps are not decided yet; at most ${l.maxBatchesPerResponse} batches and ` +
            `${l.maxResponseTokens} tokens a response (one batch always). ` +
            "`step` (optional) must be the rank's next step, or a step of its last two responses to fetch those " +
            "batches again (a retry).",
          parameters: [
            ...id,
            { name: "rank", in: "query", required: true, schema: { type: "integer" } },
            { name: "step", in: "query", schema: { type: "integer" } },
            { name: "count", in: "query", schema: { type: "integer", minimum: 1, maximum: l.maxBatchesPerResponse } },
          ],
          responses: {
            "200": { description: "the batches", content: { "application/vnd.mixlab.batch.v1": {} } },
            "204": { description: "the stream ended" },
            "409": failure(
              "a step out of order, the statistics it needs did not arrive in time, or the session closed meanwhile",
            ),
            "500": failure("a corpus file could not be read (E_CORPUS); the same request succeeds once it can be"),
            ...errors,
          },
        },
      },
      "/v1/sessions/{id}/stats": {
        post: {
          summary: "one rank's per-domain statistics of a step (online sessions)",
          parameters: id,
          requestBody: { required: true, ...json(statsSchema) },
          responses: {
            "200": { description: "observed and decided step counts" },
            "409": failure("posted twice, or a step already observed"),
            ...errors,
          },
        },
      },
      "/v1/sessions/{id}/checkpoint": {
        get: {
          summary: "sampler + mixer state in one JSON, given back as `state` to resume",
          description:
            "`step` (optional): checkpoint at that step, which every rank must have fetched and still hold in its " +
            "last two responses (a loader that fetched ahead checkpoints where its loop is).",
          parameters: [...id, { name: "step", in: "query", schema: { type: "integer" } }],
          responses: {
            "200": { description: "the checkpoint", ...json(checkpointSchema) },
            "409": failure("ranks at different steps, or a step a rank does not hold"),
            ...errors,
          },
        },
      },
      "/v1/sessions/{id}/table": {
        get: {
          summary: "requested vs achieved shares per domain",
          parameters: id,
          responses: { "200": { description: "rows" }, ...errors },
        },
      },
    },
  };
}
