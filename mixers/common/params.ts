// Validation of saved law parameters (`mixlab fit --save-model` → `mixlab predict`): each law's
// `load` parses its params with a strict zod schema, so a file with a field removed, retyped or
// resized fails with an InputError naming the field (`params.model.left`), never a TypeError.

import { z } from "zod";
import { InputError, ZOD_MESSAGES } from "../../src/errors.js";

/** A finite number. */
export const finite = z.number();
/** An array of finite numbers. */
export const numbers = z.array(finite);

/** The fields every learned law saves: its options, the prior of its search and where that came from. */
export const savedLawShape = {
  options: z.unknown(),
  prior: z.array(z.number().min(0)),
  priorSource: z.string(),
};

/**
 * Parses a law's saved params with `schema`, then checks the prior has one share per domain.
 * @throws InputError (source "model") listing every problem with its field path under `params`
 */
export function parseParams<S extends z.ZodType>(schema: S, params: unknown, domains: readonly string[]): z.infer<S> {
  const r = schema.safeParse(params, ZOD_MESSAGES);
  if (!r.success) {
    throw new InputError(
      "model",
      r.error.issues.map((i) => ({
        path: ["params", ...i.path.map(String)].join("."),
        message: i.message,
      })),
    );
  }
  const prior = (r.data as { prior?: unknown }).prior;
  if (Array.isArray(prior) && prior.length !== domains.length) {
    const message = `expected ${domains.length} shares (one per domain), got ${prior.length}`;
    throw new InputError("model", [{ path: "params.prior", message }]);
  }
  return r.data;
}

/** Runs a loader that reports problems as TypeError (e.g. a tree's structure) and names the field. */
export function loadField<T>(path: string, load: () => T): T {
  try {
    return load();
  } catch (e) {
    if (e instanceof TypeError) {
      const message = `expected a valid saved value, got one that fails: ${e.message}`;
      throw new InputError("model", [{ path, message }]);
    }
    throw e;
  }
}
