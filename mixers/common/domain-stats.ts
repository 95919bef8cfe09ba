// Per-domain statistics of one optimizer step: merging them across ranks (mergeDomainStats, for
// multi-rank training) and across the events of one step (StepStats, for gradient accumulation),
// both as token-weighted sums in a fixed order so every rank computes bit-identical updates.

import { z } from "zod";
import { InputError, showValue, type InputIssue } from "../../src/errors.js";
import type { MixerEvent } from "../types.js";

/**
 * One rank's statistics for one optimizer step. Give each per-domain quantity either as a sum
 * over tokens (`lossSum` = Σ loss × tokens) or as a mean (`loss`), with `tokens` per domain.
 */
export interface RankDomainStats {
  /** Tokens behind each domain's statistics on this rank (≥ 0; 0 = the domain is absent). */
  readonly tokens: Readonly<Record<string, number>>;
  /** Σ over the domain's tokens of the loss (nats); or give `loss`. */
  readonly lossSum?: Readonly<Record<string, number>>;
  /** Mean loss per domain; or give `lossSum`. */
  readonly loss?: Readonly<Record<string, number>>;
  /** Σ of the reference model's loss over the same tokens (DoReMi); or `reference` as a mean. */
  readonly referenceSum?: Readonly<Record<string, number>>;
  readonly reference?: Readonly<Record<string, number>>;
  /** Σ of per-token clipped excess loss (DoReMi); or `excess` as a mean. */
  readonly excessSum?: Readonly<Record<string, number>>;
  readonly excess?: Readonly<Record<string, number>>;
}

/** The merged statistics: the `loss`, `tokens` (and `reference`, `excess`) of one event. */
export interface MergedDomainStats {
  readonly loss: Record<string, number>;
  readonly tokens: Record<string, number>;
  readonly reference?: Record<string, number>;
  readonly excess?: Record<string, number>;
}

const FIELDS = [
  ["loss", "lossSum"],
  ["reference", "referenceSum"],
  ["excess", "excessSum"],
] as const;

/**
 * Merges per-rank statistics into one event's per-domain token-weighted means and token totals.
 * Ranks are summed in the order given and domains are listed in order of first appearance, so
 * the result is bit-identical on every rank that merges the same all-gathered list. Every rank
 * must feed the merged statistics (not its own) to its mixer, so all ranks make the same update
 * and sample with the same proportions. Domains with 0 tokens on every rank are absent from the
 * result (absent from the step).
 * @param perRank one entry per rank, in rank order
 * @throws InputError naming the rank and field for negative or non-finite values, a quantity
 *   given both as a sum and a mean, or a quantity present on some ranks only
 * @example
 * mergeDomainStats([{ lossSum: { web: 30 }, tokens: { web: 10 } }, { loss: { web: 2 }, tokens: { web: 30 } }])
 * // → { loss: { web: 2.25 }, tokens: { web: 40 } }
 */
export function mergeDomainStats(perRank: readonly RankDomainStats[]): MergedDomainStats {
  const source = "mergeDomainStats";
  if (!Array.isArray(perRank) || perRank.length === 0) {
    throw new InputError(source, `expected a non-empty array of per-rank statistics, got ${showValue(perRank)}`);
  }
  const issues: InputIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path, message });
  const order: string[] = [];
  const tokens = new Map<string, number>();
  const sums = FIELDS.map(() => new Map<string, number>());
  const used = FIELDS.map(() => 0);
  perRank.forEach((r, rank) => {
    const at = `rank ${rank}`;
    if (typeof r !== "object" || r === null || typeof r.tokens !== "object" || r.tokens === null) {
      issue(`${at}, tokens`, `expected an object of per-domain token counts, got ${showValue(r?.tokens)}`);
      return;
    }
    for (const [d, n] of Object.entries(r.tokens)) {
      if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
        issue(`${at}, tokens.${d}`, `expected a finite number ≥ 0, got ${showValue(n)}`);
        continue;
      }
      if (!tokens.has(d)) {
        order.push(d);
        tokens.set(d, 0);
      }
      tokens.set(d, tokens.get(d)! + n);
    }
    FIELDS.forEach(([mean, sum], f) => {
      const m = r[mean];
      const s = r[sum];
      if (m !== undefined && s !== undefined) issue(`${at}, ${mean}`, `expected either ${mean} or ${sum}, got both`);
      const given = s ?? m;
      if (given === undefined) return;
      const field = s !== undefined ? sum : mean;
      used[f]!++;
      for (const [d, v] of Object.entries(given)) {
        const n = r.tokens[d];
        if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
          issue(`${at}, ${field}.${d}`, `expected a finite number ≥ 0, got ${showValue(v)}`);
        } else if (typeof n !== "number") {
          issue(`${at}, tokens.${d}`, `expected a token count for every domain in ${field}, got nothing`);
        } else {
          sums[f]!.set(d, (sums[f]!.get(d) ?? 0) + (s !== undefined ? v : v * n));
        }
      }
      // A domain with tokens needs its value: a missing one would enter the mean as 0.
      for (const [d, n] of Object.entries(r.tokens)) {
        if (typeof n === "number" && n > 0 && !(d in given)) {
          issue(`${at}, ${field}.${d}`, `expected a value for every domain with tokens, got nothing`);
        }
      }
    });
  });
  FIELDS.forEach(([mean, sum], f) => {
    if (used[f]! > 0 && used[f]! < perRank.length) {
      issue(mean, `expected ${mean} (or ${sum}) from every rank or none, got it from ${used[f]} of ${perRank.length}`);
    }
  });
  if (used[0] === 0) issue("loss", "expected loss or lossSum from every rank, got none");
  if (issues.length) throw new InputError(source, issues);
  const loss: Record<string, number> = {};
  const tokenTotals: Record<string, number> = {};
  const reference: Record<string, number> = {};
  const excess: Record<string, number> = {};
  for (const d of order) {
    const n = tokens.get(d)!;
    if (n === 0) continue;
    tokenTotals[d] = n;
    loss[d] = (sums[0]!.get(d) ?? 0) / n;
    if (used[1]) reference[d] = (sums[1]!.get(d) ?? 0) / n;
    if (used[2]) excess[d] = (sums[2]!.get(d) ?? 0) / n;
  }
  return { loss, tokens: tokenTotals, ...(used[1] ? { reference } : {}), ...(used[2] ? { excess } : {}) };
}

/** Which optional per-domain fields a mixer reads from its events. */
export interface StatsFields {
  readonly reference?: boolean;
  readonly excess?: boolean;
}

/** JSON form of StepStats (inside a mixer's state). */
export const StepStatsSchema = z.strictObject({
  step: z.number().int().min(-1),
  tokens: z.array(z.number().min(0)),
  lossSum: z.array(z.number().min(0)),
  referenceSum: z.array(z.number().min(0)),
  excessSum: z.array(z.number().min(0)),
});

/**
 * The token-weighted sums of the train events of one optimizer step, so several events for the
 * same step (gradient accumulation, per-micro-batch reporting) merge into one update.
 */
export class StepStats {
  step = -1;
  readonly tokens: Float64Array;
  readonly lossSum: Float64Array;
  readonly referenceSum: Float64Array;
  readonly excessSum: Float64Array;

  constructor(numDomains: number) {
    this.tokens = new Float64Array(numDomains);
    this.lossSum = new Float64Array(numDomains);
    this.referenceSum = new Float64Array(numDomains);
    this.excessSum = new Float64Array(numDomains);
  }

  /** Starts a new step with no statistics. */
  reset(step: number): void {
    this.step = step;
    this.tokens.fill(0);
    this.lossSum.fill(0);
    this.referenceSum.fill(0);
    this.excessSum.fill(0);
  }

  /**
   * Adds a validated train event (tokens required); `reference` and `excess` only when the mixer
   * uses (and so validated) them.
   */
  add(event: MixerEvent, index: ReadonlyMap<string, number>, uses: StatsFields = {}): void {
    for (const d in event.loss) {
      const i = index.get(d)!;
      const n = event.tokens![d]!;
      this.tokens[i] = this.tokens[i]! + n;
      this.lossSum[i] = this.lossSum[i]! + event.loss[d]! * n;
      if (uses.reference) this.referenceSum[i] = this.referenceSum[i]! + event.reference![d]! * n;
      if (uses.excess) this.excessSum[i] = this.excessSum[i]! + event.excess![d]! * n;
    }
  }

  toJSON(): z.infer<typeof StepStatsSchema> {
    return {
      step: this.step,
      tokens: [...this.tokens],
      lossSum: [...this.lossSum],
      referenceSum: [...this.referenceSum],
      excessSum: [...this.excessSum],
    };
  }

  load(data: z.infer<typeof StepStatsSchema>): void {
    this.step = data.step;
    this.tokens.set(data.tokens);
    this.lossSum.set(data.lossSum);
    this.referenceSum.set(data.referenceSum);
    this.excessSum.set(data.excessSum);
  }
}

/** Zod array of exactly `k` finite numbers (Float64Array fields of a state). */
export function vectorSchema(k: number): z.ZodArray<z.ZodNumber> {
  return z.array(z.number()).length(k);
}
