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
