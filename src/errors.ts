// Error classes shared by every layer. Messages follow one shape:
// `<source>: <path>: expected <what>, got <value>[; <hint>]`, and input errors gather every
// problem in a file before throwing once, so a user fixes a table in one pass.

/** Base class of every error mixlab throws on purpose; `code` is stable for programs. */
export class MixError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "MixError";
    this.code = code;
  }
}

/** One problem found in user input (a file, a flag, a value). */
export interface InputIssue {
  /** Where: `row 17, column "w.web"`, `--top-k`, … */
  readonly path: string;
  /** What was expected and what was found. */
  readonly message: string;
}

/**
 * Bad user input: a file, a flag or a value. Carries every issue found, so the message lists
 * them all; the CLI exits with code 2.
 */
export class InputError extends MixError {
  readonly source: string;
  readonly issues: readonly InputIssue[];
  constructor(source: string, issues: readonly InputIssue[] | string, options?: { maxListed?: number }) {
    const list: InputIssue[] = typeof issues === "string" ? [{ path: "", message: issues }] : [...issues];
    const maxListed = options?.maxListed ?? 50;
    const lines = list.slice(0, maxListed).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    const more = list.length > maxListed ? [`… and ${list.length - maxListed} more problems`] : [];
    const head =
      list.length === 1
        ? `${source}: ${lines[0]}`
        : `${source}: ${list.length} problems:\n  ${[...lines, ...more].join("\n  ")}`;
    super("E_INPUT", head);
    this.name = "InputError";
    this.source = source;
    this.issues = list;
  }
}

/** A numerical procedure failed (singular matrix, non-finite loss, no convergence). */
export class FitError extends MixError {
  readonly iteration: number | undefined;
  readonly lastLoss: number | undefined;
  constructor(message: string, details?: { iteration?: number; lastLoss?: number }) {
    super("E_FIT", message);
    this.name = "FitError";
    this.iteration = details?.iteration;
    this.lastLoss = details?.lastLoss;
  }
}

/** A valid request that this build or method cannot serve. */
export class UnsupportedError extends MixError {
  constructor(message: string) {
    super("E_UNSUPPORTED", message);
    this.name = "UnsupportedError";
  }
}

/** Programmer-error check for core code; never used to validate user input. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${message}`);
}

/** Formats a found value for an error message: strings quoted, long ones cut. */
export function showValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === undefined) return "nothing";
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  const s = JSON.stringify(value);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

/** The fields of a zod issue that its message is made from (zod passes them to an error map). */
interface ZodIssueFacts {
  readonly code: string;
  readonly input?: unknown;
  readonly expected?: string;
  readonly values?: readonly unknown[];
  readonly origin?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
  readonly keys?: readonly string[];
  readonly format?: string;
  readonly pattern?: string;
  readonly divisor?: number | bigint;
  readonly errors?: readonly (readonly ZodIssueFacts[])[];
}

const KINDS: Record<string, string> = {
  int: "an integer",
  number: "a number",
  bigint: "an integer",
  string: "a string",
  boolean: "true or false",
  array: "an array",
  tuple: "an array",
  object: "an object",
  record: "an object",
  null: "null",
  date: "a date",
};

/** What a zod issue expected, in words ("a number", "one of "a", "b""), or undefined. */
function expectedOf(i: ZodIssueFacts): string | undefined {
  if (i.code === "invalid_type") return KINDS[i.expected ?? ""] ?? i.expected;
  if (i.code === "invalid_value" && i.values) {
    const shown = i.values.map((v) => showValue(v));
    return shown.length === 1 ? shown[0] : `one of ${shown.join(", ")}`;
  }
  return undefined;
}

/** How many items or characters a bounded array or string holds, for a size message. */
function sizeOf(i: ZodIssueFacts): string {
  const v = i.input;
  if (typeof v === "string") return `${v.length} character${v.length === 1 ? "" : "s"}`;
  if (Array.isArray(v)) return `${v.length} item${v.length === 1 ? "" : "s"}`;
  if (v instanceof Set || v instanceof Map) return `${v.size} items`;
  return showValue(v);
}

/**
 * A zod error map in mixlab's message shape: "expected <what>, got <value>". Pass it to
 * `schema.safeParse(raw, { error: zodMessage })`; a schema's own messages (refinements) win, and
 * an issue it does not know keeps zod's wording.
 */
export function zodMessage(i: ZodIssueFacts): string | undefined {
  const got = showValue(i.input);
  switch (i.code) {
    case "invalid_type":
    case "invalid_value": {
      const what = expectedOf(i);
      return what === undefined ? undefined : `expected ${what}, got ${got}`;
    }
    case "too_small":
    case "too_big": {
      const small = i.code === "too_small";
      const bound = small ? i.minimum : i.maximum;
      const strict = i.inclusive === false;
      if (i.origin === "array" || i.origin === "set" || i.origin === "string") {
        const unit = `${i.origin === "string" ? "character" : "item"}${Number(bound) === 1 ? "" : "s"}`;
        const side = small ? (strict ? "more than" : "at least") : strict ? "fewer than" : "at most";
        return `expected ${side} ${bound} ${unit}, got ${sizeOf(i)}`;
      }
      const op = small ? (strict ? ">" : "≥") : strict ? "<" : "≤";
      return `expected a number ${op} ${bound}, got ${got}`;
    }
    case "not_multiple_of":
      return `expected a multiple of ${i.divisor}, got ${got}`;
    case "invalid_format":
      return i.format === "regex"
        ? `expected a string matching ${i.pattern}, got ${got}`
        : `expected a valid ${i.format}, got ${got}`;
    case "unrecognized_keys": {
      const keys = i.keys ?? [];
      const named = keys.map((k) => JSON.stringify(k)).join(", ");
      return `expected no field ${named} (not part of the format), got ${keys.length === 1 ? "one" : keys.length}`;
    }
    case "invalid_union": {
      // The alternatives, when each branch failed on the value itself ("a number or a string").
      const each = (i.errors ?? []).map((branch) => (branch.length === 1 ? expectedOf(branch[0]!) : undefined));
      const known = each.length > 0 && each.every((e) => e !== undefined);
      return known ? `expected ${[...new Set(each)].join(" or ")}, got ${got}` : `expected another form, got ${got}`;
    }
    default:
      return undefined;
  }
}

/** Parse options that give zod's issues mixlab's message shape (see `zodMessage`). */
export const ZOD_MESSAGES = { error: zodMessage } as const;

/** A failed zod parse's issues as InputIssues: the dotted path (`root` for the whole document). */
export function zodIssues(
  issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[],
  root = "document",
  prefix: readonly string[] = [],
): InputIssue[] {
  return issues.map((i) => ({ path: [...prefix, ...i.path.map(String)].join(".") || root, message: i.message }));
}
