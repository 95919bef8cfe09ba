// Option parsing for mixers: zod strict schemas, every problem reported at once as an
// InputError naming the option (unknown keys are errors, as in nanoGPT's configurator).

import { z } from "zod";
import { InputError, ZOD_MESSAGES } from "../../src/errors.js";

/** Parses raw options with a strict zod schema; throws one InputError listing every problem. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, method: string): z.infer<S> {
  const r = schema.safeParse(raw ?? {}, ZOD_MESSAGES);
  if (r.success) {
    // An explicit top-k above the candidates drawn is refused (it would silently average them
    // all); the default top-k shrinks to the number of candidates.
    const o = r.data as { topK?: unknown; numCandidates?: unknown };
    if (typeof o.topK === "number" && typeof o.numCandidates === "number" && o.topK > o.numCandidates) {
      const given = (raw as { topK?: unknown } | null | undefined)?.topK !== undefined;
      if (given) {
        const message = `expected at most numCandidates (--candidates, ${o.numCandidates}), got ${o.topK}`;
        throw new InputError(`options of ${method}`, [{ path: "topK (--top-k)", message }]);
      }
      return { ...(r.data as object), topK: o.numCandidates } as z.infer<S>;
    }
    return r.data;
  }
  throw new InputError(
    `options of ${method}`,
    r.error.issues.map((i) => ({
      path: i.path.length ? i.path.join(".") : "options",
      message:
        i.code === "unrecognized_keys" && i.path.length === 0 && schema instanceof z.ZodObject
          ? `expected one of ${quoted(Object.keys(schema.shape))}, got ${quoted(i.keys)}`
          : i.message,
    })),
  );
}

/** Schema pieces shared by several mixers. */
export const candidateOptionsShape = {
  /** Candidates drawn in the recommendation search (default 1,000,000). */
  numCandidates: z.number().int().min(1).max(1e8).default(1_000_000),
  /** Best candidates averaged (default 128, or numCandidates when fewer are drawn; more is an error). */
  topK: z.number().int().min(1).default(128),
  /** Total Dirichlet concentration around the prior (default 1). */
  concentration: z.number().positive().default(1),
};

const quoted = (keys: readonly string[]): string => keys.map((k) => JSON.stringify(k)).join(", ");
