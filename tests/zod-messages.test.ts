// zod's issues in mixlab's message shape, "expected <what>, got <value>": known answers for
// every issue kind the schemas produce, and a schema's own message kept.

import { describe, expect, it } from "vitest";
import { z } from "zod";
import { showValue, ZOD_MESSAGES, zodIssues } from "../src/errors.js";

/** The messages of parsing `raw` with `schema`, by dotted path. */
function messages(schema: z.ZodType, raw: unknown): Record<string, string> {
  const r = schema.safeParse(raw, ZOD_MESSAGES);
  if (r.success) return {};
  return Object.fromEntries(zodIssues(r.error.issues).map((i) => [i.path, i.message]));
}

describe("zod issues as mixlab messages", () => {
  it("types, literals and enums", () => {
    const s = z.strictObject({
      n: z.number(),
      i: z.number().int(),
      s: z.string(),
      b: z.boolean(),
      a: z.array(z.number()),
      o: z.object({}),
      lit: z.literal("v1"),
      e: z.enum(["x", "y"]),
    });
    expect(messages(s, { n: "1", i: 2.5, s: null, b: 1, a: {}, o: [], lit: "v0", e: "z" })).toEqual({
      n: 'expected a number, got "1"',
      i: "expected an integer, got 2.5",
      s: "expected a string, got null",
      b: "expected true or false, got 1",
      a: "expected an array, got {}",
      o: "expected an object, got []",
      lit: 'expected "v1", got "v0"',
      e: 'expected one of "x", "y", got "z"',
    });
    expect(messages(s, {}).n).toBe("expected a number, got nothing");
    expect(messages(z.number(), Number.NaN)).toEqual({ document: "expected a number, got NaN" });
  });

  it("bounds of numbers, arrays and strings", () => {
    const s = z.object({
      ge: z.number().min(1),
      gt: z.number().positive(),
      le: z.number().max(1),
      lt: z.number().lt(1),
      few: z.array(z.number()).min(2),
      many: z.array(z.number()).max(1),
      short: z.string().min(3),
      long: z.string().max(1),
      step: z.number().multipleOf(5),
    });
    const got = messages(s, { ge: 0, gt: 0, le: 2, lt: 1, few: [1], many: [1, 2], short: "ab", long: "ab", step: 7 });
    expect(got).toEqual({
      ge: "expected a number ≥ 1, got 0",
      gt: "expected a number > 0, got 0",
      le: "expected a number ≤ 1, got 2",
      lt: "expected a number < 1, got 1",
      few: "expected at least 2 items, got 1 item",
      many: "expected at most 1 item, got 2 items",
      short: "expected at least 3 characters, got 2 characters",
      long: "expected at most 1 character, got 2 characters",
      step: "expected a multiple of 5, got 7",
    });
  });

  it("unknown fields, patterns, unions, and a schema's own message", () => {
    expect(messages(z.strictObject({ a: z.number() }), { a: 1, x: 1, y: 2 })).toEqual({
      document: 'expected no field "x", "y" (not part of the format), got 2',
    });
    expect(messages(z.string().regex(/^[0-9a-f]{4}$/), "zz")).toEqual({
      document: 'expected a string matching /^[0-9a-f]{4}$/, got "zz"',
    });
    expect(messages(z.union([z.number(), z.string()]), true)).toEqual({
      document: "expected a number or a string, got true",
    });
    const own = z.number().refine((v) => v % 2 === 0, {
      error: (i) => `expected an even number, got ${showValue(i.input)}`,
    });
    expect(messages(own, 3)).toEqual({ document: "expected an even number, got 3" });
    const nested = zodIssues([{ path: [0, "a"], message: "m" }], "document", ["rows"]);
    expect(nested).toEqual([{ path: "rows.0.a", message: "m" }]);
  });
});
