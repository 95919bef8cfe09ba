// A sweep's plan, apart from how runs are trained (the local pool, a queue) and stored (the runs
// table): mixtures + the settings shared by every run → one spec per distinct run, keyed by a
// hash of everything that changes its result, minus the keys already in the table. Pure.

import { createHash } from "node:crypto";
import type { Cell, Frame } from "../runs/frame.js";
import type { ProxyConfig } from "../proxy/model.js";

/**
 * What the trainer does beyond the settings below, fixed in code (src/proxy/train.ts): AdamW
 * betas, the floor of the decay, the sampler's block size, how windows are cut. Part of every
 * key; change it whenever the trainer changes what a run computes.
 */
export const TRAINER_RECIPE =
  "adamw b1=0.9 b2=0.95; decay floor 0.1×peak; sampler blocks of 4096; windows at sha256(seed:index); byte tokens";

/** Everything besides the mixture that decides a run's result. */
export interface RunSettings {
  /** Preset name (recorded; the config below is what is hashed). */
  readonly model: string;
  readonly config: ProxyConfig;
  readonly steps: number;
  /** Sequences per step. */
  readonly batchSize: number;
  readonly seed: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** Linear warm-up steps. */
  readonly warmup: number;
  /** Decay after warm-up, down to 10% of the peak. */
  readonly schedule: "cosine" | "linear";
  /** AdamW weight decay of the matrices. */
  readonly weightDecay: number;
  /** Per-member global gradient-norm clip. */
  readonly clip: number;
  /** Held-out windows per domain at evaluation. */
  readonly evalWindows: number;
  /** Content hash of the corpus (train and held-out splits): `corpusSha256` in src/sweep/corpus-hash.ts. */
  readonly corpusSha256: string;
  /** The tokenizer ("bytes": the proxy's byte-level vocabulary). */
  readonly tokenizer: string;
}

/** Settings as given by a caller: the trainer's defaults fill the rest (resolveSettings). */
type Defaulted = "lr" | "warmup" | "schedule" | "weightDecay" | "clip" | "evalWindows" | "tokenizer";
export type RunSettingsInput = Omit<RunSettings, Defaulted> & Partial<Pick<RunSettings, Defaulted>>;

/**
 * Fills unset settings with the trainer's defaults: lr 3e-3, warm-up 10% of the steps (at least
 * 1), cosine decay, weight decay 0.1, clip 1, 16 evaluation windows, byte tokens. Every value is
 * then passed to the trainer explicitly, so the key and the run agree.
 */
export function resolveSettings(s: RunSettingsInput): RunSettings {
  return {
    ...s,
    lr: s.lr ?? 3e-3,
    warmup: s.warmup ?? Math.max(1, Math.round(0.1 * s.steps)),
    schedule: s.schedule ?? "cosine",
    weightDecay: s.weightDecay ?? 0.1,
    clip: s.clip ?? 1,
    evalWindows: s.evalWindows ?? 16,
    tokenizer: s.tokenizer ?? "bytes",
  };
}

/**
 * A run's key: the first 16 hex digits of SHA-256 over the mixture (domains with a positive
 * share, by name) and every setting that changes the result (all of RunSettings except the
 * model's name, plus TRAINER_RECIPE). The backend, the thread count and the ensemble size are
 * not in it: they change results only by float rounding (recorded in the row instead).
 */
export function runKey(proportions: Readonly<Record<string, number>>, s: RunSettings): string {
  const mixture = Object.keys(proportions)
    .filter((d) => proportions[d]! > 0)
    .sort()
    .map((d) => [d, proportions[d]]);
  const c = s.config;
  const canon = JSON.stringify({
    v: 2,
    mixture,
    config: [c.vocab, c.dModel, c.nLayers, c.nHeads, c.seqLen, c.dFF, c.untiedHead === true],
    steps: s.steps,
    batchSize: s.batchSize,
    seed: s.seed,
    lr: s.lr,
    warmup: s.warmup,
    schedule: s.schedule,
    weightDecay: s.weightDecay,
    clip: s.clip,
    evalWindows: s.evalWindows,
    corpus: s.corpusSha256,
    tokenizer: s.tokenizer,
    recipe: TRAINER_RECIPE,
  });
  return createHash("sha256").update(canon).digest("hex").slice(0, 16);
}

/** The columns that record a run's settings in its row (names as in the runs table). */
export function settingsCells(s: RunSettings): Map<string, Cell> {
  return new Map<string, Cell>([
    ["model", s.model],
    ["model_config", JSON.stringify(s.config)],
    ["seed", s.seed],
    ["steps", s.steps],
    ["batch_size", s.batchSize],
    ["seq_len", s.config.seqLen],
    ["lr", s.lr],
    ["warmup", s.warmup],
    ["schedule", s.schedule],
    ["weight_decay", s.weightDecay],
    ["clip", s.clip],
    ["eval_windows", s.evalWindows],
    ["corpus_sha256", s.corpusSha256],
    ["tokenizer", s.tokenizer],
  ]);
}

/** One run to train: its key, mixture and settings. */
export interface RunSpec {
  readonly key: string;
  readonly proportions: Readonly<Record<string, number>>;
  readonly settings: RunSettings;
}

/** A sweep's plan. */
export interface SweepPlan {
  /** Every mixture's key, in the order given (for looking rows up afterwards). */
  readonly keys: string[];
  /** Distinct runs not yet in the table, in the order given. */
  readonly todo: RunSpec[];
  /** Mixtures whose run is already in the table. */
  readonly done: number;
  /** Mixtures that repeat an earlier mixture of this sweep (same key). */
  readonly repeated: number;
}

/**
 * Plans a sweep: one spec per distinct key, minus the keys in `done`.
 * @param done run ids already in the table (text, compared exactly)
 */
export function planSweep(o: {
  readonly mixtures: readonly Readonly<Record<string, number>>[];
  readonly settings: RunSettings;
  readonly done: ReadonlySet<string>;
}): SweepPlan {
  const keys = o.mixtures.map((p) => runKey(p, o.settings));
  const seen = new Set<string>();
  const todo: RunSpec[] = [];
  let done = 0;
  let repeated = 0;
  o.mixtures.forEach((p, i) => {
    const key = keys[i]!;
    if (seen.has(key)) repeated++;
    else if (o.done.has(key)) done++;
    else todo.push({ key, proportions: p, settings: o.settings });
    seen.add(key);
  });
  return { keys, todo, done, repeated };
}

/**
 * Rows of a table made with other settings than `s` (rows whose key this plan does not know),
 * described setting by setting: `lr: 0.003 in 6 rows (here 0.01)`. Rows that record no such
 * column are described as made before mixlab recorded it. Empty when every row matches.
 */
export function otherSettings(frame: Frame | null, s: RunSettings, keys: readonly string[]): string[] {
  if (!frame || frame.numRows === 0) return [];
  const known = new Set(keys);
  const ids = frame.cells.get("run_id");
  const rows: number[] = [];
  for (let i = 0; i < frame.numRows; i++) {
    const id = ids?.[i];
    if (id === null || id === undefined || !known.has(String(id))) rows.push(i);
  }
  if (rows.length === 0) return [];
  const out: string[] = [];
  for (const [column, mine] of settingsCells(s)) {
    const col = frame.cells.get(column);
    const counts = new Map<string, number>();
    for (const i of rows) {
      const v = col ? col[i]! : null;
      const shown = v === null ? "(not recorded)" : String(v);
      if (shown !== String(mine)) counts.set(shown, (counts.get(shown) ?? 0) + 1);
    }
    if (counts.size === 0) continue;
    const there = [...counts].map(([v, n]) => `${v} in ${n} row${n === 1 ? "" : "s"}`).join(", ");
    out.push(`${column}: ${there} (here ${String(mine)})`);
  }
  return out;
}
