// One proxy run: train the proxy transformer on batches drawn by mixlab's own sampler with the
// run's proportions, then evaluate each domain's held-out split; returns one runs-table row.
// Deterministic for a seed, config and backend: weights from the Rng, batch order from the
// sampler, window offsets from a hash of (seed, sample index); no tfjs `fit`, no Math.random.

import type * as tfTypes from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import { createRng } from "../rng/index.js";
import { createSampler, type Sampler } from "../sampler/sampler.js";
import { openCorpus } from "../sampler/corpus.js";
import type { DomainSource, OpenOptions } from "../sampler/sources.js";
import { FitError, InputError } from "../errors.js";
import { createModel, parameterCount, tokenLosses, type ProxyConfig, type ProxyModel } from "./model.js";

type Tf = typeof tfTypes;

/** Options of a proxy run. */
export interface TrainOptions {
  readonly tf: Tf;
  readonly backend: string;
  readonly config: ProxyConfig;
  /** Train corpus: a directory or sources by domain name. */
  readonly train: string | { names: readonly string[]; sources: readonly DomainSource[] };
  /** Held-out corpus (same domains): a directory or sources. */
  readonly heldout: string | { names: readonly string[]; sources: readonly DomainSource[] };
  readonly proportions: Readonly<Record<string, number>>;
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Peak learning rate (default 3e-3), warm-up steps (default 10% of steps), decay (default cosine to 10%). */
  readonly lr?: number;
  readonly warmup?: number;
  readonly schedule?: "cosine" | "linear";
  readonly weightDecay?: number;
  readonly clip?: number;
  /** Held-out windows per domain (default 24). */
  readonly evalWindows?: number;
  readonly open?: OpenOptions;
  /** Called every `logEvery` steps with (step, loss). */
  readonly onStep?: (step: number, loss: number) => void;
  readonly logEvery?: number;
}

/** The result of a run, ready to be a runs-table row. */
export interface RunResult {
  readonly proportions: Record<string, number>;
  readonly lossPerDomain: Record<string, number>;
  readonly bitsPerBytePerDomain: Record<string, number>;
  readonly trainLoss: number;
  readonly params: number;
  readonly tokens: number;
  readonly steps: number;
  readonly seconds: number;
  readonly backend: string;
}

const encoder = new TextEncoder();

/** A window offset within a record of `len` tokens, from (seed, index) — no Rng state involved. */
function windowOffset(seed: number, index: number, room: number): number {
  if (room <= 0) return 0;
  const h = createHash("sha256").update(`${seed}:${index}`).digest();
  return h.readUInt32LE(0) % (room + 1);
}

/** Learning rate at a step: linear warm-up, then cosine (or linear) decay to 10% of the peak. */
export function learningRate(step: number, steps: number, peak: number, warmup: number, schedule: "cosine" | "linear"): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const t = (step - warmup) / Math.max(1, steps - warmup);
  const floor = 0.1 * peak;
  return schedule === "cosine" ? floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * t)) : peak - (peak - floor) * t;
}

/** Fixed held-out windows per domain: consecutive (seqLen + 1)-token windows from the first records. */
async function heldoutWindows(names: readonly string[], sources: readonly DomainSource[], seqLen: number, perDomain: number): Promise<Map<string, Int32Array[]>> {
  const out = new Map<string, Int32Array[]>();
  for (let d = 0; d < names.length; d++) {
    const windows: Int32Array[] = [];
    const s = sources[d]!;
    for (let i = 0; i < s.numRecords && windows.length < perDomain; i++) {
      const r = await s.read(i);
      const ids = r.tokens ?? Int32Array.from(encoder.encode(r.text ?? ""));
      for (let o = 0; o + seqLen + 1 <= ids.length && windows.length < perDomain; o += seqLen + 1) windows.push(ids.slice(o, o + seqLen + 1));
    }
    if (windows.length === 0) throw new InputError(names[d]!, `expected held-out text of at least ${seqLen + 1} tokens, got none`);
    out.set(names[d]!, windows);
  }
  return out;
}

/** Trains one proxy and evaluates it. */
export async function trainProxy(o: TrainOptions): Promise<RunResult> {
  const tf = o.tf;
  const cfg = o.config;
  const T = cfg.seqLen;
  const t0 = performance.now();
  const trainCorpus = typeof o.train === "string" ? await openCorpus(o.train, o.open ?? {}) : null;
  const heldCorpus = typeof o.heldout === "string" ? await openCorpus(o.heldout, o.open ?? {}) : null;
  const trainSet = trainCorpus ?? (o.train as { names: readonly string[]; sources: readonly DomainSource[] });
  const heldSet = heldCorpus ?? (o.heldout as { names: readonly string[]; sources: readonly DomainSource[] });
  const missing = trainSet.names.filter((n) => !heldSet.names.includes(n));
  if (missing.length) throw new InputError("held-out corpus", `expected a held-out split for every domain, got none for ${missing.join(", ")}`);
  // Blocks of 4096: per-block counts resolve shares to 1/4096, so nearby swarm mixtures train on different streams.
  const sampler: Sampler = await createSampler({ corpus: trainSet, proportions: o.proportions, seed: o.seed, blockSize: 4096, ...(o.open ? { open: o.open } : {}), warn: () => {} });
  const rng = createRng(o.seed).derive("proxy-init");
  const model: ProxyModel = createModel(tf, cfg, rng);
  const decay = model.names.map((n) => /\.w$/.test(n)); // matrices decay; gains, biases, embeddings do not
  const zeros = (v: tfTypes.Variable): tfTypes.Variable => {
    const z = tf.zerosLike(v);
    const out = tf.variable(z, false);
    z.dispose();
    return out;
  };
  const m = model.variables.map(zeros);
  const vv = model.variables.map(zeros);
  const peak = o.lr ?? 3e-3;
  const warmup = o.warmup ?? Math.max(1, Math.round(0.1 * o.steps));
  const wd = o.weightDecay ?? 0.1;
  const clip = o.clip ?? 1;
  const b1 = 0.9;
  const b2 = 0.95;
  const examples = sampler.examples({ readAhead: 32 });
  const xs = new Int32Array(o.batchSize * T);
  const ys = new Int32Array(o.batchSize * T);
  const mask = new Float32Array(o.batchSize * T);
  let lastLoss = NaN;
  let tokens = 0;
  try {
    for (let step = 0; step < o.steps; step++) {
      mask.fill(0);
      xs.fill(0);
      ys.fill(0);
      for (let b = 0; b < o.batchSize; b++) {
        const n = await examples.next();
        if (n.done) throw new FitError("the sampler ran out of samples", { iteration: step });
        const ids = n.value.tokens ?? encoder.encode(n.value.text ?? "");
        const off = windowOffset(o.seed, n.value.index, ids.length - (T + 1));
        const len = Math.min(T + 1, ids.length - off);
        for (let t = 0; t + 1 < len; t++) {
          xs[b * T + t] = ids[off + t]!;
          ys[b * T + t] = ids[off + t + 1]!;
          mask[b * T + t] = 1;
        }
      }
      let valid = 0;
      for (const x of mask) valid += x;
      tokens += valid;
      const lr = learningRate(step, o.steps, peak, warmup, o.schedule ?? "cosine");
      const lossValue = tf.tidy(() => {
        const inp = tf.tensor2d(xs, [o.batchSize, T], "int32");
        const tgt = tf.tensor2d(ys, [o.batchSize, T], "int32");
        const msk = tf.tensor2d(mask, [o.batchSize, T]);
        const { value, grads } = tf.variableGrads(() => tf.div(tf.sum(tf.mul(tokenLosses(model, inp, tgt), msk)), Math.max(valid, 1)) as tfTypes.Scalar, model.variables);
        const gs = model.names.map((nm) => grads[nm]!);
        // Global-norm clipping.
        const norm = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))));
        const scale = tf.minimum(1, tf.div(clip, tf.add(norm, 1e-6)));
        const c1 = 1 - b1 ** (step + 1);
        const c2 = 1 - b2 ** (step + 1);
        model.variables.forEach((p, i) => {
          const g = tf.mul(gs[i]!, scale);
          m[i]!.assign(tf.add(tf.mul(m[i]!, b1), tf.mul(g, 1 - b1)));
          vv[i]!.assign(tf.add(tf.mul(vv[i]!, b2), tf.mul(tf.square(g), 1 - b2)));
          const update = tf.div(tf.div(m[i]!, c1), tf.add(tf.sqrt(tf.div(vv[i]!, c2)), 1e-8));
          const withDecay = decay[i] ? tf.add(update, tf.mul(p, wd)) : update;
          p.assign(tf.sub(p, tf.mul(withDecay, lr)));
        });
        return value.dataSync()[0]!;
      });
      if (!Number.isFinite(lossValue)) throw new FitError(`training loss is not finite at step ${step + 1}`, { iteration: step + 1, lastLoss: lossValue });
      lastLoss = lossValue;
      if (o.onStep && (step + 1) % (o.logEvery ?? 10) === 0) o.onStep(step + 1, lossValue);
    }
    // Evaluation on the held-out windows of every domain.
    const windows = await heldoutWindows(heldSet.names, heldSet.sources, T, o.evalWindows ?? 24);
    const lossPerDomain: Record<string, number> = {};
    const bpb: Record<string, number> = {};
    for (const name of trainSet.names) {
      const w = windows.get(name)!;
      const inp = new Int32Array(w.length * T);
      const tgt = new Int32Array(w.length * T);
      w.forEach((win, i) => {
        inp.set(win.subarray(0, T), i * T);
        tgt.set(win.subarray(1, T + 1), i * T);
      });
      const mean = tf.tidy(() => tf.mean(tokenLosses(model, tf.tensor2d(inp, [w.length, T], "int32"), tf.tensor2d(tgt, [w.length, T], "int32"))).dataSync()[0]!);
      lossPerDomain[name] = mean;
      bpb[name] = mean / Math.LN2; // byte-level tokens: nats/token → bits/byte
    }
    return {
      proportions: { ...o.proportions },
      lossPerDomain,
      bitsPerBytePerDomain: bpb,
      trainLoss: lastLoss,
      params: parameterCount(cfg),
      tokens,
      steps: o.steps,
      seconds: (performance.now() - t0) / 1000,
      backend: o.backend,
    };
  } finally {
    model.dispose();
    for (const x of [...m, ...vv]) x.dispose();
    await examples.return(undefined);
    await trainCorpus?.close();
    await heldCorpus?.close();
  }
}
