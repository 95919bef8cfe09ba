// A sampling session of `mixlab serve`: one sampler per rank over a corpus opened once at start,
// batches encoded for the wire, and — with an online mixer — the rule that makes the proportions
// of every step independent of request timing (see `OnlineSchedule`). Pure of HTTP: server.ts
// maps requests onto these methods, tests drive them directly.

import { randomUUID } from "node:crypto";
import { endianness } from "node:os";
import { InputError, MixError } from "../errors.js";
import { createSampler, type Sampler, type SamplerState, type TokenBatch } from "../sampler/sampler.js";
import type { DomainSource } from "../sampler/sources.js";
import type { MixerEvent, OnlineMixer, OnlineMixerState } from "../../mixers/types.js";
import { createOnlineMixer } from "../../mixers/online.js";
import { mergeDomainStats } from "../../mixers/common/domain-stats.js";

/** What a client asks for when it opens a session (the JSON body of `POST /v1/sessions`). */
export interface SessionSpec {
  /** A corpus name given to `mixlab serve` at start. */
  readonly corpus: string;
  /** One mixture (token or sample shares by domain) … */
  readonly proportions?: Readonly<Record<string, number>>;
  /** … or a schedule of stages … */
  readonly stages?: readonly { readonly untilSamples?: number; readonly untilTokens?: number; readonly proportions: Readonly<Record<string, number>> }[];
  /** … or an online mixer that decides the proportions of every step. */
  readonly mixer?: { readonly method: string; readonly options?: Record<string, unknown>; readonly seed?: number; readonly initial?: Readonly<Record<string, number>> };
  readonly seed?: number;
  readonly unit?: "tokens" | "samples";
  readonly order?: "shuffle" | "smooth";
  /** Samples per block (static sessions; online sessions use worldSize × batchSize). */
  readonly blockSize?: number;
  readonly budgetSamples?: number;
  readonly budgetTokens?: number;
  readonly maxEpochs?: number | Readonly<Record<string, number>>;
  readonly onExceed?: "error" | "redistribute";
  /** Number of ranks reading the session (each reads its strided slice). */
  readonly worldSize?: number;
  /** Rows per batch of each rank. */
  readonly batchSize: number;
  /** Tokens per row (records are cut or padded to it). */
  readonly seqLen: number;
  readonly padId?: number;
  /**
   * Online sessions: step t uses the observations of steps ≤ t − 1 − lag (default 1, so a client
   * may fetch one batch ahead; 0 for mixers that take evaluations, and 0 reproduces the order of
   * an in-process training loop).
   */
  readonly lag?: number;
}

/** The checkpoint of a session: its spec, the step every rank reached, sampler and mixer state. */
export interface SessionCheckpoint {
  readonly format: "mixlab.serve-checkpoint/v1";
  readonly spec: SessionSpec;
  /** Batches every rank has fetched (and, online, observed). */
  readonly step: number;
  readonly sampler: SamplerState;
  readonly mixer: OnlineMixerState | null;
  /** Online: proportions already decided for steps ≥ `step` (made with fewer observations). */
  readonly decided: readonly Readonly<Record<string, number>>[];
}

/** Per-rank statistics of one step, as posted by a client. */
export interface RankStats {
  readonly rank: number;
  readonly step: number;
  readonly kind: "train" | "eval";
  /** Sum over the rank's tokens of each domain of the loss (nats), … */
  readonly lossSum: Readonly<Record<string, number>>;
  /** … and the number of those tokens. */
  readonly tokens: Readonly<Record<string, number>>;
  /** DoReMi: the reference model's loss sum over the same tokens, … */
  readonly referenceSum?: Readonly<Record<string, number>>;
  /** … or the sum of per-token clipped excess losses max(ℓ − ℓ_ref, 0). */
  readonly excessSum?: Readonly<Record<string, number>>;
}

/** A corpus opened once by the server. */
export interface ServedCorpus {
  readonly name: string;
  readonly names: readonly string[];
  readonly sources: readonly DomainSource[];
}

/** Creates an online mixer (the server passes mixers/online.ts's `createOnlineMixer`). */
export type MixerFactory = (
  method: string,
  init: { domains: readonly string[]; seed: number; options: Record<string, unknown>; state?: OnlineMixerState },
) => OnlineMixer;

/** Merges per-rank statistics into one event (default: `mergeStatsForMixer`). */
export type StatsMerger = (perRank: readonly RankStats[]) => MixerEvent;

/**
 * The statistics of every rank for one step as one event, through `mergeDomainStats` (sums in
 * rank order), so the server's mixer sees exactly what an in-process mixer fed the merged
 * statistics sees.
 */
export function mergeStatsForMixer(perRank: readonly RankStats[]): MixerEvent {
  const m = mergeDomainStats(perRank.map((r) => ({
    tokens: r.tokens,
    lossSum: r.lossSum,
    ...(r.referenceSum ? { referenceSum: r.referenceSum } : {}),
    ...(r.excessSum ? { excessSum: r.excessSum } : {}),
  })));
  const first = perRank[0]!;
  return { kind: first.kind, step: first.step, ...m };
}

/** One encoded batch and what the header says about it. */
export interface EncodedBatch {
  readonly body: Buffer;
  readonly rows: number;
  readonly tokens: number;
}

/** Waits a bounded time for a condition signalled by `notify()`. */
class Waiters {
  private list: { check: () => boolean; resolve: () => void }[] = [];
  wait(check: () => boolean, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const entry = { check, resolve: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => {
        this.list = this.list.filter((e) => e !== entry);
        reject(onTimeout());
      }, timeoutMs);
      this.list.push(entry);
    });
  }
  notify(): void {
    const ready = this.list.filter((e) => e.check());
    this.list = this.list.filter((e) => !ready.includes(e));
    for (const e of ready) e.resolve();
  }
}

/** A request that cannot be served now (waited too long, a rank ahead of the others). */
export class ConflictError extends MixError {
  constructor(message: string) {
    super("E_CONFLICT", message);
    this.name = "ConflictError";
  }
}

/**
 * The online schedule: which proportions step t uses, decided so that timing cannot change them.
 * Rule: the proportions of step t are the mixer's answer after it has observed exactly the merged
 * statistics of steps 0 … t − 1 − lag (none for t ≤ lag). Steps are observed in order, each once
 * every rank has posted it; deciding step t + lag + 1 follows observing step t. A batch request
 * for step t waits until step t is decided.
 */
class OnlineSchedule {
  /** decided[t] = proportions of step t, for t < decided.length. */
  readonly decided: Record<string, number>[] = [];
  /** Steps observed so far (0 … observed − 1). */
  observed = 0;
  /** Posted statistics not yet observed: step → kind → rank → stats. */
  private readonly pending = new Map<number, Map<string, Map<number, RankStats>>>();

  constructor(
    readonly mixer: OnlineMixer,
    private readonly merge: StatsMerger,
    readonly lag: number,
    private readonly worldSize: number,
    firstStep: number,
    decided: readonly Readonly<Record<string, number>>[],
  ) {
    this.observed = firstStep;
    for (let t = 0; t < firstStep; t++) this.decided.push({});
    for (const p of decided) this.decided.push({ ...p });
    while (this.decided.length < this.observed + this.lag + 1) this.decided.push(this.mixer.proportions());
  }

  /** Records one rank's statistics; observes every step that is now complete, in order. */
  post(s: RankStats): void {
    if (s.step < this.observed) throw new ConflictError(`step ${s.step}: already observed (the mixer is at step ${this.observed}); statistics are posted once per rank and step`);
    if (!this.mixer.accepts.includes(s.kind)) throw new InputError("kind", `expected ${this.mixer.accepts.map((k) => JSON.stringify(k)).join(" or ")} for mixer ${this.mixer.method}, got ${JSON.stringify(s.kind)}`);
    let byKind = this.pending.get(s.step);
    if (!byKind) this.pending.set(s.step, (byKind = new Map()));
    let byRank = byKind.get(s.kind);
    if (!byRank) byKind.set(s.kind, (byRank = new Map()));
    if (byRank.has(s.rank)) throw new ConflictError(`rank ${s.rank}, step ${s.step}: ${s.kind} statistics already posted`);
    byRank.set(s.rank, s);
    this.drain();
  }

  /** Kinds a step needs before it is complete: eval when the mixer asked for it, train when it takes them. */
  private needs(step: number): ("train" | "eval")[] {
    const out: ("train" | "eval")[] = [];
    if (this.mixer.accepts.includes("eval") && this.mixer.evalDue(step)) out.push("eval");
    if (this.mixer.accepts.includes("train")) out.push("train");
    return out;
  }

  private drain(): void {
    for (;;) {
      const step = this.observed;
      const byKind = this.pending.get(step);
      const kinds = this.needs(step);
      if (!byKind || !kinds.every((k) => (byKind.get(k)?.size ?? 0) === this.worldSize)) return;
      for (const k of kinds) {
        const ranks = byKind.get(k)!;
        const perRank = [...ranks.keys()].sort((a, b) => a - b).map((r) => ranks.get(r)!);
        this.mixer.observe(this.merge(perRank));
      }
      this.pending.delete(step);
      this.observed++;
      this.decided.push(this.mixer.proportions());
    }
  }

  /** Which steps/ranks are missing for step t to be decided (for error messages). */
  missingFor(t: number): string {
    const step = t - 1 - this.lag;
    const byKind = this.pending.get(this.observed);
    const kinds = this.needs(this.observed);
    const missing: string[] = [];
    for (const k of kinds) {
      const have = byKind?.get(k);
      const ranks: number[] = [];
      for (let r = 0; r < this.worldSize; r++) if (!have?.has(r)) ranks.push(r);
      if (ranks.length) missing.push(`${k} statistics of step ${this.observed} from rank${ranks.length > 1 ? "s" : ""} ${ranks.join(", ")}`);
    }
    return `step ${t} uses observations up to step ${step}; still missing: ${missing.join("; ") || "nothing"}`;
  }
}

/** Per-rank reading state. */
interface RankReader {
  readonly sampler: Sampler;
  /** Batches handed out to this rank. */
  step: number;
  /** The last batch, kept so that a retried request for the same step gets the same bytes. */
  last: EncodedBatch | null;
  /** Long-lived iterator (static sessions). */
  iterator: AsyncGenerator<TokenBatch> | null;
  /** The proportions (JSON of the domain-ordered vector) this rank's sampler uses now (online). */
  applied: string;
  /** Serialises this rank's requests. */
  queue: Promise<unknown>;
  done: boolean;
}

/** Options of `openSession`. */
export interface OpenSessionOptions {
  readonly corpus: ServedCorpus;
  readonly spec: SessionSpec;
  readonly checkpoint?: SessionCheckpoint;
  readonly createMixer?: MixerFactory;
  readonly mergeStats?: StatsMerger;
  /** How long a batch request waits for the observations its step needs (default 60 s). */
  readonly waitMs?: number;
  readonly warn?: (m: string) => void;
}

/** A live session. */
export class Session {
  readonly id: string;
  private readonly waiters = new Waiters();
  private closed = false;

  private constructor(
    readonly spec: SessionSpec,
    readonly domains: readonly string[],
    private readonly readers: RankReader[],
    private readonly schedule: OnlineSchedule | null,
    private readonly waitMs: number,
  ) {
    this.id = randomUUID();
  }

  /** Opens a session (validating the spec against the corpus) or resumes one from its checkpoint. */
  static async open(o: OpenSessionOptions): Promise<Session> {
    let spec = o.spec;
    const world = spec.worldSize ?? 1;
    const names = o.corpus.names;
    let mixer: OnlineMixer | null = null;
    const cp = o.checkpoint;
    if (spec.mixer) {
      const init = {
        domains: names,
        seed: spec.mixer.seed ?? spec.seed ?? 0,
        options: spec.mixer.options ?? {},
        ...(cp?.mixer ? { state: cp.mixer } : {}),
      };
      mixer = (o.createMixer ?? createOnlineMixer)(spec.mixer.method, init);
      // The first stage of the plan is the mixer's answer before any observation, fixed in the
      // spec so that a resumed session (whose mixer has moved on) rebuilds the same plan.
      if (!spec.mixer.initial && !spec.proportions) spec = { ...spec, mixer: { ...spec.mixer, initial: mixer.proportions() } };
    } else if (cp?.mixer) throw new InputError("state.mixer", "expected no mixer state for a session without a mixer, got one");
    const global = world * spec.batchSize;
    const blockSize = mixer ? global : spec.blockSize;
    const base = {
      corpus: { names, sources: o.corpus.sources },
      seed: spec.seed ?? 0,
      ...(spec.unit ? { unit: spec.unit } : {}),
      ...(spec.order ? { order: spec.order } : {}),
      ...(blockSize !== undefined ? { blockSize } : {}),
      ...(spec.budgetSamples !== undefined ? { budgetSamples: spec.budgetSamples } : {}),
      ...(spec.budgetTokens !== undefined ? { budgetTokens: spec.budgetTokens } : {}),
      ...(spec.maxEpochs !== undefined ? { maxEpochs: spec.maxEpochs } : {}),
      ...(spec.onExceed ? { onExceed: spec.onExceed } : {}),
      ...(spec.stages ? { stages: spec.stages } : { proportions: spec.proportions ?? spec.mixer?.initial ?? mixer!.proportions() }),
      worldSize: world,
      ...(cp ? { state: cp.sampler } : {}),
      ...(o.warn ? { warn: o.warn } : {}),
    };
    const readers: RankReader[] = [];
    for (let r = 0; r < world; r++) {
      const sampler = await createSampler({ ...base, rank: r });
      const current = cp?.sampler.appended.at(-1)?.proportions ?? ("proportions" in base ? base.proportions : null);
      const applied = current ? JSON.stringify(names.map((d) => current[d] ?? 0)) : "";
      readers.push({ sampler, step: cp?.step ?? 0, last: null, iterator: null, applied, queue: Promise.resolve(), done: false });
    }
    const lag = spec.lag ?? (mixer?.accepts.includes("eval") ? 0 : 1);
    if (mixer && mixer.accepts.includes("eval") && lag !== 0) {
      throw new InputError("lag", `expected 0 for mixer ${JSON.stringify(mixer.method)} (it takes evaluations, and whether step t needs one depends on every step before it), got ${lag}`);
    }
    const schedule = mixer ? new OnlineSchedule(mixer, o.mergeStats ?? mergeStatsForMixer, lag, world, cp?.step ?? 0, cp?.decided ?? []) : null;
    return new Session(spec, names, readers, schedule, o.waitMs ?? 60_000);
  }

  get worldSize(): number {
    return this.readers.length;
  }

  /** Batches each rank has fetched. */
  steps(): number[] {
    return this.readers.map((r) => r.step);
  }

  /**
   * The next batch of `rank`, encoded (see `encodeBatch`), or null at the end of the stream.
   * `step`, when given, must be the rank's next step or its last one (a retry: the same bytes).
   */
  next(rank: number, step?: number): Promise<EncodedBatch | null> {
    const reader = this.reader(rank);
    const run = reader.queue.then(() => this.nextNow(reader, rank, step));
    reader.queue = run.catch(() => undefined);
    return run;
  }

  private reader(rank: number): RankReader {
    if (!(Number.isInteger(rank) && rank >= 0 && rank < this.readers.length)) throw new InputError("rank", `expected an integer in [0, ${this.readers.length}), got ${rank}`);
    return this.readers[rank]!;
  }

  private async nextNow(reader: RankReader, rank: number, step: number | undefined): Promise<EncodedBatch | null> {
    if (this.closed) throw new ConflictError("the session is closed");
    if (step !== undefined && step !== reader.step) {
      if (step === reader.step - 1 && reader.last) return reader.last;
      throw new ConflictError(`rank ${rank}: expected step ${reader.step}${reader.step > 0 ? ` (or ${reader.step - 1}, a retry)` : ""}, got ${step}`);
    }
    if (reader.done) return null;
    const t = reader.step;
    let proportions: Record<string, number> | null = null;
    if (this.schedule) {
      const sch = this.schedule;
      await this.waiters.wait(() => sch.decided.length > t || this.closed, this.waitMs, () => new ConflictError(`rank ${rank}: waited ${this.waitMs} ms for step ${t}'s proportions: ${sch.missingFor(t)}`));
      if (this.closed) throw new ConflictError("the session is closed");
      proportions = sch.decided[t]!;
      const key = JSON.stringify(this.domains.map((d) => proportions![d] ?? 0));
      if (key !== reader.applied) {
        reader.sampler.setProportions(proportions);
        reader.applied = key;
      }
    }
    const it = this.schedule
      ? reader.sampler.batches({ batchSize: this.spec.batchSize, seqLen: this.spec.seqLen, padId: this.spec.padId ?? 0, limit: 1 })
      : (reader.iterator ??= reader.sampler.batches({ batchSize: this.spec.batchSize, seqLen: this.spec.seqLen, padId: this.spec.padId ?? 0 }));
    const r = await it.next();
    if (this.schedule) await it.return(undefined);
    if (r.done) {
      reader.done = true;
      return null;
    }
    const header: Record<string, unknown> = { step: t, rank };
    if (proportions) {
      header.proportions = proportions;
      header.evalDue = this.schedule!.mixer.accepts.includes("eval") && this.schedule!.mixer.evalDue(t);
    }
    const enc = encodeBatch(r.value, this.spec.seqLen, header);
    reader.step = t + 1;
    reader.last = enc;
    return enc;
  }

  /** Posts one rank's statistics of a step (online sessions). */
  observe(s: RankStats): { observed: number; decided: number } {
    if (!this.schedule) throw new InputError("mixer", "expected a session with an online mixer, got one without: statistics have nowhere to go");
    this.reader(s.rank);
    for (const key of ["lossSum", "tokens", ...(s.referenceSum ? ["referenceSum"] : []), ...(s.excessSum ? ["excessSum"] : [])] as const) {
      const m = (s as unknown as Record<string, Record<string, number>>)[key]!;
      for (const [d, v] of Object.entries(m)) {
        if (!this.domains.includes(d)) throw new InputError(`${key}.${d}`, `expected one of the session's domains (${this.domains.join(", ")}), got ${JSON.stringify(d)}`);
        if (!Number.isFinite(v) || v < 0) throw new InputError(`${key}.${d}`, `expected a finite number ≥ 0, got ${v}`);
      }
    }
    for (const d of Object.keys(s.lossSum)) if (!(d in s.tokens)) throw new InputError(`tokens.${d}`, `expected a token count beside lossSum.${d}, got none`);
    this.schedule.post(s);
    this.waiters.notify();
    return { observed: this.schedule.observed, decided: this.schedule.decided.length };
  }

  /**
   * The session's checkpoint. Every rank must be at the same step and, online, every step before
   * it observed; otherwise a ConflictError says which rank or step is behind.
   */
  checkpoint(): SessionCheckpoint {
    const steps = this.steps();
    const t = steps[0]!;
    if (steps.some((s) => s !== t)) throw new ConflictError(`expected every rank at the same step, got ${steps.map((s, r) => `rank ${r} at ${s}`).join(", ")}; checkpoint after every rank has fetched the same number of batches`);
    let mixer: OnlineMixerState | null = null;
    let decided: Record<string, number>[] = [];
    if (this.schedule) {
      if (this.schedule.observed !== t) throw new ConflictError(`expected the statistics of every step before ${t} observed, got ${this.schedule.observed} observed: ${this.schedule.missingFor(this.schedule.observed + 1 + this.schedule.lag)}`);
      mixer = this.schedule.mixer.state();
      decided = this.schedule.decided.slice(t);
    }
    return { format: "mixlab.serve-checkpoint/v1", spec: this.spec, step: t, sampler: this.readers[0]!.sampler.state(), mixer, decided };
  }

  /** The requested-vs-achieved table (over the budget, or the first block without one). */
  table(): ReturnType<Sampler["table"]> {
    return this.readers[0]!.sampler.table();
  }

  /** Session facts for the client. */
  describe(): Record<string, unknown> {
    const s = this.readers[0]!.sampler;
    return {
      id: this.id,
      corpus: this.spec.corpus,
      domains: this.domains,
      worldSize: this.readers.length,
      batchSize: this.spec.batchSize,
      seqLen: this.spec.seqLen,
      budgetSamples: Number.isFinite(s.budgetSamples) ? s.budgetSamples : null,
      steps: this.steps(),
      online: this.schedule ? { method: this.schedule.mixer.method, lag: this.schedule.lag, observed: this.schedule.observed, decided: this.schedule.decided.length, proportions: this.schedule.mixer.proportions() } : null,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiters.notify();
    for (const r of this.readers) {
      await r.iterator?.return(undefined);
      await r.sampler.close();
    }
  }
}

const LITTLE_ENDIAN = endianness() === "LE";

/** Media type of an encoded batch. */
export const BATCH_MEDIA_TYPE = "application/vnd.mixlab.batch.v1";

/**
 * Encodes a batch for the wire: a 4-byte little-endian header length, the UTF-8 JSON header
 * (rows, seqLen, width, domainPerRow, indexPerRow, truncatedTokens, padTokens and `extra`),
 * zero padding to a multiple of 4 bytes, then rows × seqLen token ids as little-endian unsigned
 * integers of the smallest width (1, 2 or 4 bytes) that holds the batch's largest id.
 */
export function encodeBatch(b: TokenBatch, seqLen: number, extra: Record<string, unknown>): EncodedBatch {
  const rows = b.domainPerRow.length;
  const n = rows * seqLen;
  let max = 0;
  let min = 0;
  const t = b.tokens;
  for (let i = 0; i < n; i++) {
    const v = t[i]!;
    if (v > max) max = v;
    if (v < min) min = v;
  }
  if (min < 0) throw new MixError("E_TOKENS", `expected token ids ≥ 0, got ${min}`);
  const width = max < 256 ? 1 : max < 65536 ? 2 : 4;
  const header = Buffer.from(JSON.stringify({
    ...extra,
    rows,
    seqLen,
    width,
    domainPerRow: Array.from(b.domainPerRow),
    indexPerRow: Array.from(b.indexPerRow),
    truncatedTokens: b.truncatedTokens,
    padTokens: b.padTokens,
  }));
  const headerEnd = 4 + header.length;
  const offset = (headerEnd + 3) & ~3;
  const body = Buffer.alloc(offset + n * width);
  body.writeUInt32LE(header.length, 0);
  header.copy(body, 4);
  const ids = t.subarray(0, n);
  // Typed-array views convert in bulk; `offset` is a multiple of 4, so every view is aligned.
  if (width === 1) body.set(ids, offset);
  else if (LITTLE_ENDIAN && width === 2) new Uint16Array(body.buffer, body.byteOffset + offset, n).set(ids);
  else if (LITTLE_ENDIAN) new Uint32Array(body.buffer, body.byteOffset + offset, n).set(ids);
  else if (width === 2) for (let i = 0; i < n; i++) body.writeUInt16LE(ids[i]!, offset + 2 * i);
  else for (let i = 0; i < n; i++) body.writeUInt32LE(ids[i]!, offset + 4 * i);
  return { body, rows, tokens: n };
}

/** Decodes `encodeBatch`'s output (the Node client and the tests). */
export function decodeBatch(body: Uint8Array): { header: Record<string, unknown> & { rows: number; seqLen: number; width: number; domainPerRow: number[]; indexPerRow: number[] }; tokens: Int32Array } {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const len = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + len).toString("utf8"));
  const offset = (4 + len + 3) & ~3;
  const n = header.rows * header.seqLen;
  const tokens = new Int32Array(n);
  const w = header.width as number;
  const at = buf.byteOffset + offset;
  if (w === 1) tokens.set(buf.subarray(offset, offset + n));
  else if (LITTLE_ENDIAN && at % w === 0) tokens.set(w === 2 ? new Uint16Array(buf.buffer, at, n) : new Uint32Array(buf.buffer, at, n));
  else for (let i = 0; i < n; i++) tokens[i] = w === 2 ? buf.readUInt16LE(offset + 2 * i) : buf.readUInt32LE(offset + 4 * i);
  return { header, tokens };
}
