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
import {
  createEnsemble,
  defaultKernels,
  memberLosses,
  parameterCount,
  tokenLosses,
  writeVariable,
  type Kernels,
  type ProxyConfig,
  type ProxyModel,
} from "./model.js";
import { shardGradients, sliceRows } from "./shard.js";
import { createGradientPool, type GradientPool } from "./parallel.js";
import type { BackendName } from "./backend.js";
import { adamw, sumSquares } from "./kernels.js";

type Tf = typeof tfTypes;

/** What every proxy run is given, offline (`trainProxy`) or online (`trainOnline`). */
export interface ProxyRunOptions {
  readonly tf: Tf;
  readonly backend: string;
  readonly config: ProxyConfig;
  /** Train corpus: a directory or sources by domain name. */
  readonly train: string | { names: readonly string[]; sources: readonly DomainSource[] };
  /** Held-out corpus (same domains): a directory or sources. */
  readonly heldout: string | { names: readonly string[]; sources: readonly DomainSource[] };
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Peak learning rate (default 3e-3), warm-up steps (default 10% of steps), decay (default cosine to 10%). */
  readonly lr?: number;
  readonly warmup?: number;
  readonly schedule?: "cosine" | "linear";
  readonly weightDecay?: number;
  readonly clip?: number;
  /** Held-out windows per domain: the fixed subsample every evaluation uses (default 24). */
  readonly evalWindows?: number;
}

/** Options of a proxy run. */
export interface TrainOptions extends ProxyRunOptions {
  readonly proportions: Readonly<Record<string, number>>;
  readonly open?: OpenOptions;
  /** Evaluate the held-out splits every this many steps too (default: only at the end). */
  readonly evalEvery?: number;
  /** Called after each intermediate evaluation with (step, loss per domain of each member). */
  readonly onEval?: (step: number, lossPerDomain: Record<string, number>[]) => void;
  /** Fused CPU kernels or a tf-op graph (default: fused on wasm and cpu, tf on GPU backends). */
  readonly kernels?: Kernels;
  /**
   * Data-parallel threads for the step (default 1): each computes the gradients of its share of
   * the batch rows (src/proxy/parallel.ts). Fused kernels only; at most the batch size. The
   * thread count is part of the configuration: results are identical for the same count, and
   * equal across counts up to float rounding.
   */
  readonly threads?: number;
  /** Called every `logEvery` steps with (step, loss). */
  readonly onStep?: (step: number, loss: number) => void;
  readonly logEvery?: number;
  /** Called once after the last step with every trained variable's values (member axis first). */
  readonly onWeights?: (weights: { readonly name: string; readonly values: Float32Array }[]) => void;
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
  /** Data-parallel threads of the step. */
  readonly threads: number;
  /** Held-out losses at the intermediate evaluations (`evalEvery`), by step. */
  readonly evalCurve: { step: number; lossPerDomain: Record<string, number> }[];
}

const encoder = new TextEncoder();

/** A window offset within a record of `len` tokens, from (seed, index) — no Rng state involved. */
export function windowOffset(seed: number, index: number, room: number): number {
  if (room <= 0) return 0;
  const h = createHash("sha256").update(`${seed}:${index}`).digest();
  return h.readUInt32LE(0) % (room + 1);
}

/** Learning rate at a step: linear warm-up, then cosine (or linear) decay to 10% of the peak. */
export function learningRate(
  step: number,
  steps: number,
  peak: number,
  warmup: number,
  schedule: "cosine" | "linear",
): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const t = (step - warmup) / Math.max(1, steps - warmup);
  const floor = 0.1 * peak;
  return schedule === "cosine" ? floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * t)) : peak - (peak - floor) * t;
}

/** Fixed held-out windows per domain: consecutive (seqLen + 1)-token windows from the first records. */
export async function heldoutWindows(
  names: readonly string[],
  sources: readonly DomainSource[],
  seqLen: number,
  perDomain: number,
): Promise<Map<string, Int32Array[]>> {
  const out = new Map<string, Int32Array[]>();
  for (let d = 0; d < names.length; d++) {
    const windows: Int32Array[] = [];
    const s = sources[d]!;
    for (let i = 0; i < s.numRecords && windows.length < perDomain; i++) {
      const r = await s.read(i);
      const ids = r.tokens ?? Int32Array.from(encoder.encode(r.text ?? ""));
      for (let o = 0; o + seqLen + 1 <= ids.length && windows.length < perDomain; o += seqLen + 1) windows.push(
        ids.slice(o, o + seqLen + 1),
      );
    }
    if (windows.length === 0) throw new InputError(
      names[d]!,
      `expected held-out text of at least ${seqLen + 1} tokens, got none`,
    );
    out.set(names[d]!, windows);
  }
  return out;
}

/**
 * AdamW with per-member global-norm clipping on the CPU (fused kernels): master copies of the
 * weights and both moments live in typed arrays, the updated weights are written back to the
 * variables once per step. The same update as the tf-op version below, in one pass per weight.
 */
export function cpuAdamW(
  model: ProxyModel,
  decay: readonly boolean[],
  h: { b1: number; b2: number; wd: number; clip: number },
): {
  readonly params: Float32Array[];
  readonly ms: Float32Array[];
  readonly vs: Float32Array[];
  step(grads: Float32Array[], lr: number, step: number): void;
} {
  const K = model.members;
  const params = model.variables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const ms = params.map((p) => new Float32Array(p.length));
  const vs = params.map((p) => new Float32Array(p.length));
  const sq = new Float64Array(K);
  return {
    params,
    ms,
    vs,
    step(grads, lr, step) {
      sq.fill(0);
      grads.forEach((g, i) => {
        const per = params[i]!.length / K;
        for (let k = 0; k < K; k++) sq[k] = sq[k]! + sumSquares(g, k * per, (k + 1) * per);
      });
      const c1 = 1 - h.b1 ** (step + 1);
      const c2 = 1 - h.b2 ** (step + 1);
      grads.forEach((g, i) => {
        const p = params[i]!;
        const per = p.length / K;
        for (let k = 0; k < K; k++) {
          const scale = Math.min(1, h.clip / (Math.sqrt(sq[k]!) + 1e-6));
          adamw(p, g, ms[i]!, vs[i]!, k * per, (k + 1) * per, scale, lr, h.b1, h.b2, c1, c2, decay[i] ? h.wd : 0);
        }
        writeVariable(model, i, p);
      });
    },
  };
}

/** One member of an ensemble: its mixture and seed. */
export interface Member {
  readonly proportions: Readonly<Record<string, number>>;
  readonly seed: number;
}

/** Trains one proxy and evaluates it. */
export async function trainProxy(o: TrainOptions): Promise<RunResult> {
  const [r] = await trainEnsemble({ ...o, members: [{ proportions: o.proportions, seed: o.seed }] });
  return r!;
}

/**
 * Trains K proxies together: every weight has a leading member axis and one batched step
 * advances all of them (row block k of the batch comes from member k's own sampler). Each member
 * gets its own loss mean, gradient clipping and (elementwise) AdamW state, so member k equals the
 * proxy trained alone on its mixture and seed.
 */
export async function trainEnsemble(
  o: Omit<TrainOptions, "proportions" | "seed"> & { readonly members: readonly Member[] },
): Promise<RunResult[]> {
  const tf = o.tf;
  const cfg = o.config;
  const T = cfg.seqLen;
  const K = o.members.length;
  const B = o.batchSize;
  const t0 = performance.now();
  const kernels = o.kernels ?? defaultKernels(tf.getBackend());
  const threads = o.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new InputError(
    "threads",
    `expected a whole number ≥ 1, got ${threads}`,
  );
  if (threads > 1 && kernels !== "fused") throw new InputError(
    "threads",
    `data-parallel threads need the fused CPU kernels (wasm, blas or cpu backend), got the ${o.backend} backend`,
  );
  if (threads > B) throw new InputError("threads", `expected at most the batch size (${B}) threads, got ${threads}`);
  const trainCorpus = typeof o.train === "string" ? await openCorpus(o.train, o.open ?? {}) : null;
  const heldCorpus = typeof o.heldout === "string" ? await openCorpus(o.heldout, o.open ?? {}) : null;
  const trainSet = trainCorpus ?? (o.train as { names: readonly string[]; sources: readonly DomainSource[] });
  const heldSet = heldCorpus ?? (o.heldout as { names: readonly string[]; sources: readonly DomainSource[] });
  const missing = trainSet.names.filter((n) => !heldSet.names.includes(n));
  if (missing.length) throw new InputError(
    "held-out corpus",
    `expected a held-out split for every domain, got none for ${missing.join(", ")}`,
  );
  // Blocks of 4096: per-block counts resolve shares to 1/4096, so nearby swarm mixtures train on different streams.
  const samplers: Sampler[] = [];
  for (const mb of o.members) samplers.push(await createSampler({
    corpus: trainSet,
    proportions: mb.proportions,
    seed: mb.seed,
    blockSize: 4096,
    ...(o.open ? { open: o.open } : {}),
    warn: () => {},
  }));
  const windows = await heldoutWindows(heldSet.names, heldSet.sources, T, o.evalWindows ?? 24);
  const model: ProxyModel = createEnsemble(
    tf,
    cfg,
    o.members.map((mb) => createRng(mb.seed).derive("proxy-init")),
    kernels,
  );
  const decay = model.names.map((n) => /\.w$/.test(n)); // matrices decay; gains, biases, embeddings do not
  const zeros = (v: tfTypes.Variable): tfTypes.Variable => {
    const z = tf.zerosLike(v);
    const out = tf.variable(z, false);
    z.dispose();
    return out;
  };
  /** Shard r trains rows [bounds[r], bounds[r + 1]) of every member. */
  const bounds = Array.from({ length: threads + 1 }, (_, r) => Math.floor((r * B) / threads));
  const peak = o.lr ?? 3e-3;
  const warmup = o.warmup ?? Math.max(1, Math.round(0.1 * o.steps));
  const wd = o.weightDecay ?? 0.1;
  const clip = o.clip ?? 1;
  const b1 = 0.9;
  const b2 = 0.95;
  const cpu = model.kernels === "fused" ? cpuAdamW(model, decay, { b1, b2, wd, clip }) : null;
  const m = cpu ? [] : model.variables.map(zeros);
  const vv = cpu ? [] : model.variables.map(zeros);
  const streams = samplers.map((s) => s.examples({ readAhead: 32 }));
  let pool: GradientPool | null = null;
  /** Mean held-out loss of every member on every domain (the same windows for all). */
  const evaluate = (): Record<string, number>[] => {
    const out: Record<string, number>[] = o.members.map(() => ({}));
    for (const name of trainSet.names) {
      const w = windows.get(name)!;
      const inp = new Int32Array(K * w.length * T);
      const tgt = new Int32Array(K * w.length * T);
      for (let k = 0; k < K; k++) {
        w.forEach((win, i) => {
          inp.set(win.subarray(0, T), (k * w.length + i) * T);
          tgt.set(win.subarray(1, T + 1), (k * w.length + i) * T);
        });
      }
      const meansT = tf.tidy(() => tf.mean(
        tokenLosses(
          model,
          tf.tensor3d(inp, [K, w.length, T], "int32"),
          tf.tensor3d(tgt, [K, w.length, T], "int32"),
        ),
        [1, 2],
      ));
      const means = Float64Array.from(meansT.dataSync());
      meansT.dispose();
      model.arena.reset();
      for (let k = 0; k < K; k++) out[k]![name] = means[k]!;
    }
    return out;
  };
  const curves: { step: number; lossPerDomain: Record<string, number> }[][] = o.members.map(() => []);
  const xs = new Int32Array(K * B * T);
  const ys = new Int32Array(K * B * T);
  const mask = new Float32Array(K * B * T);
  const valid = new Float32Array(K);
  const lastLoss = new Float64Array(K).fill(NaN);
  const tokens = new Float64Array(K);
  try {
    if (threads > 1) pool = await createGradientPool(
      threads - 1,
      o.backend as BackendName,
      cfg,
      o.members.map((mb) => mb.seed),
    );
    for (let step = 0; step < o.steps; step++) {
      mask.fill(0);
      xs.fill(0);
      ys.fill(0);
      valid.fill(0);
      for (let k = 0; k < K; k++) {
        for (let b = 0; b < B; b++) {
          const n = await streams[k]!.next();
          if (n.done) throw new FitError("the sampler ran out of samples", { iteration: step });
          const ids = n.value.tokens ?? encoder.encode(n.value.text ?? "");
          const off = windowOffset(o.members[k]!.seed, n.value.index, ids.length - (T + 1));
          const len = Math.min(T + 1, ids.length - off);
          const row = (k * B + b) * T;
          for (let t = 0; t + 1 < len; t++) {
            xs[row + t] = ids[off + t]!;
            ys[row + t] = ids[off + t + 1]!;
            mask[row + t] = 1;
          }
          valid[k] = valid[k]! + Math.max(0, len - 1);
        }
        tokens[k] = tokens[k]! + valid[k]!;
      }
      const lr = learningRate(step, o.steps, peak, warmup, o.schedule ?? "cosine");
      const denomArr = Float32Array.from(valid, (x) => Math.max(x, 1));
      let perMember: Float64Array;
      if (cpu) {
        // Fused kernels: the gradients of each shard of rows (shard 0 here, the others on the
        // worker threads at the same time), added in shard order, then AdamW on the CPU.
        const shards = bounds.slice(0, -1).map(
          (lo, r) => sliceRows(xs, ys, mask, K, B, T, lo, bounds[r + 1]!, denomArr),
        );
        const others = pool ? pool.gradients(shards.slice(1)) : Promise.resolve([]);
        const mine = shardGradients(model, shards[0]!);
        for (const r of await others) {
          mine.grads.forEach((g, i) => {
            const h = r.grads[i]!;
            for (let j = 0; j < g.length; j++) g[j] = g[j]! + h[j]!;
          });
          for (let k = 0; k < K; k++) mine.losses[k] = mine.losses[k]! + r.losses[k]!;
        }
        perMember = mine.losses;
        if (perMember.every((x) => Number.isFinite(x))) {
          cpu.step(mine.grads, lr, step);
          pool?.setParams(cpu.params);
        }
      } else {
        let kept: tfTypes.Tensor | null = null;
        tf.tidy(() => {
          const inp = tf.tensor3d(xs, [K, B, T], "int32");
          const tgt = tf.tensor3d(ys, [K, B, T], "int32");
          const msk = tf.tensor3d(mask, [K, B, T]);
          const denom = tf.tensor1d(denomArr);
          const { grads } = tf.variableGrads(() => {
            const losses = memberLosses(model, inp, tgt, msk, denom);
            kept = tf.keep(losses);
            return tf.sum(losses) as tfTypes.Scalar;
          }, model.variables);
          const gs = model.variables.map((v) => grads[v.name]!);
          // Global-norm clipping per member.
          const norms = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g), [1, 2])))); // (K)
          const scale = tf.reshape(tf.minimum(1, tf.div(clip, tf.add(norms, 1e-6))), [K, 1, 1]);
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
        });
        const keptLosses = kept as unknown as tfTypes.Tensor;
        perMember = Float64Array.from(keptLosses.dataSync());
        keptLosses.dispose();
      }
      for (let k = 0; k < K; k++) {
        if (!Number.isFinite(perMember[k]!)) throw new FitError(
          `training loss of member ${k + 1} is not finite at step ${step + 1}`,
          { iteration: step + 1, lastLoss: perMember[k]! },
        );
        lastLoss[k] = perMember[k]!;
      }
      if (o.onStep && (step + 1) % (o.logEvery ?? 10) === 0) o.onStep(
        step + 1,
        perMember.reduce((a, b) => a + b, 0) / K,
      );
      if (o.evalEvery && (step + 1) % o.evalEvery === 0 && step + 1 < o.steps) {
        const l = evaluate();
        l.forEach((x, k) => curves[k]!.push({ step: step + 1, lossPerDomain: x }));
        o.onEval?.(step + 1, l);
      }
    }
    // Evaluation on the held-out windows of every domain (the same windows for every member).
    const lossPerDomain = evaluate();
    // byte tokens: nats → bits/byte
    const bpb = lossPerDomain.map((l) => Object.fromEntries(Object.entries(l).map(([d, v]) => [d, v / Math.LN2])));
    const seconds = (performance.now() - t0) / 1000;
    o.onWeights?.(model.variables.map((v, i) => ({
      name: model.names[i]!,
      values: Float32Array.from(v.dataSync() as Float32Array),
    })));
    return o.members.map((mb, k) => ({
      proportions: { ...mb.proportions },
      lossPerDomain: lossPerDomain[k]!,
      bitsPerBytePerDomain: bpb[k]!,
      trainLoss: lastLoss[k]!,
      params: parameterCount(cfg),
      tokens: tokens[k]!,
      steps: o.steps,
      seconds,
      backend: o.backend,
      threads,
      evalCurve: curves[k]!,
    }));
  } finally {
    await pool?.close();
    model.dispose();
    for (const x of [...m, ...vv]) x.dispose();
    for (const s of streams) await s.return(undefined);
    await trainCorpus?.close();
    await heldCorpus?.close();
  }
}
