// Batches of static sessions made on worker threads: the server's thread writes one response
// while a worker makes the next. A worker opens the corpora itself and keeps one sampler per
// session rank, created from the same options (and state) as the session's own, so it reads the
// same stream; frames come back as transferred buffers with the sampler state before each, and the
// server's thread gives a frame's buffer back (with a later request) once it was sent.

import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { openCorpus, type Corpus } from "../sampler/corpus.js";
import {
  createSampler,
  type Sampler,
  type SamplerOptions,
  type SamplerState,
  type TokenBatch,
} from "../sampler/sampler.js";
import { encodeBatch } from "./encode.js";
import { FRAME_POOL_BYTES, FramePool } from "./frames.js";

/** The compiled worker: this module, once built. */
const SCRIPT = new URL("./maker.js", import.meta.url);

/** What a worker is asked to open: sampler options without the corpus (named instead). */
export type MakerSamplerOptions = Omit<SamplerOptions, "corpus" | "warn" | "report" | "mixer" | "tokenizer" | "open">;

interface OpenRequest {
  readonly op: "open";
  readonly key: string;
  readonly corpus: string;
  readonly options: MakerSamplerOptions;
  readonly batch: { readonly batchSize: number; readonly seqLen: number; readonly padId: number };
  readonly maxId: number | undefined;
}
interface MakeRequest {
  readonly op: "make";
  readonly key: string;
  /** Step of the first batch (for its header). */
  readonly step: number;
  readonly count: number;
  /** Buffers of sent frames, for the thread's pool (transferred). */
  readonly give: ArrayBuffer[];
}
interface CloseRequest {
  readonly op: "close";
  readonly key: string;
}
type Request = (OpenRequest | MakeRequest | CloseRequest) & { readonly id: number };

/** Batches made by a worker: frames, the sampler's state before each and after the last. */
export interface Made {
  readonly frames: {
    /** A view of a whole transferred buffer, to give back with `recycle` once nothing refers to it. */
    readonly body: Buffer;
    readonly rows: number;
    readonly tokens: number;
    readonly before: SamplerState;
  }[];
  readonly after: SamplerState;
  /** The stream ended. */
  readonly done: boolean;
  /** Why making stopped before `count` (the frames made before it are kept). */
  readonly error?: string;
}

type Frame = { slab: ArrayBuffer; size: number; rows: number; tokens: number; before: SamplerState };
type Reply =
  | {
    readonly id: number;
    readonly ok: true;
    readonly made?: { frames: Frame[]; after: SamplerState; done: boolean; error?: string };
  }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** The thread a request went to has stopped (its samplers are gone). */
export class ThreadStopped extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ThreadStopped";
  }
}

/** How many stopped threads a server replaces before it goes on without them (a thread that keeps stopping). */
export const MAX_THREAD_RESTARTS = 3;

/** The worker threads of one server, and the requests in flight to them. */
export class Makers {
  /** Threads that accept requests (a replacement joins once its corpora are open). */
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<
    number,
    { resolve: (r: Reply) => void; reject: (e: Error) => void; worker: Worker }
  >();
  private nextId = 1;
  private turn = 0;
  private restarts = 0;
  /** Replacements whose corpora are still opening. */
  private starting = 0;
  /** Every worker started, stopped ones and starting replacements included (`stop` ends them all). */
  private readonly all = new Set<Worker>();
  /** Workers that stopped, and why. */
  private readonly dead = new Map<Worker, Error>();
  private stopping: Error | null = null;
  /** Buffers of sent frames, given back to the thread that made them with its next request. */
  private readonly returns = new Map<Worker, { slabs: ArrayBuffer[]; bytes: number }>();

  private constructor(
    private readonly script: URL,
    private readonly corpora: readonly { readonly name: string; readonly dir: string }[],
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * Starts `threads` workers over the corpora (name → folder); resolves once they accept requests.
   * A thread that stops is replaced (at most {@link MAX_THREAD_RESTARTS} times a server), with a warning.
   */
  static async start(
    threads: number,
    corpora: readonly { readonly name: string; readonly dir: string }[],
    options: { readonly script?: URL; readonly warn?: (message: string) => void } = {},
  ): Promise<Makers> {
    const m = new Makers(options.script ?? SCRIPT, corpora, options.warn ?? (() => {}));
    const started = Array.from({ length: threads }, () => m.spawn());
    try {
      // A failure at start is the server's (it does not start): no replacement.
      await Promise.all(started.map((w) => m.ready(w)));
    } catch (e) {
      await m.stop();
      throw e;
    }
    m.workers.push(...started);
    return m;
  }

  /** A new worker with its handlers; it accepts requests once `ready` resolves. */
  private spawn(): Worker {
    const w = new Worker(this.script, { workerData: { corpora: this.corpora } });
    w.unref();
    this.all.add(w);
    w.on("message", (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      p.resolve(r);
    });
    const die = (e: Error): void => {
      const first = !this.dead.has(w);
      if (first) this.dead.set(w, new ThreadStopped(`a thread making batches stopped: ${e.message}`));
      const why = this.stopping ?? this.dead.get(w)!;
      for (const [id, p] of this.pending) if (p.worker === w) {
        this.pending.delete(id);
        p.reject(why);
      }
      if (first && !this.stopping && this.workers.includes(w)) this.replace(w);
    };
    w.on("error", die);
    w.on("exit", (code) => die(new Error(`exit code ${code}`)));
    return w;
  }

  /** Resolves once `w` has opened its corpora: a worker answers in order, and an empty close says so. */
  private async ready(w: Worker): Promise<void> {
    await this.call(w, { op: "close", key: "" });
  }

  /** Takes a stopped worker out of turn and, while restarts are left, starts another in its place. */
  private replace(w: Worker): void {
    this.workers.splice(this.workers.indexOf(w), 1);
    this.returns.delete(w);
    const why = this.dead.get(w)!.message;
    if (this.restarts >= MAX_THREAD_RESTARTS) {
      const left = this.workers.length + this.starting;
      this.warn(`${why}; not replaced (${MAX_THREAD_RESTARTS} threads replaced already), ${left} left`);
      return;
    }
    this.restarts++;
    this.warn(`${why}; its session ranks go on on the server's thread; starting another thread`);
    const next = this.spawn();
    this.starting++;
    this.ready(next).then(
      () => {
        this.starting--;
        if (!this.stopping) this.workers.push(next);
      },
      (e: Error) => {
        this.starting--;
        void next.terminate();
        if (!this.stopping) this.warn(`the thread started in its place failed: ${e.message}`);
      },
    );
  }

  /** Threads accepting requests now. */
  get live(): number {
    return this.workers.length;
  }

  /**
   * The default number of threads: one per core beyond the server's own, at most 4; none where
   * the worker's compiled script is missing (running from the TypeScript sources, as the tests do).
   */
  static defaultThreads(): number {
    if (!existsSync(fileURLToPath(SCRIPT))) return 0;
    return Math.max(0, Math.min(4, availableParallelism() - 1));
  }

  /** A live worker for a new session rank (in turn), or null when none is left. */
  pick(): Worker | null {
    return this.workers.length ? this.workers[this.turn++ % this.workers.length]! : null;
  }

  private call(
    w: Worker,
    req: Omit<OpenRequest, "id"> | Omit<MakeRequest, "id"> | Omit<CloseRequest, "id">,
    transfer: ArrayBuffer[] = [],
  ): Promise<Reply> {
    const why = this.stopping ?? this.dead.get(w);
    if (why) return Promise.reject(why);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      w.postMessage({ ...req, id }, transfer);
    }).then((r) => {
      if (!r.ok) throw new Error(r.error);
      return r;
    });
  }

  async open(w: Worker, req: Omit<OpenRequest, "id" | "op">): Promise<void> {
    await this.call(w, { op: "open", ...req });
  }

  async make(w: Worker, key: string, step: number, count: number): Promise<Made> {
    const give = this.returns.get(w)?.slabs ?? [];
    this.returns.delete(w);
    const r = await this.call(w, { op: "make", key, step, count, give }, give);
    const made = (r as Extract<Reply, { ok: true }>).made!;
    return {
      frames: made.frames.map((f) => ({
        body: Buffer.from(f.slab, 0, f.size),
        rows: f.rows,
        tokens: f.tokens,
        before: f.before,
      })),
      after: made.after,
      done: made.done,
      ...(made.error !== undefined ? { error: made.error } : {}),
    };
  }

  /** Gives the memory of a frame `w` made back to it, once nothing on this thread refers to it. */
  recycle(w: Worker, slab: ArrayBuffer): void {
    if (this.stopping || this.dead.has(w)) return;
    let r = this.returns.get(w);
    if (!r) this.returns.set(w, (r = { slabs: [], bytes: 0 }));
    // As much as the thread's pool keeps: more would wait here for a request that may not come.
    if (r.bytes + slab.byteLength > FRAME_POOL_BYTES) return;
    r.slabs.push(slab);
    r.bytes += slab.byteLength;
  }

  async close(w: Worker, key: string): Promise<void> {
    if (this.stopping || this.dead.has(w)) return;
    await this.call(w, { op: "close", key });
  }

  async stop(): Promise<void> {
    this.stopping ??= Object.assign(new Error("the server is closing"), { statusCode: 503, code: "E_CLOSING" });
    await Promise.all([...this.all].map((w) => w.terminate()));
  }
}

/** The worker: opens the corpora, then answers requests in order. */
async function serveRequests(): Promise<void> {
  const port = parentPort!;
  const { corpora } = workerData as { corpora: { name: string; dir: string }[] };
  const opened = new Map<string, Corpus>();
  const pool = new FramePool();
  const ranks = new Map<string, {
    sampler: Sampler;
    it: AsyncGenerator<TokenBatch>;
    batch: OpenRequest["batch"];
    rank: number;
    maxId: number | undefined;
  }>();
  let queue: Promise<unknown> = (async () => {
    for (const c of corpora) opened.set(c.name, await openCorpus(c.dir));
  })();
  const handle = async (req: Request): Promise<Reply> => {
    if (req.op === "open") {
      const c = opened.get(req.corpus)!;
      const corpus = { names: c.names, sources: c.sources };
      const sampler = await createSampler({ ...req.options, corpus, warn: () => {} });
      const it = sampler.batches({ ...req.batch, reuse: true });
      ranks.set(req.key, { sampler, it, batch: req.batch, rank: req.options.rank ?? 0, maxId: req.maxId });
      return { id: req.id, ok: true };
    }
    const r = ranks.get(req.key);
    if (req.op === "close") {
      if (r) {
        ranks.delete(req.key);
        await r.it.return(undefined);
        await r.sampler.close();
      }
      return { id: req.id, ok: true };
    }
    for (const slab of req.give) pool.give(slab);
    if (!r) return { id: req.id, ok: false, error: `no sampler ${req.key}` };
    const frames: Frame[] = [];
    let done = false;
    let error: string | undefined;
    for (let i = 0; i < req.count; i++) {
      const before = r.sampler.state();
      let n: IteratorResult<TokenBatch>;
      try {
        n = await r.it.next();
      } catch (e) {
        // A generator that threw is finished: a new one starts where the sampler stands.
        r.it = r.sampler.batches({ ...r.batch, reuse: true });
        error = e instanceof Error ? e.message : String(e);
        break;
      }
      if (n.done) {
        done = true;
        break;
      }
      const header = { step: req.step + i, rank: r.rank };
      const enc = encodeBatch(n.value, r.batch.seqLen, header, r.maxId, (size) => pool.take(size));
      const slab = enc.body.buffer as ArrayBuffer;
      frames.push({ slab, size: enc.body.length, rows: enc.rows, tokens: enc.tokens, before });
    }
    const made = { frames, after: r.sampler.state(), done, ...(error !== undefined ? { error } : {}) };
    return { id: req.id, ok: true, made };
  };
  port.on("message", (req: Request) => {
    queue = queue
      .then(() => handle(req))
      .catch((e: unknown) => ({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }) as Reply)
      .then((reply) => {
        const transfer = reply.ok && reply.made ? reply.made.frames.map((f) => f.slab) : [];
        port.postMessage(reply, transfer);
      });
  });
}

if (!isMainThread && (workerData as { corpora?: unknown } | null)?.corpora) await serveRequests();
