// The streaming sampler (ARCHITECTURE.md "The sampler, in one paragraph"): domain sources +
// proportions (or stages, or a live online mixer) + seed → an exact, resumable, shardable stream
// of samples. This file is the runtime around the pure plan (plan.ts): it measures record lengths,
// checks repetition caps over the whole schedule before the first sample, keeps the state,
// shards by rank and loader worker, reads records with bounded read-ahead, and packs token
// batches. Training code imports `createSampler` from "mixlab".

import { createHash } from "node:crypto";
import { z } from "zod";
import { InputError, UnsupportedError, showValue, ZOD_MESSAGES, zodIssues } from "../errors.js";
import { normalize } from "../core/simplex.js";
import { createRng } from "../rng/index.js";
import { Plan, tokensPerBlock, type Location, type PlanSpec, type StageSpec } from "./plan.js";
import { openCorpus, type Corpus } from "./corpus.js";
import type { DomainSource, OpenOptions, SourceRecord } from "./sources.js";
import { byteTokenizer, utf8Length, type Tokenizer } from "./tokenizer.js";

/** Proportions by domain name. */
export type ProportionsByName = Readonly<Record<string, number>>;

/** A stage by domain name. */
export interface StageByName {
  readonly untilSamples?: number;
  readonly untilTokens?: number;
  readonly proportions: ProportionsByName;
}

/** Options of `createSampler`. */
export interface SamplerOptions {
  /** A corpus directory, or sources by domain name (in the order given). */
  readonly corpus: string | { readonly names: readonly string[]; readonly sources: readonly DomainSource[] };
  /** One mixture for the whole run … */
  readonly proportions?: ProportionsByName;
  /** … or a schedule of stages (warm-up, annealing). */
  readonly stages?: readonly StageByName[];
  /** uint32 seed (default 0). */
  readonly seed?: number;
  /** Samples per block (default 1024). */
  readonly blockSize?: number;
  /** Proportions are token shares (default) or sample shares. */
  readonly unit?: "tokens" | "samples";
  /** Block order: seeded permutation (default) or Megatron's smoothest greedy order. */
  readonly order?: "shuffle" | "smooth";
  /** Maximum epochs over each domain (a number for all, or by name); needs a budget. */
  readonly maxEpochs?: number | ProportionsByName;
  /** What to do when a domain cannot meet its share within its cap (default "error"). */
  readonly onExceed?: "error" | "redistribute";
  /** The run's length: samples or tokens (the stream ends there; needed for epoch checks). */
  readonly budgetSamples?: number;
  readonly budgetTokens?: number;
  /** Rank r of W (default 0 of 1): rank r reads global samples r, r + W, r + 2W, … */
  readonly rank?: number;
  readonly worldSize?: number;
  /** Resume from a saved state (checked against `SamplerStateSchema` and this plan's hash). */
  readonly state?: SamplerState;
  /** Where the state came from, for messages (a file path; default "state"). */
  readonly stateSource?: string;
  /** Tokenizer for text sources (default byte-level) and for measuring lengths. */
  readonly tokenizer?: Tokenizer;
  /** Records per domain measured for mean lengths of text sources (default 512, seeded). */
  readonly lengthSampleSize?: number;
  /** Options for opening files. */
  readonly open?: OpenOptions;
  /** Where warnings go (default stderr). */
  readonly warn?: (message: string) => void;
  /**
   * An online mixer (ARCHITECTURE.md): asked for the proportions of each block; a change becomes
   * a live stage from that block's start (recorded in the state). It is asked for block b when
   * this rank's first sample of block b is about to be read AND every earlier sample of this
   * rank was delivered: `samples()`/`examples()` deliver a sample when they yield it, and
   * `batches()`/`toTfDataset` ask while assembling the batch that holds that first sample, after
   * every earlier batch was delivered. So a training loop that feeds each step to the mixer
   * before asking for the next batch always feeds it before it decides, and read-ahead never
   * crosses an undecided block. It must answer identically on every rank; needs `blockSize` a
   * multiple of `worldSize`, so every rank enters block b at the same step (b·B/W) and asks there.
   * `workerIndices` and `advance` are not available with a mixer.
   * Give the mixer itself, or a factory `(saved?) => mixer` that creates it (from the saved mixer
   * state when resuming): `state()` then holds the mixer's state too, so one object checkpoints
   * both; resuming a state with a mixer needs a mixer (and the reverse). With a mixer, `blockSize`
   * is required: for a mixer updated every optimizer step use the global batch (samples per
   * step) or a divisor of it, so no block straddles an update (a block that does keeps the
   * proportions decided at its start).
   */
  readonly mixer?: SamplerMixer | MixerFactory;
  /** Called with the requested-vs-achieved table before the first sample (e.g. console.error). */
  readonly report?: (table: string) => void;
}

/**
 * Creates the mixer, from its saved state when resuming. Declared as a method so a factory typed
 * with the narrower `OnlineMixerState` (mixers/types.ts) is accepted too.
 */
export type MixerFactory = { create(saved?: MixerStateLike): SamplerMixer }["create"];

/** A saved online-mixer state as the sampler sees it (mixers/types.ts OnlineMixerState). */
export interface MixerStateLike {
  readonly format: "mixlab.online-mixer/v1";
  readonly method: string;
  readonly domains: readonly string[];
  readonly data: Record<string, unknown>;
}

/**
 * What the sampler needs of an online mixer (mixers/types.ts OnlineMixer has it all). A bare
 * `{ proportions }` hook works too; without `state` its changes are kept only as live stages.
 */
export interface SamplerMixer {
  readonly method?: string;
  readonly domains?: readonly string[];
  proportions(): ProportionsByName;
  state?(): MixerStateLike;
}

/** The saved state: plan identity, global samples consumed, live stages appended, the mixer's state. */
export interface SamplerState {
  readonly format: "mixlab.sampler-state/v1";
  readonly planSha256: string;
  readonly consumed: number;
  readonly appended: readonly { readonly start: number; readonly proportions: ProportionsByName }[];
  /** The online mixer's state, when the sampler has one. */
  readonly mixer?: MixerStateLike | undefined;
}

/** One sample. */
export interface Sample {
  /** Global index in the stream. */
  readonly index: number;
  readonly domain: string;
  /** The domain's sample count before this one (across epochs). */
  readonly domainIndex: number;
  /** The record read, and the epoch over the domain. */
  readonly record: number;
  readonly epoch: number;
}

/** A sample with its data. */
export interface Example extends Sample {
  readonly text?: string;
  readonly tokens?: Int32Array;
}

/** A packed batch: rows of `seqLen` tokens, one sample a row. */
export interface TokenBatch {
  /** (batchSize × seqLen), row-major. */
  readonly tokens: Int32Array;
  /** Domain index (in `sampler.domains`) of each row. */
  readonly domainPerRow: Int32Array;
  /** Global sample index of each row. */
  readonly indexPerRow: Float64Array;
  /** Tokens cut from records longer than seqLen, and pad tokens added to shorter ones. */
  readonly truncatedTokens: number;
  readonly padTokens: number;
}

/** A row of the requested-vs-achieved table. */
export interface PlanRow {
  readonly domain: string;
  readonly records: number;
  readonly tokensPerRecord: number;
  readonly requested: number;
  readonly achievedTokenShare: number;
  readonly achievedSampleShare: number;
  readonly samplesPerBlock: number;
  readonly epochs: number | null;
  readonly maxEpochs: number | null;
}

const FORMAT = "mixlab.sampler-state/v1";

/** The schema of a saved `SamplerState` (JSON). */
export const SamplerStateSchema = z.strictObject({
  format: z.literal(FORMAT),
  planSha256: z.string().regex(/^[0-9a-f]{64}$/, {
    error: (i) => `expected 64 lowercase hex digits, got ${showValue(i.input)}`,
  }),
  consumed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  appended: z.array(
    z.strictObject({
      start: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      proportions: z.record(z.string(), z.number().min(0).finite()),
    }),
  ),
  /** The online mixer's state (checked against the mixer by `createSampler`). */
  mixer: z
    .strictObject({
      format: z.literal("mixlab.online-mixer/v1"),
      method: z.string(),
      domains: z.array(z.string()),
      data: z.record(z.string(), z.unknown()),
    })
    .optional(),
});


/**
 * Checks a saved sampler state (parsed JSON) against `SamplerStateSchema`.
 * @param source names the state in messages (a file path, or "state")
 * @throws InputError naming the source and every bad field, with what was expected and found
 */
export function parseSamplerState(raw: unknown, source = "state"): SamplerState {
  const r = SamplerStateSchema.safeParse(raw, ZOD_MESSAGES);
  if (!r.success) throw new InputError(source, zodIssues(r.error.issues));
  return r.data;
}

function byName(names: readonly string[], p: ProportionsByName, what: string): Float64Array {
  const unknown = Object.keys(p).filter((d) => !names.includes(d));
  if (unknown.length) {
    const got = unknown.map((u) => JSON.stringify(u)).join(", ");
    throw new InputError(what, `expected domains of the corpus (${names.join(", ")}), got unknown ${got}`);
  }
  const v = Float64Array.from(names.map((d) => p[d] ?? 0));
  for (let i = 0; i < v.length; i++) {
    if (!(v[i]! >= 0) || !Number.isFinite(v[i]!)) throw new InputError(
      what,
      `${names[i]}: expected a proportion ≥ 0, got ${v[i]}`,
    );
  }
  let s = 0;
  for (const x of v) s += x;
  if (Math.abs(s - 1) > 1e-6) throw new InputError(what, `expected proportions summing to 1 (± 1e-6), got ${s}`);
  return normalize(v);
}

/**
 * Refuses a positive share for a domain whose records are all empty (0 tokens): it would take
 * the whole stream under token shares and train nothing under sample shares.
 */
function refuseEmptyShares(
  names: readonly string[],
  sources: readonly DomainSource[],
  tokensPerRecord: Float64Array,
  v: Float64Array,
  what: string,
): void {
  for (let d = 0; d < v.length; d++) {
    if (v[d]! > 0 && tokensPerRecord[d] === 0) {
      const n = sources[d]!.numRecords;
      const exact = sources[d]!.tokensOf !== undefined;
      const measured = exact ? (n === 1 ? "its only record" : `all ${n} records`) : "every record measured";
      throw new InputError(
        sources[d]!.files.join(", "),
        `domain ${JSON.stringify(names[d])}: expected records with ${exact ? "tokens" : "text"}, ` +
          `got ${measured} empty ` +
          `(0 tokens) with a share of ${v[d]} in ${what}; give it share 0 or remove it`,
      );
    }
  }
}

function hashPlan(spec: PlanSpec, budget: number): string {
  const canon = JSON.stringify({
    domains: spec.domains,
    records: Array.from(spec.recordsPerDomain),
    tokensPerRecord: Array.from(spec.tokensPerRecord, (x) => Number(x.toPrecision(12))),
    stages: spec.stages.map(
      (s) => ({
        untilSamples: s.untilSamples ?? null,
        untilTokens: s.untilTokens ?? null,
        proportions: Array.from(s.proportions),
      }),
    ),
    seed: spec.seed,
    blockSize: spec.blockSize,
    unit: spec.unit,
    order: spec.order,
    budget,
  });
  return createHash("sha256").update(canon).digest("hex");
}

/** The streaming sampler. Create with `createSampler`. */
export class Sampler {
  readonly domains: readonly string[];
  readonly rank: number;
  readonly worldSize: number;
  /** Global samples of the whole run (Infinity when no budget was given). */
  readonly budgetSamples: number;
  private readonly loc: Location = { domain: 0, domainIndex: 0, record: 0, epoch: 0 };
  private consumed: number;
  private readonly appended: { start: number; proportions: ProportionsByName }[];

  constructor(
    readonly plan: Plan,
    readonly sources: readonly DomainSource[],
    readonly planSha256: string,
    budget: number,
    start: number,
    rank: number,
    worldSize: number,
    private readonly tokenizer: Tokenizer,
    private readonly corpus: Corpus | null,
    readonly maxEpochs: Float64Array | null,
    appended: { start: number; proportions: ProportionsByName }[],
    private readonly warn: (message: string) => void,
    private readonly mixer: SamplerMixer | null = null,
  ) {
    this.appended = appended;
    this.domains = plan.spec.domains;
    this.budgetSamples = budget;
    this.consumed = start;
    this.rank = rank;
    this.worldSize = worldSize;
    // On resume, this rank's last delivered sample tells which block the mixer already decided.
    const last = start + rank - worldSize;
    this.mixerBlock = last >= 0 ? Math.floor(last / plan.spec.blockSize) : -1;
  }

  /** Where global sample g comes from (pure; does not advance the stream). */
  sampleAt(g: number): Sample {
    const l = this.plan.locate(g, this.loc);
    return { index: g, domain: this.domains[l.domain]!, domainIndex: l.domainIndex, record: l.record, epoch: l.epoch };
  }

  /** Global samples delivered so far by all ranks (this rank's deliveries × W, in lockstep). */
  get position(): number {
    return this.consumed;
  }

  /** The global index of this rank's next sample. */
  private nextIndex(): number {
    return this.consumed + this.rank;
  }

  /** Records that this rank's sample with global index g was handed to the caller. */
  private delivered(g: number): void {
    this.consumed = g - this.rank + this.worldSize;
  }

  /**
   * The state to save with a checkpoint; resuming from it continues the exact stream.
   *
   * It counts samples DELIVERED to the caller, on every read path: a sample from `samples()` or
   * `examples()` counts once the loop receives it, a batch from `batches()` or `toTfDataset` once
   * the loop receives the batch (so a state taken inside the `for await` body after receiving a
   * batch covers everything up to and including that batch), and samples read through
   * `workerIndices` once `advance` marks them. Read-ahead never moves it.
   */
  state(): SamplerState {
    const base = {
      format: FORMAT,
      planSha256: this.planSha256,
      consumed: this.consumed,
      appended: this.appended.map((a) => ({ ...a })),
    } as const;
    return this.mixer?.state ? { ...base, mixer: this.mixer.state() } : base;
  }

  /** The online mixer steering this sampler, if any. */
  get onlineMixer(): SamplerMixer | null {
    return this.mixer;
  }

  /**
   * Changes the proportions from the next block boundary on (a live stage, recorded in the
   * state). Call it identically on every rank at the same step. Read-ahead of a running
   * `examples()`/`batches()` made under the old proportions is dropped and read again.
   */
  setProportions(p: ProportionsByName): void {
    const v = byName(this.domains, p, "setProportions");
    refuseEmptyShares(this.domains, this.sources, this.plan.spec.tokensPerRecord, v, "setProportions");
    const st = this.plan.appendStage(v, this.consumed);
    this.appended.push({ start: st.start, proportions: { ...p } });
    this.planVersion++;
    warnZeroCounts(this.domains, st.counts, v, this.plan.spec.blockSize, this.warn);
  }

  /**
   * Marks this rank's next `n` samples as delivered: for loaders that read through
   * `workerIndices` and hand samples to training themselves. Not with an online mixer.
   */
  advance(n: number): void {
    if (this.mixer) throw new UnsupportedError(
      "advance: an online mixer decides each block when its first sample is read; read through samples(), examples() " +
        "or batches()",
    );
    if (!(Number.isInteger(n) && n >= 0)) throw new InputError("advance", `expected an integer ≥ 0, got ${n}`);
    const left = Math.max(0, Math.ceil((this.budgetSamples - this.nextIndex()) / this.worldSize));
    if (n > left) throw new InputError("advance", `expected at most the ${left} samples left to this rank, got ${n}`);
    this.consumed += n * this.worldSize;
  }

  /** Bumped by `setProportions`: read-ahead made under an older plan is dropped. */
  private planVersion = 0;
  /** The last block whose proportions this rank asked the mixer for (set in the constructor). */
  private mixerBlock: number;

  /** Whether global sample g opens a block the online mixer has not decided yet (for this rank). */
  private undecided(g: number): boolean {
    return this.mixer !== null && Math.floor(g / this.plan.spec.blockSize) > this.mixerBlock;
  }

  /**
   * The online-mixer hook, the one place the mixer is consulted: asks it for the proportions of
   * the block holding global sample g; a change becomes a live stage from that block's start.
   * Called only when g is this rank's first sample of the block and every earlier sample of
   * this rank was delivered (see `SamplerOptions.mixer`).
   */
  private decideBlock(g: number): void {
    const block = Math.floor(g / this.plan.spec.blockSize);
    const p = this.mixer!.proportions();
    const v = byName(this.domains, p, "mixer.proportions()");
    refuseEmptyShares(this.domains, this.sources, this.plan.spec.tokensPerRecord, v, "mixer.proportions()");
    // Decided only once the answer is valid: after a throw, the next read asks again.
    this.mixerBlock = block;
    const cur = this.plan.stages[this.plan.stageAt(g)]!.proportions;
    let same = true;
    for (let d = 0; d < v.length; d++) if (Math.abs(v[d]! - cur[d]!) > 1e-12) same = false;
    if (same) return;
    const st = this.plan.appendStage(v, block * this.plan.spec.blockSize);
    this.appended.push({ start: st.start, proportions: { ...p } });
    warnZeroCounts(this.domains, st.counts, v, this.plan.spec.blockSize, this.warn);
  }

  /** Samples for this rank, in order, until the budget (or forever); each counts as delivered when yielded. */
  *samples(limit = Infinity): Generator<Sample> {
    for (let n = 0; n < limit; n++) {
      const g = this.nextIndex();
      if (g >= this.budgetSamples) return;
      if (this.undecided(g)) this.decideBlock(g);
      const s = this.sampleAt(g);
      this.delivered(g);
      yield s;
    }
  }

  /**
   * The global indices a loader worker reads: this rank's t-th sample goes to worker t mod K.
   * Starting from the position when it is called; does not advance the state (the
   * loader calls `advance` as it hands samples to training). Not with an online mixer.
   */
  workerIndices(worker: number, numWorkers: number, limit = Infinity): Generator<number> {
    if (!(Number.isInteger(numWorkers) && numWorkers >= 1)) throw new InputError(
      "numWorkers",
      `expected an integer ≥ 1, got ${numWorkers}`,
    );
    if (!(Number.isInteger(worker) && worker >= 0 && worker < numWorkers)) throw new InputError(
      "worker",
      `expected an integer in [0, ${numWorkers}), got ${worker}`,
    );
    if (this.mixer) throw new UnsupportedError(
      "workerIndices: an online mixer decides each block when its first sample is read; read through samples(), " +
        "examples() or batches()",
    );
    return stride(
      this.consumed + this.rank + worker * this.worldSize,
      numWorkers * this.worldSize,
      this.budgetSamples,
      limit,
    );
  }

  /** Reads the data of a sample. */
  async read(s: Sample): Promise<SourceRecord> {
    return this.sources[this.domains.indexOf(s.domain)]!.read(s.record);
  }

  /**
   * Examples (samples with their text or tokens), with up to `readAhead` reads in flight (default
   * 16). An example counts as delivered when yielded; reads ahead never move the state. With an
   * online mixer, read-ahead stops before a block the mixer has not decided until every earlier
   * example was delivered. After `setProportions` the read-ahead is dropped and read again.
   */
  async *examples(options: { limit?: number; readAhead?: number } = {}): AsyncGenerator<Example> {
    const ahead = options.readAhead ?? 16;
    if (!(Number.isInteger(ahead) && ahead >= 1)) throw new InputError(
      "readAhead",
      `expected an integer ≥ 1, got ${ahead}`,
    );
    const limit = options.limit ?? Infinity;
    const W = this.worldSize;
    const queue: Promise<Example>[] = [];
    let sent = 0;
    let cursor = this.nextIndex();
    let version = this.planVersion;
    let expected = this.consumed;
    for (;;) {
      if (version !== this.planVersion || expected !== this.consumed) {
        // The plan or the position changed under the read-ahead: read again from the position.
        queue.length = 0;
        cursor = this.nextIndex();
        version = this.planVersion;
        expected = this.consumed;
      }
      while (queue.length < ahead && sent + queue.length < limit && cursor < this.budgetSamples) {
        if (this.undecided(cursor)) {
          if (queue.length > 0) break;
          this.decideBlock(cursor);
        }
        const s = this.sampleAt(cursor);
        const p = this.read(s).then((r) => ({ ...s, ...r }));
        p.catch(() => undefined); // a failed read is thrown when its turn comes, or dropped with the read-ahead
        queue.push(p);
        cursor += W;
      }
      if (queue.length === 0) return;
      const ex = await queue[0]!;
      if (version !== this.planVersion || expected !== this.consumed) continue;
      queue.shift();
      this.delivered(ex.index);
      expected = this.consumed;
      sent++;
      yield ex;
    }
  }

  /**
   * Packed token batches: each row is one sample's tokens (text through the tokenizer), cut to
   * `seqLen` or padded with `padId`; what was cut or padded is counted, never hidden. Store
   * documents pre-chunked to seqLen for exact token accounting. A batch's rows count as
   * delivered (in `state()`) when the batch is handed out: a state taken in the `for await` body
   * after receiving a batch covers everything up to and including it. Pre-tokenised sources
   * without a mixer take a synchronous fast path that reads each batch when it is asked for.
   */
  async *batches(options: {
    batchSize: number;
    seqLen: number;
    padId?: number;
    limit?: number;
    readAhead?: number;
    /** Hand out the same buffers every time (valid until the next batch is requested); default false. */
    reuse?: boolean;
  }): AsyncGenerator<TokenBatch> {
    const { batchSize, seqLen } = options;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new InputError(
      "batchSize",
      `expected an integer ≥ 1, got ${batchSize}`,
    );
    if (!(Number.isInteger(seqLen) && seqLen >= 1)) throw new InputError(
      "seqLen",
      `expected an integer ≥ 1, got ${seqLen}`,
    );
    const pad = options.padId ?? 0;
    if (this.sources.every((src) => src.readInto) && !this.mixer) {
      yield* this.batchesSync(batchSize, seqLen, pad, options.limit ?? Infinity, options.reuse ?? false);
      return;
    }
    let tokens = new Int32Array(batchSize * seqLen);
    let domains = new Int32Array(batchSize);
    let indices = new Float64Array(batchSize);
    let row = 0;
    let truncated = 0;
    let padded = 0;
    let emitted = 0;
    const limit = options.limit ?? Infinity;
    // The rows of a batch count as delivered only with the batch: a failure while assembling it
    // puts the state back to the batch's start.
    let batchStart = this.consumed;
    try {
      for await (const ex of this.examples({ readAhead: options.readAhead ?? 32 })) {
        const ids = ex.tokens ?? this.tokenizer(ex.text ?? "");
        const n = Math.min(ids.length, seqLen);
        tokens.set(n === ids.length ? ids : ids.subarray(0, n), row * seqLen);
        if (n < seqLen) {
          tokens.fill(pad, row * seqLen + n, (row + 1) * seqLen);
          padded += seqLen - n;
        }
        truncated += ids.length - n;
        domains[row] = this.domains.indexOf(ex.domain);
        indices[row] = ex.index;
        if (++row === batchSize) {
          yield { tokens, domainPerRow: domains, indexPerRow: indices, truncatedTokens: truncated, padTokens: padded };
          batchStart = this.consumed;
          if (++emitted >= limit) return;
          tokens = new Int32Array(batchSize * seqLen);
          domains = new Int32Array(batchSize);
          indices = new Float64Array(batchSize);
          row = 0;
          truncated = 0;
          padded = 0;
        }
      }
    } catch (e) {
      this.consumed = batchStart;
      throw e;
    }
    // The stream ended inside a batch: hand over the rows read, never drop them.
    if (row > 0) yield trimBatch(
      { tokens, domainPerRow: domains, indexPerRow: indices, truncatedTokens: truncated, padTokens: padded },
      row,
      seqLen,
    );
  }

  /** Packed batches from pre-tokenised sources, read synchronously straight into the rows. */
  private *batchesSync(
    batchSize: number,
    seqLen: number,
    pad: number,
    limit: number,
    reuse: boolean,
  ): Generator<TokenBatch> {
    let tokens = new Int32Array(batchSize * seqLen);
    let domains = new Int32Array(batchSize);
    let indices = new Float64Array(batchSize);
    const domainIndex = new Float64Array(batchSize);
    const records = new Float64Array(batchSize);
    const sources = this.sources;
    for (let emitted = 0; emitted < limit; emitted++) {
      if (emitted > 0 && !reuse) {
        tokens = new Int32Array(batchSize * seqLen);
        domains = new Int32Array(batchSize);
        indices = new Float64Array(batchSize);
      }
      const first = this.consumed + this.rank;
      const rows = Math.max(0, Math.min(batchSize, Math.ceil((this.budgetSamples - first) / this.worldSize)));
      if (rows === 0) return;
      this.plan.mapRange(first, rows, this.worldSize, domains, domainIndex, records);
      let truncated = 0;
      let padded = 0;
      for (let row = 0; row < rows; row++) {
        const len = sources[domains[row]!]!.readInto!(records[row]!, tokens, row * seqLen, seqLen);
        if (len < seqLen) {
          tokens.fill(pad, row * seqLen + len, (row + 1) * seqLen);
          padded += seqLen - len;
        } else truncated += len - seqLen;
        indices[row] = first + row * this.worldSize;
      }
      // Delivered with the batch (the rows were read without error).
      this.consumed += rows * this.worldSize;
      yield trimBatch(
        { tokens, domainPerRow: domains, indexPerRow: indices, truncatedTokens: truncated, padTokens: padded },
        rows,
        seqLen,
      );
      if (rows < batchSize) return;
    }
  }

  /** Requested vs achieved shares over the run (or the first `upTo` samples). */
  table(upTo = this.budgetSamples): PlanRow[] {
    const spec = this.plan.spec;
    const finite = Number.isFinite(upTo);
    const horizon = finite ? upTo : this.plan.stages[0]!.start + spec.blockSize;
    const counts = this.plan.samplesPerDomain(horizon);
    let total = 0;
    let tokens = 0;
    for (let d = 0; d < counts.length; d++) {
      total += counts[d]!;
      tokens += counts[d]! * spec.tokensPerRecord[d]!;
    }
    // Requested: the token-weighted mix over the stages within the horizon.
    const requested = new Float64Array(counts.length);
    for (const st of this.plan.stages) {
      if (st.start >= horizon) break;
      const len = Math.min(horizon, st.end) - st.start;
      const w = (len / horizon);
      for (let d = 0; d < counts.length; d++) requested[d] = requested[d]! + w * st.proportions[d]!;
    }
    return this.domains.map((name, d) => ({
      domain: name,
      records: spec.recordsPerDomain[d]!,
      tokensPerRecord: spec.tokensPerRecord[d]!,
      requested: requested[d]!,
      achievedTokenShare: (counts[d]! * spec.tokensPerRecord[d]!) / tokens,
      achievedSampleShare: counts[d]! / total,
      samplesPerBlock: this.plan.stages[this.plan.stageAt(Math.max(0, horizon - 1))]!.counts[d]!,
      epochs: finite ? counts[d]! / spec.recordsPerDomain[d]! : null,
      maxEpochs: this.maxEpochs ? this.maxEpochs[d]! : null,
    }));
  }

  async close(): Promise<void> {
    await this.corpus?.close();
  }
}

/** first, first + step, … below `end`, at most `limit` of them. */
function* stride(first: number, step: number, end: number, limit: number): Generator<number> {
  for (let n = 0, g = first; n < limit && g < end; n++, g += step) yield g;
}

/** A batch cut to its first `rows` rows (the last batch of a finite stream). */
function trimBatch(b: TokenBatch, rows: number, seqLen: number): TokenBatch {
  if (rows === b.domainPerRow.length) return b;
  return {
    ...b,
    tokens: b.tokens.slice(0, rows * seqLen),
    domainPerRow: b.domainPerRow.slice(0, rows),
    indexPerRow: b.indexPerRow.slice(0, rows),
  };
}

/** Warns about weighted domains that get no sample in a block (B too small for the share). */
function warnZeroCounts(
  domains: readonly string[],
  counts: Int32Array,
  p: Float64Array,
  blockSize: number,
  warn: (m: string) => void,
): void {
  for (let d = 0; d < counts.length; d++) {
    if (p[d]! > 0 && counts[d] === 0) warn(
      `domain ${JSON.stringify(domains[d])} has proportion ${p[d]} but gets 0 of ${blockSize} samples per block; ` +
        `raise blockSize to sample it`,
    );
  }
}

/** Formats the requested-vs-achieved table for a terminal. */
export function formatPlanTable(rows: readonly PlanRow[]): string {
  const head = [
    "domain",
    "records",
    "tok/rec",
    "requested",
    "achieved(tok)",
    "achieved(smp)",
    "per block",
    "epochs",
    "max",
  ];
  const body = rows.map(
    (r) => [
      r.domain,
      String(r.records),
      r.tokensPerRecord.toFixed(1),
      r.requested.toFixed(4),
      r.achievedTokenShare.toFixed(4),
      r.achievedSampleShare.toFixed(4),
      String(r.samplesPerBlock),
      r.epochs === null ? "-" : r.epochs.toFixed(3),
      r.maxEpochs === null || !Number.isFinite(r.maxEpochs) ? "-" : String(r.maxEpochs),
    ],
  );
  const w = head.map((h, j) => Math.max(h.length, ...body.map((b) => b[j]!.length)));
  const fmt = (cells: string[]) => cells.map((c, j) => (j === 0 ? c.padEnd(w[j]!) : c.padStart(w[j]!))).join("  ");
  return [fmt(head), w.map((x) => "-".repeat(x)).join("  "), ...body.map(fmt)].join("\n");
}

/** Mean tokens per record of each domain: exact for token shards, else a seeded sample of records. */
async function measureLengths(
  sources: readonly DomainSource[],
  tokenizer: Tokenizer,
  sampleSize: number,
  seed: number,
): Promise<Float64Array> {
  const out = new Float64Array(sources.length);
  const rng = createRng(seed).derive("lengths");
  for (let d = 0; d < sources.length; d++) {
    const s = sources[d]!;
    const n = s.numRecords;
    if (n === 0) throw new InputError(
      s.files.join(", "),
      "expected at least one record, got none: a domain with no data",
    );
    if (s.tokensOf) {
      let t = 0;
      for (let i = 0; i < n; i++) t += s.tokensOf(i);
      out[d] = t / n;
      continue;
    }
    const m = Math.min(n, sampleSize);
    let t = 0;
    for (let j = 0; j < m; j++) {
      const i = m === n ? j : rng.nextInt(n);
      const r = await s.read(i);
      if (r.tokens) t += r.tokens.length;
      else t += tokenizer === byteTokenizer ? utf8Length(r.text ?? "") : tokenizer(r.text ?? "").length;
    }
    out[d] = t / m; // 0: every record measured is empty (refused for a positive share)
  }
  return out;
}

/**
 * Opens a sampler. Checks everything before the first sample: unknown domains, empty domains,
 * stage boundaries, and (with maxEpochs) whether each domain can meet its share within its cap.
 * @throws InputError naming the domain, its tokens, its requested share and the epochs it would need
 */
export async function createSampler(o: SamplerOptions): Promise<Sampler> {
  // A saved state is checked before any file is opened.
  const state = o.state === undefined ? undefined : parseSamplerState(o.state, o.stateSource ?? "state");
  const corpus = typeof o.corpus === "string" ? await openCorpus(o.corpus, o.open ?? {}) : null;
  try {
    return await buildSampler(o, state, corpus);
  } catch (e) {
    await corpus?.close(); // a corpus this call opened is closed when the sampler cannot be made
    throw e;
  }
}

async function buildSampler(
  o: SamplerOptions,
  state: SamplerState | undefined,
  corpus: Corpus | null,
): Promise<Sampler> {
  const names = corpus ? corpus.names : [...(o.corpus as { names: readonly string[] }).names];
  const sources = corpus ? corpus.sources : [...(o.corpus as { sources: readonly DomainSource[] }).sources];
  if (names.length !== sources.length) throw new InputError(
    "corpus",
    `expected one source per domain name, got ${names.length} names and ${sources.length} sources`,
  );
  const seed = o.seed ?? 0;
  const blockSize = o.blockSize ?? 1024;
  if (!(Number.isInteger(blockSize) && blockSize >= 1 && blockSize <= 1 << 20)) throw new InputError(
    "blockSize",
    `expected an integer in [1, 1048576], got ${blockSize}`,
  );
  const rank = o.rank ?? 0;
  const world = o.worldSize ?? 1;
  if (!(Number.isInteger(world) && world >= 1)) throw new InputError(
    "worldSize",
    `expected an integer ≥ 1, got ${world}`,
  );
  if (!(Number.isInteger(rank) && rank >= 0 && rank < world)) throw new InputError(
    "rank",
    `expected an integer in [0, ${world}), got ${rank}`,
  );
  if (o.mixer && blockSize % world !== 0) throw new InputError(
    "blockSize",
    `expected a multiple of worldSize (${world}) with an online mixer, so every rank asks it at the same step of ` +
      `every block, got ${blockSize}`,
  );
  if ((o.proportions ? 1 : 0) + (o.stages ? 1 : 0) !== 1) throw new InputError(
    "proportions",
    "expected either proportions or stages, got " + (o.proportions && o.stages ? "both" : "neither"),
  );
  const stagesByName: StageByName[] = o.stages ? [...o.stages] : [{ proportions: o.proportions! }];
  if (stagesByName.length === 0) throw new InputError("stages", "expected at least one stage, got none");
  const stages: StageSpec[] = stagesByName.map((s, i) => ({
    ...(s.untilSamples !== undefined ? { untilSamples: s.untilSamples } : {}),
    ...(s.untilTokens !== undefined ? { untilTokens: s.untilTokens } : {}),
    proportions: byName(names, s.proportions, stagesByName.length > 1 ? `stage ${i + 1}` : "proportions"),
  }));
  for (let d = 0; d < sources.length; d++) {
    if (sources[d]!.numRecords === 0) throw new InputError(
      names[d]!,
      "expected at least one record, got none: a domain with no data",
    );
  }
  const tokenizer = o.tokenizer ?? byteTokenizer;
  const tokensPerRecord = await measureLengths(sources, tokenizer, o.lengthSampleSize ?? 512, seed);
  stages.forEach(
    (st, i) => refuseEmptyShares(
      names,
      sources,
      tokensPerRecord,
      st.proportions,
      stagesByName.length > 1 ? `stage ${i + 1}` : "proportions",
    ),
  );
  let spec: PlanSpec = {
    domains: names,
    recordsPerDomain: Float64Array.from(sources, (s) => s.numRecords),
    tokensPerRecord,
    stages,
    seed,
    blockSize,
    unit: o.unit ?? "tokens",
    order: o.order ?? "shuffle",
  };
  let plan = new Plan(spec);
  // The budget in samples.
  let budget = Infinity;
  if (o.budgetSamples !== undefined && o.budgetTokens !== undefined) throw new InputError(
    "budgetSamples",
    `expected one budget, budgetSamples or budgetTokens, got both (${o.budgetSamples} samples and ${o.budgetTokens} ` +
      `tokens)`,
  );
  if (o.budgetSamples !== undefined) {
    if (!(Number.isSafeInteger(o.budgetSamples) && o.budgetSamples >= 1)) throw new InputError(
      "budgetSamples",
      `expected an integer in [1, 2^53), got ${o.budgetSamples}`,
    );
    budget = o.budgetSamples; // exact: a partial last block is counted sample by sample
  }
  else if (o.budgetTokens !== undefined) {
    if (!(o.budgetTokens > 0 && Number.isFinite(o.budgetTokens))) throw new InputError(
      "budgetTokens",
      `expected a number of tokens > 0, got ${o.budgetTokens}`,
    );
    let g = 0;
    let tokens = 0;
    for (const st of plan.stages) {
      const tpb = tokensPerBlock(st, tokensPerRecord);
      const blocks = Number.isFinite(st.end) ? (st.end - st.start) / blockSize : Infinity;
      const need = Math.ceil((o.budgetTokens - tokens) / tpb);
      if (need <= blocks) {
        g = st.start + need * blockSize;
        break;
      }
      tokens += blocks * tpb;
      g = st.end;
    }
    budget = g;
    if (!(budget <= Number.MAX_SAFE_INTEGER)) throw new InputError(
      "budgetTokens",
      `expected a budget under 2^53 samples, got ${o.budgetTokens} tokens ≈ ${budget} samples`,
    );
  }
  // Repetition caps, checked over the whole schedule.
  let maxEpochs: Float64Array | null = null;
  if (o.maxEpochs !== undefined) {
    maxEpochs = typeof o.maxEpochs === "number" ? new Float64Array(names.length).fill(o.maxEpochs) : Float64Array.from(
      names,
      (d) => (o.maxEpochs as ProportionsByName)[d] ?? Infinity,
    );
    if (!Number.isFinite(budget)) throw new InputError(
      "maxEpochs",
      "expected budgetSamples or budgetTokens with it (epochs are counted over the run), got neither",
    );
    for (let round = 0; ; round++) {
      const counts = plan.samplesPerDomain(budget);
      const over: number[] = [];
      for (let d = 0; d < names.length; d++) {
        if (counts[d]! / spec.recordsPerDomain[d]! > maxEpochs[d]! + 1e-12) over.push(d);
      }
      if (over.length === 0) break;
      if ((o.onExceed ?? "error") === "error" || round > 50) {
        const lines = over.map((d) => {
          const tokens = spec.recordsPerDomain[d]! * tokensPerRecord[d]!;
          const share = stages.map((s) => s.proportions[d]!.toPrecision(4)).join(" → ");
          const epochs = (counts[d]! / spec.recordsPerDomain[d]!).toFixed(3);
          return {
            path: `domain ${JSON.stringify(names[d])}`,
            message:
              `expected at most ${maxEpochs![d]} epochs, got ${epochs} ` +
              `(it has ${spec.recordsPerDomain[d]} records ≈ ` +
              `${Math.round(tokens)} tokens; requested share ${share}); lower its share, raise maxEpochs, ` +
              `or pass onExceed: "redistribute"`,
          };
        });
        throw new InputError("repetition", lines);
      }
      // Redistribute: scale each over-cap domain's share down to its cap, give the excess to the others proportionally.
      const newStages = spec.stages.map((s) => {
        const p = Float64Array.from(s.proportions);
        let freed = 0;
        for (const d of over) {
          const factor = maxEpochs![d]! / (counts[d]! / spec.recordsPerDomain[d]!);
          const np = p[d]! * factor * (1 - 1e-9);
          freed += p[d]! - np;
          p[d] = np;
        }
        let rest = 0;
        for (let d = 0; d < p.length; d++) if (!over.includes(d)) rest += p[d]!;
        if (rest <= 0) {
          const who = over.map((d) => names[d]).join(", ");
          throw new InputError(
            "repetition",
            `expected other domains to take the share ${who} cannot, got none with a positive share`,
          );
        }
        for (let d = 0; d < p.length; d++) if (!over.includes(d)) p[d] = p[d]! + (freed * p[d]!) / rest;
        return { ...s, proportions: p };
      });
      spec = { ...spec, stages: newStages };
      plan = new Plan(spec);
    }
  }
  const sha = hashPlan(spec, budget);
  const warn = o.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  for (const st of plan.stages) warnZeroCounts(names, st.counts, st.proportions, blockSize, warn);
  let start = 0;
  const appended: { start: number; proportions: ProportionsByName }[] = [];
  if (state) {
    const src = o.stateSource ?? "state";
    if (state.planSha256 !== sha) throw new InputError(
      src,
      `planSha256: expected ${sha} (this plan), got ${state.planSha256}: the corpus, proportions, seed, block size, ` +
        `unit, order or budget differ from the run that saved it`,
    );
    state.appended.forEach((a, i) => {
      const at = `appended.${i}`;
      if (a.start % blockSize !== 0) throw new InputError(
        src,
        `${at}.start: expected a multiple of the block size ${blockSize}, got ${a.start}`,
      );
      const v = byName(names, a.proportions, `${src}: ${at}.proportions`);
      refuseEmptyShares(names, sources, tokensPerRecord, v, `${src} ${at}`);
      const st = plan.appendStage(v, a.start);
      appended.push({ start: st.start, proportions: { ...a.proportions } });
    });
    start = state.consumed;
  }
  const mixer = resolveMixer(o, names);
  const sampler = new Sampler(
    plan,
    sources,
    sha,
    budget,
    start,
    rank,
    world,
    tokenizer,
    corpus,
    maxEpochs,
    appended,
    warn,
    mixer,
  );
  if (o.report) o.report(formatPlanTable(sampler.table()));
  return sampler;
}

/** JSON with sorted keys: two states are the same state when these strings are equal. */
function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(",")}]`;
  if (x && typeof x === "object") return `{${Object.keys(x)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`)
    .join(",")}}`;
  return JSON.stringify(x);
}

/** The mixer of a sampler: created (or checked) against the saved state so both resume together. */
function resolveMixer(o: SamplerOptions, names: readonly string[]): SamplerMixer | null {
  const saved = o.state?.mixer;
  if (!o.mixer) {
    if (saved) throw new InputError(
      "state",
      `mixer: expected a mixer to resume this state (it holds a ${JSON.stringify(saved.method)} mixer's state), ` +
        "got none; pass mixer: the same factory or a mixer restored from state.mixer",
    );
    return null;
  }
  if (o.blockSize === undefined) throw new InputError(
    "blockSize",
    "expected the samples per optimizer step (global batch) or a divisor of it with an online mixer, got none " +
      "(the default 1024 would let a block straddle several updates)",
  );
  const mixer = typeof o.mixer === "function" ? o.mixer(saved) : o.mixer;
  if (o.state && !saved && mixer.state) throw new InputError(
    "state",
    "mixer: expected a state saved with a mixer (sampler.state() of a sampler that had one), " +
      "got a state without a mixer's state",
  );
  if (mixer.domains) {
    const missing = names.filter((d) => !mixer.domains!.includes(d));
    const extra = mixer.domains.filter((d) => !names.includes(d));
    if (missing.length || extra.length) throw new InputError(
      "mixer",
      `domains: expected the corpus domains (${names.join(", ")}), got ${mixer.domains.join(", ")}`,
    );
  }
  if (saved && (!mixer.state || canonical(mixer.state()) !== canonical(saved))) throw new InputError(
    "state",
    `mixer: expected the ${saved.method} mixer restored from this state's mixer state, ` +
      `got a ${mixer.method ?? "stateless"} mixer in another state ` +
      "(create it with state: saved.mixer, or pass a factory)",
  );
  return mixer;
}

/**
 * A tf.data dataset of packed batches for tfjs training loops. Pass the tfjs namespace (mixlab
 * does not import tfjs outside src/proxy): `toTfDataset(sampler, tf, { batchSize, seqLen })`
 * yields `{ xs: int32 [batch, seqLen−1], ys: int32 [batch, seqLen−1] }` (next-token targets).
 * A batch counts as delivered (in `sampler.state()`) when the dataset's iterator hands it out;
 * the adapter reads nothing ahead of that.
 */
export function toTfDataset(
  sampler: Sampler,
  // `never` items: any element type tfjs's generator accepts (the tfjs namespace passes as it is).
  tf: {
    data: { generator(g: () => AsyncIterator<never>): unknown };
    tensor2d(values: Int32Array, shape: [number, number], dtype: "int32"): unknown;
  },
  options: { batchSize: number; seqLen: number; limit?: number; readAhead?: number },
): unknown {
  const { batchSize, seqLen } = options;
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) throw new InputError(
    "seqLen",
    `expected an integer ≥ 2 (inputs and next-token targets), got ${seqLen}`,
  );
  return tf.data.generator(() => {
    const it = sampler.batches({
      batchSize,
      seqLen,
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      ...(options.readAhead !== undefined ? { readAhead: options.readAhead } : {}),
    });
    return {
      next: async () => {
        const r = await it.next();
        if (r.done) return { done: true, value: undefined };
        // The last batch of a finite stream may hold fewer rows.
        const rows = r.value.domainPerRow.length;
        const xs = new Int32Array(rows * (seqLen - 1));
        const ys = new Int32Array(rows * (seqLen - 1));
        for (let b = 0; b < rows; b++) {
          xs.set(r.value.tokens.subarray(b * seqLen, b * seqLen + seqLen - 1), b * (seqLen - 1));
          ys.set(r.value.tokens.subarray(b * seqLen + 1, (b + 1) * seqLen), b * (seqLen - 1));
        }
        return {
          done: false,
          value: { xs: tf.tensor2d(xs, [rows, seqLen - 1], "int32"), ys: tf.tensor2d(ys, [rows, seqLen - 1], "int32") },
        };
      },
    } as AsyncIterator<never>;
  });
}
