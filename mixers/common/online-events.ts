// Validation shared by the online mixers: events (kind, step, per-domain losses, tokens,
// reference, excess) and saved states, each failure an InputError naming the field, what was
// expected and what was found. Every problem of one event is reported at once.

import type { z } from "zod";
import { InputError, showValue, type InputIssue, ZOD_MESSAGES } from "../../src/errors.js";
import type { MixerEvent, OnlineMixerState } from "../types.js";

/** The on-disk format tag of `OnlineMixer.state()`. */
export const ONLINE_STATE_FORMAT = "mixlab.online-mixer/v1";

/** What one mixer requires of an event. */
export interface EventRules {
  readonly method: string;
  readonly domains: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  readonly accepts: readonly ("train" | "eval")[];
  /** Train events must carry a positive token count for every domain in `loss`. */
  readonly tokens?: boolean;
  /** Train events must carry `reference` for every domain in `loss`. */
  readonly reference?: boolean;
  /** Train events must carry `excess` for every domain in `loss`. */
  readonly excess?: boolean;
  /** Eval events must name every domain. */
  readonly evalAllDomains?: boolean;
}

/** Builds the name → position map of a domain list. */
export function domainIndex(domains: readonly string[]): Map<string, number> {
  return new Map(domains.map((d, i) => [d, i]));
}

/** Largest loss an event may carry (nats per token): keeps every accumulator finite. */
export const MAX_EVENT_LOSS = 1e6;
/** Largest token count an event may carry (2^53, exact in a double). */
export const MAX_EVENT_TOKENS = 2 ** 53;

const isNonNegative = (v: number) => v >= 0;
const isPositive = (v: number) => v > 0;
/** The "at most" part of a per-domain check, or null when within bounds. */
const tooLarge = (field: string, v: number): string | null => {
  const max = field === "tokens" ? MAX_EVENT_TOKENS : MAX_EVENT_LOSS;
  if (v <= max) return null;
  if (field === "tokens") return `expected at most 2^53 tokens, got ${v}`;
  return `expected at most ${max} nats per token, got ${v}`;
};

/**
 * Checks an event against the rules and the last step observed (−1 before any); throws one
 * InputError (source `<method> event`) listing every problem.
 */
export function checkEvent(rules: EventRules, event: MixerEvent, lastStep: number): void {
  const source = `${rules.method} event`;
  const issues: InputIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path, message });
  if (typeof event !== "object" || event === null) {
    throw new InputError(source, `expected an event object, got ${showValue(event)}`);
  }
  if (!rules.accepts.includes(event.kind)) {
    const kinds = rules.accepts.map((k) => JSON.stringify(k)).join(" or ");
    issue("kind", `expected ${kinds} (what ${rules.method} observes), got ${showValue(event.kind)}`);
  }
  const step = event.step;
  if (typeof step !== "number" || !Number.isInteger(step) || step < 0) {
    issue("step", `expected an integer ≥ 0, got ${showValue(step)}`);
  } else if (step < lastStep) {
    issue("step", `expected a step ≥ ${lastStep} (the last one observed), got ${step}`);
  }
  const loss = event.loss;
  const present: string[] = [];
  if (typeof loss !== "object" || loss === null || Array.isArray(loss)) {
    issue("loss", `expected an object of per-domain losses, got ${showValue(loss)}`);
  } else {
    for (const [d, v] of Object.entries(loss)) {
      if (!rules.index.has(d)) {
        issue(`loss.${d}`, `expected one of the mixer's domains (${rules.domains.join(", ")}), got an unknown domain`);
      } else if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
        issue(`loss.${d}`, `expected a finite number ≥ 0, got ${showValue(v)}`);
      } else if (tooLarge("loss", v)) {
        issue(`loss.${d}`, tooLarge("loss", v)!);
      } else present.push(d);
    }
    if (Object.keys(loss).length === 0) issue("loss", "expected at least one domain, got {}");
    if (event.kind === "eval" && rules.evalAllDomains) {
      for (const d of rules.domains) {
        if (!(d in loss)) issue(`loss.${d}`, "expected a validation loss for every domain, got nothing");
      }
    }
  }
  if (event.kind === "train") {
    const inLoss = new Set(typeof loss === "object" && loss !== null ? Object.keys(loss) : []);
    const check = (field: keyof typeof FIELD_WHAT, what: string, ok: (v: number) => boolean) =>
      checkPerDomain(issues, field, event[field], present, inLoss, what, ok);
    if (rules.tokens) check("tokens", "a finite number > 0", isPositive);
    if (rules.reference) check("reference", "a finite number ≥ 0", isNonNegative);
    if (rules.excess) check("excess", "a finite number ≥ 0", isNonNegative);
  }
  if (issues.length) throw new InputError(source, issues);
}

const FIELD_WHAT = {
  tokens: "a token count",
  reference: "a reference loss",
  excess: "a clipped excess loss",
} as const;

const FIELD_HINT: Partial<Record<keyof typeof FIELD_WHAT, string>> = {
  excess: 'or give reference and the option clip: "domain"',
};

function checkPerDomain(
  issues: InputIssue[],
  field: keyof typeof FIELD_WHAT,
  values: Readonly<Record<string, number>> | undefined,
  present: readonly string[],
  inLoss: ReadonlySet<string>,
  what: string,
  ok: (v: number) => boolean,
): void {
  if (values === undefined || values === null) {
    const hint = FIELD_HINT[field] ? `; ${FIELD_HINT[field]}` : "";
    issues.push({ path: field, message: `expected ${FIELD_WHAT[field]} for every domain in loss, got nothing${hint}` });
    return;
  }
  if (typeof values !== "object" || Array.isArray(values)) {
    issues.push({ path: field, message: `expected an object of per-domain values, got ${showValue(values)}` });
    return;
  }
  for (const d of present) {
    const v = values[d];
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
      issues.push({ path: `${field}.${d}`, message: `expected ${what}, got ${showValue(v)}` });
    } else if (tooLarge(field, v)) {
      issues.push({ path: `${field}.${d}`, message: tooLarge(field, v)! });
    }
  }
  for (const d of Object.keys(values)) {
    if (!inLoss.has(d)) {
      issues.push({ path: `${field}.${d}`, message: `expected only domains present in loss, got ${showValue(d)}` });
    }
  }
}

/** What a state must match besides method and domains: the seed and the parsed options. */
export interface StateIdentity {
  readonly seed: number;
  readonly options: object;
}

/** A JSON value with object keys sorted, so equal options compare equal whatever the key order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined);
    return Object.fromEntries(keys.map((k) => [k, canonical(o[k])]));
  }
  return v;
}

/** The parsed options as stored in a state: JSON, keys sorted. */
function storedOptions(options: object): Record<string, unknown> {
  return canonical(JSON.parse(JSON.stringify(options))) as Record<string, unknown>;
}

/**
 * Checks a saved state's envelope (format, method, domains), that it was saved by a mixer with
 * the same seed and options (a state continued under other options would silently take another
 * trajectory), and parses the rest of its `data` with the method's strict zod schema; throws
 * one InputError (source `<method> state`) listing every problem.
 */
export function parseState<S extends z.ZodType>(
  method: string,
  domains: readonly string[],
  state: OnlineMixerState,
  schema: S,
  id: StateIdentity,
): z.infer<S> {
  const source = `${method} state`;
  if (typeof state !== "object" || state === null) {
    throw new InputError(source, `expected a state object from state(), got ${showValue(state)}`);
  }
  const issues: InputIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path, message });
  if (state.format !== ONLINE_STATE_FORMAT) {
    issue("format", `expected ${JSON.stringify(ONLINE_STATE_FORMAT)}, got ${showValue(state.format)}`);
  }
  if (state.method !== method) issue("method", `expected ${JSON.stringify(method)}, got ${showValue(state.method)}`);
  const sameDomains =
    Array.isArray(state.domains) &&
    state.domains.length === domains.length &&
    state.domains.every((d, i) => d === domains[i]);
  if (!sameDomains) {
    issue("domains", `expected ${showValue(domains)} (the mixer's domains, in order), got ${showValue(state.domains)}`);
  }
  if (typeof state.data !== "object" || state.data === null) {
    issue("data", `expected an object, got ${showValue(state.data)}`);
  }
  if (issues.length) throw new InputError(source, issues);
  const { seed, options, ...rest } = state.data as Record<string, unknown>;
  if (seed !== id.seed) issue("data.seed", `expected the mixer's seed ${id.seed}, got ${showValue(seed)}`);
  const mine = storedOptions(id.options);
  const saved = canonical(options ?? null);
  if (saved === null || typeof saved !== "object" || Array.isArray(saved)) {
    issue("data.options", `expected the options the state was saved with, got ${showValue(options)}`);
  } else {
    const theirs = saved as Record<string, unknown>;
    for (const key of [...new Set([...Object.keys(mine), ...Object.keys(theirs)])].sort()) {
      const a = JSON.stringify(mine[key]) ?? "nothing";
      const b = JSON.stringify(theirs[key]) ?? "nothing";
      if (a !== b) {
        const why = "a state continues only under the options it was saved with";
        issue(`data.options.${key}`, `expected the mixer's ${a} (${why}), got ${b}`);
      }
    }
  }
  if (issues.length) throw new InputError(source, issues);
  const r = schema.safeParse(rest, ZOD_MESSAGES);
  if (!r.success) {
    throw new InputError(
      source,
      r.error.issues.map((i) => ({
        path: ["data", ...i.path].join("."),
        message: i.message,
      })),
    );
  }
  return r.data;
}

/** Wraps a method's data in the state envelope, with the seed and the parsed options. */
export function makeState(
  method: string,
  domains: readonly string[],
  id: StateIdentity,
  data: Record<string, unknown>,
): OnlineMixerState {
  return {
    format: ONLINE_STATE_FORMAT,
    method,
    domains: [...domains],
    data: { seed: id.seed, options: storedOptions(id.options), ...data },
  };
}

/**
 * Resolves an optional per-domain mixture option (e.g. `prior`) to a vector in domain order:
 * every domain named, no others, entries ≥ 0 (> 0 when `positive`), sum within 1e-6 of 1 (then
 * renormalised). Returns uniform when absent.
 */
export function resolveMixtureOption(
  method: string,
  option: string,
  value: Readonly<Record<string, number>> | undefined,
  domains: readonly string[],
  positive = false,
): Float64Array {
  const k = domains.length;
  const out = new Float64Array(k);
  if (value === undefined) return out.fill(1 / k);
  const issues: InputIssue[] = [];
  const index = domainIndex(domains);
  for (const d of Object.keys(value)) {
    if (!index.has(d)) {
      const message = `expected one of the mixer's domains (${domains.join(", ")}), got an unknown domain`;
      issues.push({ path: `${option}.${d}`, message });
    }
  }
  let s = 0;
  domains.forEach((d, i) => {
    const v = value[d];
    const ok = typeof v === "number" && Number.isFinite(v) && (positive ? v > 0 : v >= 0);
    if (!ok) {
      const message = `expected a finite number ${positive ? "> 0" : "≥ 0"}, got ${showValue(v)}`;
      issues.push({ path: `${option}.${d}`, message });
    } else {
      out[i] = v;
      s += v;
    }
  });
  if (!issues.length && Math.abs(s - 1) > 1e-6) {
    issues.push({ path: option, message: `expected proportions summing to 1 (±1e-6), got a sum of ${s}` });
  }
  if (issues.length) throw new InputError(`options of ${method}`, issues);
  for (let i = 0; i < k; i++) out[i] = out[i]! / s;
  return out;
}

/** A vector in domain order as a record by domain name. */
export function byName(domains: readonly string[], v: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < domains.length; i++) out[domains[i]!] = v[i]!;
  return out;
}

/** Checks the domain list of a new mixer: at least two distinct non-empty names. */
export function checkDomains(method: string, domains: readonly string[]): void {
  const fail = (message: string) => {
    throw new InputError(method, [{ path: "domains", message }]);
  };
  if (!Array.isArray(domains) || domains.length < 2) {
    fail(`expected at least 2 domain names, got ${showValue(domains)}`);
  }
  const seen = new Set<string>();
  for (const d of domains) {
    if (typeof d !== "string" || d === "") fail(`expected non-empty strings, got ${showValue(d)}`);
    // Proportions and events are plain objects keyed by domain name, where this key is special.
    if (d === "__proto__") fail('expected names other than "__proto__", got "__proto__"');
    if (seen.has(d)) fail(`expected distinct names, got ${showValue(d)} twice`);
    seen.add(d);
  }
}
