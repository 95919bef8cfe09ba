// What a queued sweep job carries and what it returns, validated with zod on the worker's side (a job from
// another mixlab version, or a hand-made one, is refused with the field named). Job data never holds a
// connection URL, a password or a TLS setting.

import { z } from "zod";
import { showValue } from "../../errors.js";
import type { RunSettings } from "../plan.js";
import type { RunResult } from "../../proxy/train.js";

/** Format tag of job data. */
export const JOB_FORMAT = "mixlab.sweep-job/v1";

const finite = z.number().refine(Number.isFinite, {
  error: (i) => `expected a finite number, got ${showValue(i.input)}`,
});

/** Job data: one run of the sweep plan. */
export const SweepJobSchema = z.strictObject({
  format: z.literal(JOB_FORMAT),
  /** The run key (also the BullMQ job id): runKey(proportions, settings). */
  key: z.string().regex(/^[0-9a-f]{16}$/),
  domains: z.array(z.string().min(1)).min(1),
  proportions: z.record(z.string(), finite),
  /** Every setting of the run (src/sweep/plan.ts RunSettings), the corpus's content hash among them. */
  settings: z.strictObject({
    model: z.string(),
    config: z.strictObject({
      vocab: z.number().int().positive(),
      dModel: z.number().int().positive(),
      nLayers: z.number().int().positive(),
      nHeads: z.number().int().positive(),
      seqLen: z.number().int().positive(),
      dFF: z.number().int().positive(),
      untiedHead: z.boolean().optional(),
    }),
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    seed: z.number().int().min(0).max(0xffffffff),
    lr: z.number().positive(),
    warmup: z.number().int().min(0),
    schedule: z.enum(["cosine", "linear"]),
    weightDecay: z.number().min(0),
    clip: z.number().positive(),
    evalWindows: z.number().int().positive(),
    corpusSha256: z.string().regex(/^[0-9a-f]{64}$/),
    tokenizer: z.string(),
  }),
  /** The backend the coordinator was asked for; a worker's own `--backend` wins. */
  backend: z.string(),
  corpus: z.strictObject({
    /** The coordinator's corpus folder (used by workers without `--corpus-root`). */
    root: z.string(),
    /** The train and held-out splits, relative to `root`. */
    train: z.string(),
    heldout: z.string(),
  }),
});

/** Job data of one queued run. */
export type SweepJob = z.infer<typeof SweepJobSchema> & { readonly settings: RunSettings };

/** What a worker returns for a finished run (BullMQ keeps it as the job's return value until collected). */
export interface SweepJobResult {
  readonly result: RunResult;
  /** The worker's host name. */
  readonly host: string;
}

/**
 * Checks a mixture before any training: every domain known, shares finite, ≥ 0, summing to 1 ± 1e-6.
 * @returns null when fine, else what is wrong (a deterministic failure: the run is recorded as failed once)
 */
export function mixtureProblem(job: Pick<SweepJob, "domains" | "proportions">): string | null {
  const unknown = Object.keys(job.proportions).filter((d) => !job.domains.includes(d));
  if (unknown.length) {
    return `mixture: expected domains of the corpus (${job.domains.join(", ")}), got ${unknown.join(", ")}`;
  }
  const values = Object.values(job.proportions);
  const bad = Object.entries(job.proportions).find(([, v]) => !(v >= 0));
  if (bad) return `mixture: ${bad[0]}: expected a share ≥ 0, got ${bad[1]}`;
  const sum = values.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) return `mixture: expected shares summing to 1, got ${sum}`;
  return null;
}

/**
 * The BullMQ job id of a run: `run-` + its run key. (BullMQ refuses ids that read as integers, which an
 * all-digit hex key — about 1 in 2,000 — would; the prefix keeps the mapping one-to-one for every key.)
 */
export function jobIdOf(key: string): string {
  return `run-${key}`;
}

/** The run key of a job id made by jobIdOf, or null for another queue's job. */
export function keyOfJobId(id: string | undefined): string | null {
  return id !== undefined && id.startsWith("run-") ? id.slice(4) : null;
}
