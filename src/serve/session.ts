// A sampling session of `mixlab serve`: one sampler per rank over a corpus opened once at start,
// batches encoded for the wire, and — with an online mixer — the rule that makes the proportions
// of every step independent of request timing (see `OnlineSchedule`). Pure of HTTP: server.ts
// maps requests onto these methods, tests drive them directly.

import { randomUUID } from "node:crypto";
import { InputError, MixError } from "../errors.js";
import {
  createSampler,
  type Sampler,
  type SamplerOptions,
  type SamplerState,
  type TokenBatch,
} from "../sampler/sampler.js";
import type { DomainSource } from "../sampler/sources.js";
import type { MixerEvent, OnlineMixer, OnlineMixerState } from "../../mixers/types.js";
import { createOnlineMixer } from "../../mixers/online.js";
import { mergeDomainStats } from "../../mixers/common/domain-stats.js";
import { encodeBatch, type EncodedBatch } from "./encode.js";
import { FramePool } from "./frames.js";
import { ThreadStopped, type Makers } from "./maker.js";
import type { Worker } from "node:worker_threads";

export { BATCH_MEDIA_TYPE, decodeBatch, decodeBatches, encodeBatch, viewBatches } from "./encode.js";
export type { BatchHeader, DecodedBatch, EncodedBatch } from "./encode.js";

/** What a client asks for when it opens a session (the JSON body of `POST /v1/sessions`). */
export interface SessionSpec {
  /** A corpus name given to `mixlab serve` at start. */
  readonly corpus: string;
  /** One mixture (token or sample shares by domain) … */
  readonly proportions?: Readonly<Record<string, number>>;
  /** … or a schedule of stages … */
  readonly stages?: readonly {
    readonly untilSamples?: number;
    readonly untilTokens?: number;
    readonly proportions: Readonly<Record<string, number>>;
  }[];
  /** … or an online mixer that decides the proportions of every step. */
  readonly mixer?: {
    readonly method: string;
    readonly options?: Record<string, unknown>;
    readonly seed?: number;
    readonly initial?: Readonly<Record<string, number>>;
  };
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

/** The corpus could not be read while making a batch: the server's data, not the request. */
export class CorpusError extends MixError {
  constructor(message: string) {
    super("E_CORPUS", message);
    this.name = "CorpusError";
  }
}

/** A failure while making a batch, as a CorpusError (unless it is one, or the session's own error). */
export function corpusError(e: unknown): Error {
  if (e instanceof CorpusError || e instanceof ConflictError) return e;
  return new CorpusError(`making a batch: ${e instanceof Error ? e.message : String(e)}`);
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
    if (s.step < this.observed) throw new ConflictError(
      `step ${s.step}: already observed (the mixer is at step ${this.observed}); ` +
        "statistics are posted once per rank and step",
    );
    if (!this.mixer.accepts.includes(s.kind)) {
      const kinds = this.mixer.accepts.map((k) => JSON.stringify(k)).join(" or ");
      throw new InputError("kind", `expected ${kinds} for mixer ${this.mixer.method}, got ${JSON.stringify(s.kind)}`);
    }
    let byKind = this.pending.get(s.step);
    if (!byKind) this.pending.set(s.step, (byKind = new Map()));
    let byRank = byKind.get(s.kind);
    if (!byRank) byKind.set(s.kind, (byRank = new Map()));
    if (byRank.has(s.rank)) {
      throw new ConflictError(`rank ${s.rank}, step ${s.step}: ${s.kind} statistics already posted`);
    }
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
      const plural = ranks.length > 1 ? "s" : "";
      if (ranks.length) missing.push(`${k} statistics of step ${this.observed} from rank${plural} ${ranks.join(", ")}`);
    }
    return `step ${t} uses observations up to step ${step}; still missing: ${missing.join("; ") || "nothing"}`;
  }
}

/** A batch handed out, kept so that a retried request gets the same bytes. */
interface Delivered {
  readonly batch: EncodedBatch;
  /** Rank 0 only: the sampler's state before this batch (a checkpoint at this step). */
  readonly before: SamplerState | null;
  /** The pooled memory under `batch.body`, while it may go back to its pool. */
  slab: ArrayBuffer | null;
  /** The thread that made it (its pool takes the memory back), or null: this session's pool. */
  readonly maker: Worker | null;
  /** Responses carrying it that have not left yet. */
  sending: number;
  /** In the rank's window or made ahead. */
  held: boolean;
}

/** Per-rank reading state. */
interface RankReader {
  sampler: Sampler;
  /** Batches handed out to this rank. */
  step: number;
  /**
   * The batches of the rank's last two responses that made new ones (steps step − recent.length
   * … step − 1): a request may fetch them again (a retry), and a checkpoint may be taken at any of
   * them — what a loader with one request in flight needs.
   */
  recent: Delivered[];
  /** The first step of the last response that made new batches. */
  lastStart: number;
  /** Batches made ahead, not handed out yet (steps step … step + ahead.length − 1; static sessions). */
  ahead: Delivered[];
  /** Why making batches ahead failed (given to the next request). */
  failure: unknown;
  /**
   * Rank 0: the sampler's state before the batch being made now, if one is (on a batch-making
   * thread: before the next batch it will make).
   */
  making: SamplerState | null;
  /** The chunk of batches being made now (true if it made any). */
  chunk: Promise<boolean> | null;
  /** The batch-making thread and its sampler's key, when a thread makes this rank's batches. */
  remote: { readonly worker: Worker; readonly key: string } | null;
  /** Long-lived iterator (static sessions). */
  iterator: AsyncGenerator<TokenBatch> | null;
  /** The proportions (JSON of the domain-ordered vector) this rank's sampler uses now (online). */
  applied: string;
  /** Serialises this rank's requests (making ahead runs beside them, see `fill`). */
  queue: Promise<unknown>;
  /** The sampler has no more batches (those in `ahead` are still to be handed out). */
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
  /**
   * Static sessions: after each response, make the rank's next response ahead (as many batches)
   * while this one travels and the client uses it (default true).
   */
  readonly readAhead?: boolean;
  /** Threads that make the batches of static sessions (default: the server's own thread). */
  readonly makers?: Makers;
  readonly warn?: (m: string) => void;
}

/** A live session. */
export class Session {
  private readonly waiters = new Waiters();
  private readonly pool: FramePool;
  private closed = false;

  private constructor(
    readonly id: string,
    readonly spec: SessionSpec,
    readonly domains: readonly string[],
    private readonly readers: RankReader[],
    private readonly schedule: OnlineSchedule | null,
    private readonly waitMs: number,
    private readonly readAhead: boolean,
    /** Every id lies in [0, maxId] when the corpus's storage type says so (see `encodeBatch`). */
    private readonly maxId: number | undefined,
    private readonly makers: Makers | null,
    /** What each rank's sampler was made from (without its rank). */
    private readonly samplerOptions: Omit<SamplerOptions, "rank">,
    /** Rows, tokens a row and pad id of every batch. */
    private readonly batch: { readonly batchSize: number; readonly seqLen: number; readonly padId: number },
  ) {
    this.pool = new FramePool();
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
      if (!spec.mixer.initial && !spec.proportions) {
        spec = { ...spec, mixer: { ...spec.mixer, initial: mixer.proportions() } };
      }
    } else if (cp?.mixer) {
      throw new InputError("state.mixer", "expected no mixer state for a session without a mixer, got one");
    }
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
      ...(spec.stages
        ? { stages: spec.stages }
        : { proportions: spec.proportions ?? spec.mixer?.initial ?? mixer!.proportions() }),
      worldSize: world,
      ...(cp ? { state: cp.sampler } : {}),
      ...(o.warn ? { warn: o.warn } : {}),
    };
    const readers: RankReader[] = [];
    for (let r = 0; r < world; r++) {
      const sampler = await createSampler({ ...base, rank: r });
      const current = cp?.sampler.appended.at(-1)?.proportions ?? ("proportions" in base ? base.proportions : null);
      const applied = current ? JSON.stringify(names.map((d) => current[d] ?? 0)) : "";
      const step = cp?.step ?? 0;
      readers.push({
        sampler, step, recent: [], lastStart: step, ahead: [], failure: null, making: null, chunk: null,
        remote: null, iterator: null, applied, queue: Promise.resolve(), done: false,
      });
    }
    const lag = spec.lag ?? (mixer?.accepts.includes("eval") ? 0 : 1);
    if (mixer && mixer.accepts.includes("eval") && lag !== 0) {
      throw new InputError(
        "lag",
        `expected 0 for mixer ${JSON.stringify(mixer.method)} (it takes evaluations, and whether step t needs ` +
          `one depends on every step before it), got ${lag}`,
      );
    }
    const merge = o.mergeStats ?? mergeStatsForMixer;
    const schedule = mixer ? new OnlineSchedule(mixer, merge, lag, world, cp?.step ?? 0, cp?.decided ?? []) : null;
    const bounds = o.corpus.sources.map((x) => x.maxTokenId);
    const maxId = bounds.every((x) => x !== undefined) ? Math.max(spec.padId ?? 0, ...bounds) : undefined;
    const id = randomUUID();
    const makers = o.makers;
    const batch = { batchSize: spec.batchSize, seqLen: spec.seqLen, padId: spec.padId ?? 0 };
    if (makers && makers.live > 0 && !schedule) {
      // A thread keeps a sampler of each rank made from the same options, and makes its batches.
      const { corpus: _c, warn: _w, ...options } = base;
      for (const [r, reader] of readers.entries()) {
        const worker = makers.pick();
        if (!worker) break; // every thread stopped: this thread makes the batches
        const key = `${id}/${r}`;
        try {
          await makers.open(worker, { key, corpus: o.corpus.name, options: { ...options, rank: r }, batch, maxId });
        } catch (e) {
          if (e instanceof ThreadStopped) continue; // that thread stopped: this one makes the rank's batches
          throw e;
        }
        reader.remote = { worker, key };
        reader.making = reader.sampler.state();
      }
    }
    const waitMs = o.waitMs ?? 60_000;
    const readAhead = o.readAhead ?? true;
    return new Session(id, spec, names, readers, schedule, waitMs, readAhead, maxId, makers ?? null, base, batch);
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
   * `step`, when given, must be the rank's next step or one of its last two responses' (a retry).
   */
  async next(rank: number, step?: number): Promise<EncodedBatch | null> {
    return (await this.take(rank, { ...(step !== undefined ? { step } : {}), count: 1 }))[0] ?? null;
  }

  /**
   * Up to `count` consecutive batches of `rank` ([] at the end of the stream), from `step` when
   * given: the rank's next step, or a step of its last two responses (those are sent again, the
   * same bytes, then new ones follow). Static sessions give `count` unless the stream ends; online
   * sessions wait for the first batch's proportions, then add only steps already decided.
   */
  take(rank: number, o: { step?: number; count?: number; sent?: Promise<boolean> } = {}): Promise<EncodedBatch[]> {
    const reader = this.reader(rank);
    const count = o.count ?? 1;
    if (!(Number.isInteger(count) && count >= 1)) {
      throw new InputError("count", `expected an integer ≥ 1, got ${count}`);
    }
    const run = reader.queue.then(() => this.takeNow(reader, rank, o.step, count));
    reader.queue = run.catch(() => undefined);
    const sent = o.sent;
    const out = run.then((ds) => {
      for (const d of ds) {
        if (!sent) d.slab = null; // the caller keeps the buffers: never reuse them
        else d.sending++;
      }
      if (sent) void sent.then((whole) => {
        for (const d of ds) {
          d.sending--;
          if (!whole) d.slab = null; // a write may still refer to it
          this.release(d);
        }
      });
      return ds.map((d) => d.batch);
    });
    if (this.readAhead && !this.schedule) {
      // On this thread: once this response has left (`sent`, or the current turn of the event
      // loop), make the next; making it earlier would slow this one's transfer, which the client
      // is waiting for. A batch-making thread starts at once, on the next two responses. This
      // runs beside the rank's requests: the next one waits only for the batches it takes.
      const left: Promise<unknown> = (reader.remote ? null : sent) ?? new Promise<void>((r) => setImmediate(r));
      const depth = reader.remote ? 2 * count : count;
      void run.then(
        () => left
          .then(() => this.fill(reader, rank, depth, count, false, true))
          .catch((e: unknown) => (reader.failure = e)),
        () => undefined, // the request failed: nothing to make ahead for it
      );
    }
    return out;
  }

  /** @throws ConflictError (409) once the session is closed (DELETE, or the server closing) */
  private assertOpen(): void {
    if (this.closed) throw new ConflictError("the session is closed");
  }

  /** Gives a batch's memory back to its pool when nothing refers to it any more. */
  private release(d: Delivered): void {
    if (!d.slab || d.held || d.sending > 0) return;
    if (d.maker) this.makers!.recycle(d.maker, d.slab);
    else this.pool.give(d.slab);
    d.slab = null;
  }

  private reader(rank: number): RankReader {
    if (!(Number.isInteger(rank) && rank >= 0 && rank < this.readers.length)) {
      throw new InputError("rank", `expected an integer in [0, ${this.readers.length}), got ${rank}`);
    }
    return this.readers[rank]!;
  }

  private async takeNow(
    reader: RankReader,
    rank: number,
    step: number | undefined,
    count: number,
  ): Promise<Delivered[]> {
    this.assertOpen();
    if (reader.failure) {
      const e = reader.failure;
      reader.failure = null;
      throw e;
    }
    const first = reader.step - reader.recent.length;
    let replay: Delivered[] = [];
    if (step !== undefined && step !== reader.step) {
      if (step < first || step > reader.step) {
        const held = first === reader.step - 1 ? `${first}` : `${first}…${reader.step - 1}`;
        const retry = reader.recent.length ? ` (or ${held}, a retry)` : "";
        throw new ConflictError(`rank ${rank}: expected step ${reader.step}${retry}, got ${step}`);
      }
      replay = reader.recent.slice(step - first, step - first + count);
      // Only sent again: the window stays as it is.
      if (replay.length === count) return replay;
    }
    // What is missing is made into `ahead` first (a checkpoint taken meanwhile reads the state
    // before it there); the rank's step and window then change together, at once.
    const need = count - replay.length;
    await this.fill(reader, rank, need, need, replay.length === 0, false);
    // Closed meanwhile (DELETE): the batches made so far are not the ones asked for.
    this.assertOpen();
    const fresh = reader.ahead.splice(0, need);
    reader.step += fresh.length;
    if (fresh.length) {
      const start = reader.step - fresh.length - replay.length;
      const keepFrom = Math.min(start, reader.lastStart);
      const all = [...reader.recent, ...fresh];
      const cut = Math.max(0, all.length - (reader.step - keepFrom));
      for (const d of all.slice(0, cut)) {
        d.held = false;
        this.release(d);
      }
      reader.recent = all.slice(cut);
      reader.lastStart = start;
    }
    return [...replay, ...fresh];
  }

  /**
   * Makes batches into `ahead` until it holds `target`, the stream ends or (online) the next step
   * is not decided; `opening`: the first batch may wait for its proportions. One chunk (a batch,
   * or `chunk` batches on a thread) is made at a time, whoever asks: a request waiting for
   * batches waits for the chunk in progress, not for all the making ahead. `background` yields to
   * the event loop between chunks.
   */
  private async fill(
    reader: RankReader,
    rank: number,
    target: number,
    chunk: number,
    opening: boolean,
    background: boolean,
  ): Promise<void> {
    while (!this.closed && reader.ahead.length < target && !reader.done) {
      if (reader.chunk) {
        if (!(await reader.chunk)) return;
        continue;
      }
      const n = Math.min(chunk, target - reader.ahead.length);
      const first = opening && reader.ahead.length === 0;
      const making = reader.remote ? this.makeRemote(reader, rank, n) : this.makeLocal(reader, rank, first);
      reader.chunk = making.finally(() => (reader.chunk = null));
      if (!(await reader.chunk)) return;
      if (background && !reader.remote) await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Makes the rank's next batch on this thread into `ahead`; false when there is none now. */
  private async makeLocal(reader: RankReader, rank: number, wait: boolean): Promise<boolean> {
    const d = await this.produce(reader, rank, reader.step + reader.ahead.length, wait);
    if (d) reader.ahead.push(d);
    return d !== null;
  }

  /**
   * Has the rank's thread make `count` more batches into `ahead` (static sessions). Batches made
   * before a failure are kept; if the thread died, the rank goes on on this thread from the state
   * before its next batch.
   */
  private async makeRemote(reader: RankReader, rank: number, count: number): Promise<boolean> {
    const { worker, key } = reader.remote!;
    let made;
    try {
      made = await this.makers!.make(worker, key, reader.step + reader.ahead.length, count);
    } catch (e) {
      if (!(e instanceof ThreadStopped)) throw e;
      this.assertOpen();
      reader.remote = null;
      reader.iterator = null;
      const stale = reader.sampler;
      const sampler = await createSampler({ ...this.samplerOptions, rank, state: reader.making! });
      if (this.closed) {
        // Closed meanwhile: `close` ended the readers' samplers already, not this one.
        await sampler.close();
        this.assertOpen();
      }
      reader.sampler = sampler;
      await stale.close();
      reader.making = null;
      return this.makeLocal(reader, rank, false);
    }
    for (const f of made.frames) {
      reader.ahead.push({
        batch: { body: f.body, rows: f.rows, tokens: f.tokens },
        before: rank === 0 ? f.before : null,
        slab: f.body.buffer as ArrayBuffer,
        maker: worker,
        sending: 0,
        held: true,
      });
    }
    reader.making = made.after;
    if (made.error) throw new CorpusError(`making a batch: ${made.error}`);
    if (made.done || made.frames.length < count) reader.done = true;
    return made.frames.length > 0;
  }

  /**
   * Makes batch `t` (the rank's next to make); null at the end of the stream, or (online, when
   * `wait` is false) when the step's proportions are not decided yet.
   */
  private async produce(reader: RankReader, rank: number, t: number, wait: boolean): Promise<Delivered | null> {
    if (reader.done) return null;
    const before = rank === 0 ? reader.sampler.state() : null;
    // While the batch is made the sampler counts its rows one by one (asynchronous sources): a
    // checkpoint meanwhile takes the state from before it.
    reader.making = before;
    try {
      return await this.make(reader, rank, t, wait, before);
    } finally {
      reader.making = null;
    }
  }

  private async make(
    reader: RankReader,
    rank: number,
    t: number,
    wait: boolean,
    before: SamplerState | null,
  ): Promise<Delivered | null> {
    let proportions: Record<string, number> | null = null;
    if (this.schedule) {
      const sch = this.schedule;
      if (!wait && sch.decided.length <= t) return null;
      const late = (): ConflictError =>
        new ConflictError(`rank ${rank}: waited ${this.waitMs} ms for step ${t}'s proportions: ${sch.missingFor(t)}`);
      await this.waiters.wait(() => sch.decided.length > t || this.closed, this.waitMs, late);
      this.assertOpen();
      proportions = sch.decided[t]!;
      const key = JSON.stringify(this.domains.map((d) => proportions![d] ?? 0));
      if (key !== reader.applied) {
        reader.sampler.setProportions(proportions);
        reader.applied = key;
      }
    }
    const it = this.schedule
      ? reader.sampler.batches({ ...this.batch, limit: 1 })
      : (reader.iterator ??= reader.sampler.batches({ ...this.batch, reuse: true }));
    let r: IteratorResult<TokenBatch>;
    try {
      r = await it.next();
    } catch (e) {
      // A generator that threw is finished: the next request starts a new one where the sampler
      // stands (the failed batch's rows are not counted), instead of reading an end of stream.
      reader.iterator = null;
      throw corpusError(e);
    }
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
    const batch = encodeBatch(r.value, this.spec.seqLen, header, this.maxId, (size) => this.pool.take(size));
    return { batch, before, slab: batch.body.buffer as ArrayBuffer, maker: null, sending: 0, held: true };
  }

  /** Posts one rank's statistics of a step (online sessions). */
  observe(s: RankStats): { observed: number; decided: number } {
    if (!this.schedule) throw new InputError(
      "mixer",
      "expected a session with an online mixer, got one without: statistics have nowhere to go",
    );
    this.reader(s.rank);
    const keys = ["lossSum", "tokens"];
    if (s.referenceSum) keys.push("referenceSum");
    if (s.excessSum) keys.push("excessSum");
    for (const key of keys) {
      const m = (s as unknown as Record<string, Record<string, number>>)[key]!;
      for (const [d, v] of Object.entries(m)) {
        if (!this.domains.includes(d)) throw new InputError(
          `${key}.${d}`,
          `expected one of the session's domains (${this.domains.join(", ")}), got ${JSON.stringify(d)}`,
        );
        if (!Number.isFinite(v) || v < 0) {
          throw new InputError(`${key}.${d}`, `expected a finite number ≥ 0, got ${v}`);
        }
      }
    }
    for (const d of Object.keys(s.lossSum)) {
      if (!(d in s.tokens)) throw new InputError(`tokens.${d}`, `expected a token count beside lossSum.${d}, got none`);
    }
    this.schedule.post(s);
    this.waiters.notify();
    return { observed: this.schedule.observed, decided: this.schedule.decided.length };
  }

  /**
   * The session's checkpoint at `step` (default: where the ranks are). Every rank must have
   * fetched `step` batches and still hold it in its last response (a loader that fetched ahead
   * checkpoints at the step it trained up to); online, every step before it must be observed.
   * Otherwise a ConflictError says which rank or step is behind.
   */
  checkpoint(step?: number): SessionCheckpoint {
    const steps = this.steps();
    const t = step ?? steps[0]!;
    if (step === undefined && steps.some((s) => s !== t)) {
      const at = steps.map((s, r) => `rank ${r} at ${s}`).join(", ");
      throw new ConflictError(
        `expected every rank at the same step, got ${at}; checkpoint after every rank has fetched the same number ` +
          "of batches, or name the step (?step=)",
      );
    }
    const off = this.readers.map((r) => ({ from: r.step - r.recent.length, to: r.step }));
    const out = off.findIndex((w) => t < w.from || t > w.to);
    if (out >= 0) {
      const w = off[out]!;
      const held = w.from === w.to
        ? `step ${w.to} (it has fetched ${w.to} batches)`
        : `steps ${w.from}…${w.to} (it has fetched ${w.to} batches and holds its last two responses)`;
      throw new ConflictError(`step ${t}: rank ${out} can be checkpointed at ${held}, got ${t}`);
    }
    let mixer: OnlineMixerState | null = null;
    let decided: Record<string, number>[] = [];
    if (this.schedule) {
      const sch = this.schedule;
      if (sch.observed !== t) throw new ConflictError(
        `expected the statistics of every step before ${t} observed, got ${sch.observed} observed: ` +
          sch.missingFor(sch.observed + 1 + sch.lag),
      );
      mixer = this.schedule.mixer.state();
      decided = this.schedule.decided.slice(t);
    }
    const r0 = this.readers[0]!;
    // The state before batch t: made ahead, current, or kept with a batch of the window.
    const sampler = t === r0.step
      ? (r0.ahead[0]?.before ?? r0.making ?? r0.sampler.state())
      : r0.recent[t - off[0]!.from]!.before!;
    return { format: "mixlab.serve-checkpoint/v1", spec: this.spec, step: t, sampler, mixer, decided };
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
      online: this.schedule
        ? {
          method: this.schedule.mixer.method,
          lag: this.schedule.lag,
          observed: this.schedule.observed,
          decided: this.schedule.decided.length,
          proportions: this.schedule.mixer.proportions(),
        }
        : null,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiters.notify();
    for (const r of this.readers) {
      await r.iterator?.return(undefined);
      await r.sampler.close();
      if (r.remote) await this.makers!.close(r.remote.worker, r.remote.key).catch(() => undefined);
    }
  }
}
