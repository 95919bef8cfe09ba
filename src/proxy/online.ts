// A proxy run steered by an online mixer (ALGORITHMS.md §3): before each optimizer step the
// sampler asks the mixer for the mixture of the next batch (block size = batch, so once per step),
// the step's per-token losses are grouped by the domain of each row into per-domain loss sums and
// token counts, and the mixer observes them before the next batch is drawn. Evaluations on a fixed
// held-out subsample run when the mixer asks (`evalDue`). A mixer with `lossWeights()` (DoReMi)
// keeps a fixed sampling mixture and weights each row's loss by α_t[d] / s_d instead: the step's
// forward losses (and a reference model's, clipped per token) are observed first, then the
// weighted loss is differentiated, as in DoReMi's reference trainer. The whole run — weights,
// AdamW moments, sampler and mixer state, counters and trajectory — is checkpointed in one file,
// atomically, every N steps.

import type * as tfTypes from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createRng } from "../rng/index.js";
import { createSampler, type MixerStateLike, type SamplerState } from "../sampler/sampler.js";
import { openCorpus } from "../sampler/corpus.js";
import type { DomainSource, OpenOptions } from "../sampler/sources.js";
import { FitError, InputError, UnsupportedError } from "../errors.js";
import type { MixerEvent, OnlineMixer, OnlineMixerState } from "../../mixers/types.js";
import { createEnsemble, defaultKernels, parameterCount, tokenLosses, type Kernels, type ProxyModel } from "./model.js";
import { cpuAdamW, heldoutWindows, learningRate, windowOffset, type ProxyRunOptions } from "./train.js";
import { prepareCheckpointPath, readCheckpoint, writeCheckpoint } from "./checkpoint.js";

type Tf = typeof tfTypes;
type Corpus = string | { names: readonly string[]; sources: readonly DomainSource[] };

/** Options of an online proxy run (the offline run's options, plus the mixer and the checkpoint). */
export interface OnlineTrainOptions extends ProxyRunOptions {
  /** Sequences per optimizer step; also the sampler's block size, so the mixer is asked once a step. */
  readonly batchSize: number;
  /** Also evaluate every N steps for the trajectory (default: only when the mixer asks, and at the end). */
  readonly evalEvery?: number;
  /**
   * The final evaluation's windows: `count` per domain after the first `skip` (default: the same
   * `evalWindows` the mixer sees). A study sets `skip ≥ evalWindows` so the reported loss is
   * measured on held-out text the mixer never scored.
   */
  readonly testWindows?: { readonly skip: number; readonly count: number };
  /** Evaluate before the first step too (Skill-It's graph needs the loss at the start). */
  readonly evalFirst?: boolean;
  readonly open?: OpenOptions;
  /** The sampling mixture before the mixer's first answer, or throughout without a mixer (default uniform). */
  readonly proportions?: Readonly<Record<string, number>>;
  /**
   * The online mixer, or a factory that creates it (from the saved state when resuming). A mixer
   * with `lossWeights()` (DoReMi) has each row's loss weighted by its domain's factor, read after
   * the step's statistics were observed and before the backward pass.
   */
  readonly mixer?: OnlineMixer | ((saved?: OnlineMixerState) => OnlineMixer);
  /**
   * A trained reference model (DoReMi): each train event also carries its mean loss per domain on
   * the same tokens (`reference`) and the mean per-token clipped excess max(ℓ − ℓ_ref, 0) (`excess`).
   */
  readonly reference?: ProxyModel;
  /** Checkpoint file: resumed from when it exists, rewritten every `checkpointEvery` steps. */
  readonly checkpoint?: string;
  readonly checkpointEvery?: number;
  /** What else decides the run (method options, reference…): a checkpoint of another run is refused. */
  readonly identity?: Record<string, unknown>;
  /** Train only up to this step (the run can be resumed from its checkpoint); tests and staged runs. */
  readonly stopAfter?: number;
  /** Return the trained model (the caller disposes it): DoReMi's reference. */
  readonly keepModel?: boolean;
  readonly kernels?: Kernels;
  readonly onStep?: (step: number, loss: number) => void;
  readonly logEvery?: number;
  readonly onEval?: (step: number, loss: Record<string, number>) => void;
}

/** One point of the trajectory, after `step` optimizer steps (0: before training). */
export interface TrajectoryPoint {
  readonly step: number;
  /** Cumulative training tokens after `step` steps. */
  readonly tokens: number;
  /** The mixer's proportions the last step trained with (DoReMi: α_t; initial mixture at step 0). */
  readonly proportions: Record<string, number>;
  /** Per-domain mean training loss of that step (nats per token; domains in the batch only). */
  trainLoss?: Record<string, number>;
  /** Per-domain held-out loss of the model after `step` steps (nats per token), when evaluated. */
  evalLoss?: Record<string, number>;
}

/** A stage of the sampling schedule actually used. */
export interface UsedStage {
  readonly untilTokens: number;
  readonly domains: Record<string, number>;
}

/** The result of an online run. */
export interface OnlineRunResult {
  readonly method: string | null;
  /** Held-out loss per domain after the last step (nats per token; bytes are tokens, so also nats per byte). */
  readonly lossPerDomain: Record<string, number>;
  readonly bitsPerBytePerDomain: Record<string, number>;
  /** The sampling mixture of the first block (the run's nominal proportions). */
  readonly proportions: Record<string, number>;
  /** Realised token share of every domain over the whole run (probe steps included). */
  readonly realisedShare: Record<string, number>;
  /** The sampling schedule actually used, stage by stage. */
  readonly stages: UsedStage[];
  readonly trajectory: TrajectoryPoint[];
  /** The mixer's static answer (`summary()`), null without a mixer. */
  readonly summary: Record<string, number> | null;
  readonly diagnostics: Record<string, unknown> | null;
  readonly trainLoss: number;
  readonly params: number;
  readonly tokens: number;
  readonly steps: number;
  /** Steps this process trained (steps minus those restored from a checkpoint). */
  readonly stepsTrained: number;
  readonly resumedFrom: number | null;
  readonly seconds: number;
  /** Seconds spent inside the mixer (proportions + observe + evalDue), for the overhead figure. */
  readonly mixerSeconds: number;
  /** Seconds in held-out evaluations. */
  readonly evalSeconds: number;
  readonly backend: string;
  readonly threads: number;
  readonly model?: ProxyModel;
}

const encoder = new TextEncoder();

/** Mean loss per domain and tokens per domain of one batch, from per-row loss sums and token counts. */
export function domainStats(
  domains: readonly string[],
  domainPerRow: Int32Array,
  rowLossSum: Float64Array,
  rowTokens: Float64Array,
): { loss: Record<string, number>; tokens: Record<string, number> } {
  const sum = new Float64Array(domains.length);
  const tok = new Float64Array(domains.length);
  for (let r = 0; r < domainPerRow.length; r++) {
    sum[domainPerRow[r]!] = sum[domainPerRow[r]!]! + rowLossSum[r]!;
    tok[domainPerRow[r]!] = tok[domainPerRow[r]!]! + rowTokens[r]!;
  }
  const loss: Record<string, number> = {};
  const tokens: Record<string, number> = {};
  domains.forEach((d, i) => {
    if (tok[i]! > 0) {
      loss[d] = sum[i]! / tok[i]!;
      tokens[d] = tok[i]!;
    }
  });
  return { loss, tokens };
}

/**
 * The mixer as the sampler sees it: each answer turned into whole counts of the B rows of the
 * next batch by largest remainder over (p·B + carried remainder), the remainder carried on.
 * The sampler asks once per block (= batch), so `carry` advances once per step.
 */
function carried(mixer: OnlineMixer, names: readonly string[], B: number, carry: Float64Array): OnlineMixer {
  const target = new Float64Array(names.length);
  const counts = new Int32Array(names.length);
  return {
    method: mixer.method,
    domains: mixer.domains,
    accepts: mixer.accepts,
    proportions() {
      const p = mixer.proportions();
      let used = 0;
      names.forEach((d, i) => {
        target[i] = Math.max(0, p[d]! * B + carry[i]!);
        counts[i] = p[d]! > 0 ? Math.floor(target[i]!) : 0;
        used += counts[i]!;
      });
      // Hand out the rows left by largest fractional part (ties: domain order), weighted domains only.
      const order = names
        .map((_, i) => i)
        .filter((i) => p[names[i]!]! > 0)
        .sort((a, b) => target[b]! - counts[b]! - (target[a]! - counts[a]!) || a - b);
      for (let j = 0; used < B && order.length; j = (j + 1) % order.length, used++) counts[order[j]!]!++;
      while (used > B) {
        const i = counts.indexOf(Math.max(...counts));
        counts[i]!--;
        used--;
      }
      names.forEach((d, i) => (carry[i] = p[d]! > 0 ? target[i]! - counts[i]! : 0));
      return Object.fromEntries(names.map((d, i) => [d, counts[i]! / B]));
    },
    observe: (e) => mixer.observe(e),
    evalDue: (s) => mixer.evalDue(s),
    summary: () => mixer.summary(),
    diagnostics: () => mixer.diagnostics(),
    state: () => mixer.state(),
  };
}

/** A mixer that always answers `p` and observes nothing (a static run through the carried counts). */
function constantMixer(names: readonly string[], p: Readonly<Record<string, number>>): OnlineMixer {
  return {
    method: "static",
    domains: names,
    accepts: [],
    proportions: () => ({ ...p }),
    observe: () => {},
    evalDue: () => false,
    summary: () => ({ ...p }),
    diagnostics: () => ({}),
    state: () => ({ format: "mixlab.online-mixer/v1", method: "static", domains: [...names], data: {} }),
  };
}

/** Uniform proportions over the domains. */
export function uniformOver(domains: readonly string[]): Record<string, number> {
  return Object.fromEntries(domains.map((d) => [d, 1 / domains.length]));
}

/** Mean held-out loss per domain of a one-member model on fixed windows. */
function evaluateModel(
  tf: Tf,
  model: ProxyModel,
  names: readonly string[],
  windows: Map<string, Int32Array[]>,
  T: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    const w = windows.get(name)!;
    const inp = new Int32Array(w.length * T);
    const tgt = new Int32Array(w.length * T);
    w.forEach((win, i) => {
      inp.set(win.subarray(0, T), i * T);
      tgt.set(win.subarray(1, T + 1), i * T);
    });
    const meanT = tf.tidy(() => tf.mean(tokenLosses(
      model,
      tf.tensor3d(inp, [1, w.length, T], "int32"),
      tf.tensor3d(tgt, [1, w.length, T], "int32"),
    )));
    out[name] = meanT.dataSync()[0]!;
    meanT.dispose();
    model.arena.reset();
  }
  return out;
}

/**
 * Trains one proxy while an online mixer steers its sampler (or, with `reweight`, its loss
 * weights). Resumes from `checkpoint` when the file exists and belongs to this run; the resumed
 * run ends with the same weights and losses as an uninterrupted one.
 * @throws InputError for bad options or a checkpoint of another run; UnsupportedError on GPU kernels
 */
export async function trainOnline(o: OnlineTrainOptions): Promise<OnlineRunResult> {
  const tf = o.tf;
  const cfg = o.config;
  const T = cfg.seqLen;
  const B = o.batchSize;
  const t0 = performance.now();
  const kernels = o.kernels ?? defaultKernels(tf.getBackend());
  if (kernels !== "fused") throw new UnsupportedError(
    `online training runs on the CPU backends (wasm, blas, cpu) with the fused kernels, got the ${o.backend} backend`,
  );
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new InputError(
    "steps",
    `expected an integer ≥ 1, got ${o.steps}`,
  );
  if (!(Number.isInteger(B) && B >= 1)) throw new InputError("batchSize", `expected an integer ≥ 1, got ${B}`);
  const every = o.checkpointEvery ?? 0;
  if (o.checkpoint !== undefined) {
    prepareCheckpointPath(o.checkpoint);
    if (!(Number.isInteger(every) && every >= 1)) throw new InputError(
      "--checkpoint-every",
      `expected an integer ≥ 1 with --checkpoint, got ${o.checkpointEvery}`,
    );
  }
  const trainCorpus = typeof o.train === "string" ? await openCorpus(o.train, o.open ?? {}) : null;
  const heldCorpus = typeof o.heldout === "string" ? await openCorpus(o.heldout, o.open ?? {}) : null;
  const trainSet = trainCorpus ?? (o.train as { names: readonly string[]; sources: readonly DomainSource[] });
  const heldSet = heldCorpus ?? (o.heldout as { names: readonly string[]; sources: readonly DomainSource[] });
  const names = trainSet.names;
  const missing = names.filter((n) => !heldSet.names.includes(n));
  if (missing.length) throw new InputError(
    "held-out corpus",
    `expected a held-out split for every domain, got none for ${missing.join(", ")}`,
  );
  const base = o.proportions ?? uniformOver(names);
  const identity = createHash("sha256")
    .update(JSON.stringify({
      cfg,
      names,
      steps: o.steps,
      B,
      seed: o.seed,
      lr: o.lr ?? null,
      warmup: o.warmup ?? null,
      schedule: o.schedule ?? null,
      wd: o.weightDecay ?? null,
      clip: o.clip ?? null,
      evalWindows: o.evalWindows ?? null,
      evalEvery: o.evalEvery ?? null,
      evalFirst: !!o.evalFirst,
      testWindows: o.testWindows ?? null,
      base,
      reference: !!o.reference,
      identity: o.identity ?? null,
    }))
    .digest("hex");
  let restored: ReturnType<typeof readCheckpoint> | null = null;
  if (o.checkpoint !== undefined && existsSync(o.checkpoint)) {
    restored = readCheckpoint(o.checkpoint);
    if (restored.header.fingerprint !== identity) throw new InputError(
      o.checkpoint,
      `expected a checkpoint of this run (fingerprint ${identity.slice(0, 12)}…), ` +
        `got one of another run (${restored.header.fingerprint.slice(0, 12)}…): ` +
        "model, data, steps, batch size, seed, mixer or its options differ; delete it or pass another --checkpoint",
    );
  }
  const saved = restored?.header.state as {
    sampler: SamplerState;
    tokens: number[];
    trajectory: TrajectoryPoint[];
    stages: UsedStage[];
    lastLoss: number;
    carry: number[];
  } | undefined;
  // Per-batch counts by largest remainder with the fractional remainder carried to the next batch
  // (ALGORITHMS.md §0.3 b): a share below 1/B still gets its samples over several batches.
  const carry = new Float64Array(names.length);
  saved?.carry.forEach((x, d) => (carry[d] = x));
  // The mixer lives in the sampler, which restores it with its own state from one checkpoint.
  let mixer: OnlineMixer | null = null;
  const factory = o.mixer === undefined
    ? undefined
    : typeof o.mixer === "function"
      ? o.mixer
      : ((s?: OnlineMixerState) => {
          if (s) throw new InputError(
            "mixer",
            "expected a factory to restore the mixer from the checkpoint, got a mixer instance",
          );
          return o.mixer as OnlineMixer;
        });
  const sampler = await createSampler({
    corpus: trainSet,
    proportions: base,
    seed: o.seed,
    blockSize: B,
    unit: "samples", // a row is one window of up to seqLen + 1 tokens, so sample shares are token shares
    ...(o.open ? { open: o.open } : {}),
    warn: () => {},
    // Without a mixer a constant one stands in, so a static mixture gets the same carried counts.
    mixer: (s?: MixerStateLike) => carried(
      factory ? (mixer = factory(s as OnlineMixerState | undefined)) : constantMixer(names, base),
      names,
      B,
      carry,
    ),
    ...(saved ? { state: saved.sampler } : {}),
  });
  const windows = await heldoutWindows(heldSet.names, heldSet.sources, T, o.evalWindows ?? 24);
  let testWindows = windows;
  if (o.testWindows) {
    const { skip, count } = o.testWindows;
    const all = await heldoutWindows(heldSet.names, heldSet.sources, T, skip + count);
    testWindows = new Map([...all].map(([d, w]) => {
      if (w.length < skip + count) throw new InputError(
        d,
        `held-out split: expected ${skip + count} windows of ${T + 1} tokens for the test windows, got ${w.length}`,
      );
      return [d, w.slice(skip)];
    }));
  }
  const model = createEnsemble(tf, cfg, [createRng(o.seed).derive("proxy-init")], kernels);
  const decay = model.names.map((n) => /\.w$/.test(n));
  const adam = cpuAdamW(model, decay, { b1: 0.9, b2: 0.95, wd: o.weightDecay ?? 0.1, clip: o.clip ?? 1 });
  const peak = o.lr ?? 3e-3;
  const warmup = o.warmup ?? Math.max(1, Math.round(0.1 * o.steps));
  const tokensPerDomain = new Float64Array(names.length);
  let trajectory: TrajectoryPoint[] = [];
  let stages: UsedStage[] = [];
  let lastLoss = NaN;
  let start = 0;
  if (restored && saved) {
    start = restored.header.step;
    model.names.forEach((n, i) => {
      for (const [arr, key] of [[adam.params, "p"], [adam.ms, "m"], [adam.vs, "v"]] as const) {
        const a = restored!.arrays.get(`${key}:${n}`);
        if (!a || a.length !== arr[i]!.length) throw new InputError(
          o.checkpoint!,
          `${key}:${n}: expected ${arr[i]!.length} values, got ${a?.length ?? "none"}`,
        );
        arr[i]!.set(a);
      }
      const t = tf.tensor(adam.params[i]!.slice(), model.variables[i]!.shape);
      model.variables[i]!.assign(t);
      t.dispose();
    });
    saved.tokens.forEach((x, d) => (tokensPerDomain[d] = x));
    trajectory = saved.trajectory;
    stages = saved.stages;
    lastLoss = saved.lastLoss;
  }
  const xs = new Int32Array(B * T);
  const ys = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  const wmask = new Float32Array(B * T);
  const rowTokens = new Float64Array(B);
  const rowLoss = new Float64Array(B);
  const rowExcess = new Float64Array(B);
  const rowRef = new Float64Array(B);
  const rowDomain = new Int32Array(B);
  const rowWeight = new Float64Array(B);
  let mixerSeconds = 0;
  let evalSeconds = 0;
  const timed = <R>(f: () => R): R => {
    const a = performance.now();
    const r = f();
    mixerSeconds += (performance.now() - a) / 1000;
    return r;
  };
  const evaluate = (w = windows): Record<string, number> => {
    const a = performance.now();
    const r = evaluateModel(tf, model, names, w, T);
    evalSeconds += (performance.now() - a) / 1000;
    return r;
  };
  const totalTokens = (): number => tokensPerDomain.reduce((a, b) => a + b, 0);
  const withWeights = (): {
    lossWeights?: () => Record<string, number>;
    weights?: () => Record<string, number>;
  } => (mixer ?? {}) as never;
  /** What the trajectory records: DoReMi's α_t (its `weights()`), else the mixture. */
  const proportionsNow = (): Record<string, number> => (mixer
    ? timed(() => (withWeights().weights ? withWeights().weights!() : mixer!.proportions()))
    : { ...base });
  /** Per-row loss sums → per-domain statistics → the mixer's train event (with the reference's, if any). */
  const observeStep = (
    step: number,
    tl: Float32Array,
    ref: Float32Array | null,
  ): { loss: Record<string, number>; tokens: Record<string, number> } => {
    for (let b = 0; b < B; b++) {
      let s = 0;
      let r = 0;
      let e = 0;
      for (let t = 0; t < T; t++) {
        const m = mask[b * T + t]!;
        s += tl[b * T + t]! * m;
        if (ref) {
          r += ref[b * T + t]! * m;
          e += Math.max(tl[b * T + t]! - ref[b * T + t]!, 0) * m;
        }
      }
      rowLoss[b] = s;
      rowRef[b] = r;
      rowExcess[b] = e;
    }
    const st = domainStats(names, rowDomain, rowLoss, rowTokens);
    if (mixer && mixer.accepts.includes("train")) {
      const extra = ref
        ? {
            reference: domainStats(names, rowDomain, rowRef, rowTokens).loss,
            excess: domainStats(names, rowDomain, rowExcess, rowTokens).loss,
          }
        : {};
      const event = { kind: "train", step, loss: st.loss, tokens: st.tokens, ...extra } as MixerEvent;
      timed(() => mixer!.observe(event));
    }
    return st;
  };
  const stop = Math.min(o.steps, o.stopAfter ?? o.steps);
  let trained = 0;
  try {
    if (trajectory.length === 0) trajectory.push({ step: 0, tokens: 0, proportions: proportionsNow() });
    for (let step = start; step < stop; step++) {
      // Evaluate when the mixer asks (Aioli's probes, Skill-It's rounds) or for the trajectory.
      const due = mixer ? timed(() => mixer!.evalDue(step)) : false;
      const wanted = (o.evalEvery && step > 0 && step % o.evalEvery === 0) || (o.evalFirst && step === 0);
      if (due || (wanted && !trajectory[trajectory.length - 1]!.evalLoss)) {
        const l = evaluate();
        trajectory[trajectory.length - 1]!.evalLoss = l;
        o.onEval?.(step, l);
        if (due) timed(() => mixer!.observe({ kind: "eval", step, loss: l }));
      }
      const used = proportionsNow();
      // Draw the batch: the sampler opens a block here and asks the mixer (block size = batch).
      const drawn = [...sampler.samples(B)];
      if (drawn.length < B) throw new FitError("the sampler ran out of samples", { iteration: step });
      const records = await Promise.all(drawn.map((s) => sampler.read(s)));
      const stageP = sampler.plan.stages[sampler.plan.stageAt(drawn[0]!.index)]!.proportions;
      mask.fill(0);
      xs.fill(0);
      ys.fill(0);
      for (let b = 0; b < B; b++) {
        const r = records[b]!;
        const ids = r.tokens ?? encoder.encode(r.text ?? "");
        const off = windowOffset(o.seed, drawn[b]!.index, ids.length - (T + 1));
        const len = Math.min(T + 1, ids.length - off);
        const row = b * T;
        for (let t = 0; t + 1 < len; t++) {
          xs[row + t] = ids[off + t]!;
          ys[row + t] = ids[off + t + 1]!;
          mask[row + t] = 1;
        }
        rowTokens[b] = Math.max(0, len - 1);
        rowDomain[b] = names.indexOf(drawn[b]!.domain);
      }
      // The reference's per-token losses on the same rows (DoReMi), before the proxy's step.
      let ref: Float32Array | null = null;
      if (o.reference) {
        const refT = tf.tidy(() => tokenLosses(
          o.reference!,
          tf.tensor3d(xs, [1, B, T], "int32"),
          tf.tensor3d(ys, [1, B, T], "int32"),
        ));
        ref = Float32Array.from(refT.dataSync() as Float32Array);
        refT.dispose();
        o.reference.arena.reset();
      }
      let tl = new Float32Array(0);
      let grads: Float32Array[] = [];
      let st: { loss: Record<string, number>; tokens: Record<string, number> } = { loss: {}, tokens: {} };
      let denom = 1;
      tf.tidy(() => {
        const inp = tf.tensor3d(xs, [1, B, T], "int32");
        const tgt = tf.tensor3d(ys, [1, B, T], "int32");
        let kept: tfTypes.Tensor | null = null;
        const { grads: g } = tf.variableGrads(() => {
          const l = tokenLosses(model, inp, tgt);
          kept = tf.keep(l);
          // The step's statistics go to the mixer before the backward pass (DoReMi updates α first).
          tl = Float32Array.from(l.dataSync() as Float32Array);
          st = observeStep(step, tl, ref);
          // Row weights: 1, or DoReMi's α_t[d] / s_d (the loss renormalised by the weighted token count).
          const lw = mixer && withWeights().lossWeights ? timed(() => withWeights().lossWeights!()) : null;
          denom = 0;
          for (let b = 0; b < B; b++) {
            rowWeight[b] = lw ? lw[names[rowDomain[b]!]!]! : 1;
            denom += rowWeight[b]! * rowTokens[b]!;
            for (let t = 0; t < T; t++) wmask[b * T + t] = mask[b * T + t]! * rowWeight[b]!;
          }
          denom = Math.max(denom, 1e-12);
          return tf.div(tf.sum(tf.mul(l, tf.tensor3d(wmask, [1, B, T]))), denom) as tfTypes.Scalar;
        }, model.variables);
        (kept as unknown as tfTypes.Tensor).dispose();
        grads = model.variables.map((v) => Float32Array.from(g[v.name]!.dataSync() as Float32Array));
      });
      model.arena.reset();
      let weighted = 0;
      for (let b = 0; b < B; b++) weighted += rowWeight[b]! * rowLoss[b]!;
      const stepLoss = weighted / denom;
      if (!Number.isFinite(stepLoss)) throw new FitError(
        `training loss is not finite at step ${step + 1}`,
        { iteration: step + 1, lastLoss: stepLoss },
      );
      adam.step(grads, learningRate(step, o.steps, peak, warmup, o.schedule ?? "cosine"), step);
      lastLoss = stepLoss;
      for (let b = 0; b < B; b++) tokensPerDomain[rowDomain[b]!] = tokensPerDomain[rowDomain[b]!]! + rowTokens[b]!;
      // DoReMi's α_t is the one its step was weighted with (updated from this step's statistics).
      trajectory.push({
        step: step + 1,
        tokens: totalTokens(),
        proportions: withWeights().weights ? proportionsNow() : used,
        trainLoss: st.loss,
      });
      // The sampling schedule: consecutive steps with the same mixture form one stage.
      const sp = Object.fromEntries(names.map((d, i) => [d, stageP[i]!]));
      const lastStage = stages[stages.length - 1];
      if (lastStage && names.every((d) => lastStage.domains[d] === sp[d])) stages[stages.length - 1] = {
        untilTokens: totalTokens(),
        domains: lastStage.domains,
      };
      else stages.push({ untilTokens: totalTokens(), domains: sp });
      trained++;
      if (o.onStep && (step + 1) % (o.logEvery ?? 10) === 0) o.onStep(step + 1, stepLoss);
      if (o.checkpoint !== undefined && (step + 1) % every === 0 && step + 1 < o.steps) {
        const state = {
          sampler: sampler.state(),
          tokens: Array.from(tokensPerDomain),
          trajectory,
          stages,
          lastLoss,
          carry: Array.from(carry),
        };
        const arrays = model.names.flatMap((n, i) => [
          { name: `p:${n}`, data: adam.params[i]! },
          { name: `m:${n}`, data: adam.ms[i]! },
          { name: `v:${n}`, data: adam.vs[i]! },
        ]);
        writeCheckpoint(o.checkpoint, { fingerprint: identity, step: step + 1, state }, arrays);
      }
    }
    const done = stop === o.steps;
    const lossPerDomain = done ? evaluate(testWindows) : {};
    if (done) trajectory[trajectory.length - 1]!.evalLoss = testWindows === windows ? lossPerDomain : evaluate();
    const total = totalTokens();
    const result: OnlineRunResult = {
      method: (mixer as OnlineMixer | null)?.method ?? null,
      lossPerDomain,
      bitsPerBytePerDomain: Object.fromEntries(Object.entries(lossPerDomain).map(([d, v]) => [d, v / Math.LN2])),
      proportions: stages[0]?.domains ?? { ...base },
      realisedShare: Object.fromEntries(names.map((d, i) => [d, total > 0 ? tokensPerDomain[i]! / total : 0])),
      stages,
      trajectory,
      summary: (mixer as OnlineMixer | null)?.summary() ?? null,
      diagnostics: (mixer as OnlineMixer | null)?.diagnostics() ?? null,
      trainLoss: lastLoss,
      params: parameterCount(cfg),
      tokens: total,
      steps: stop,
      stepsTrained: trained,
      resumedFrom: restored ? start : null,
      seconds: (performance.now() - t0) / 1000,
      mixerSeconds,
      evalSeconds,
      backend: o.backend,
      threads: 1,
      ...(o.keepModel ? { model } : {}),
    };
    return result;
  } finally {
    if (!o.keepModel) model.dispose();
    await sampler.close();
    await trainCorpus?.close();
    await heldCorpus?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// A method's whole procedure around the steered run: ODM's run length, Skill-It's skills graph
// from k short single-domain runs, DoReMi's reference model(s) and iterated rounds.

/** How a mixer is created (mixers/online.ts `createOnlineMixer`; injected so src/proxy stays below mixers/). */
export type CreateMixer = (
  name: string,
  init: { domains: readonly string[]; seed: number; options?: Record<string, unknown>; state?: OnlineMixerState },
) => OnlineMixer;

/** Options of `trainWithMethod`. */
export interface MethodRunOptions extends Omit<OnlineTrainOptions, "mixer" | "reference" | "keepModel" | "evalFirst"> {
  /** "odm", "aioli", "skillit", "doremi" (or any name `createMixer` knows). */
  readonly method: string;
  /**
   * The method's options (its schema validates them). mixlab fills in what it knows unless given:
   * `totalSteps` (odm, aioli, skillit), `batchSize` (aioli), `graph` (skillit, from its runs).
   */
  readonly mixerOptions?: Record<string, unknown>;
  readonly createMixer: CreateMixer;
  /**
   * DoReMi: rounds of (reference, proxy); round r > 1 uses round r − 1's time average as reference
   * mixture (default 1).
   */
  readonly rounds?: number;
  /** DoReMi: the first reference model's mixture (default natural token shares of the corpus). */
  readonly referenceProportions?: Readonly<Record<string, number>>;
  /** Skill-It: steps of each single-domain run of the skills graph (default max(5, steps / 10)). */
  readonly graphSteps?: number;
  readonly log?: (line: string) => void;
}

/** What `trainWithMethod` returns: the steered run, the options the mixer got, and the method's extra work. */
export interface MethodRunResult {
  readonly run: OnlineRunResult;
  /** The options the mixer was created with (the user's, plus what mixlab filled in). */
  readonly options: Record<string, unknown>;
  /** DoReMi: each round's reference mixture and time-averaged answer. */
  readonly rounds?: { reference: Record<string, number>; average: Record<string, number> }[];
  /** Skill-It: the skills graph G (row = trained domain, column = evaluated domain), when mixlab computed it. */
  readonly graph?: number[][];
  /** Optimizer steps spent outside the steered run (reference models, graph runs). */
  readonly extraSteps: number;
}

/** Natural token shares of a training corpus (records × mean tokens per record). */
export async function naturalShares(train: Corpus, open?: OpenOptions): Promise<Record<string, number>> {
  const set = typeof train === "string" ? await openCorpus(train, open ?? {}) : null;
  const c = set ?? (train as { names: readonly string[]; sources: readonly DomainSource[] });
  try {
    const sampler = await createSampler({ corpus: c, proportions: uniformOver(c.names), warn: () => {} });
    const rows = sampler.table();
    const total = rows.reduce((a, r) => a + r.records * r.tokensPerRecord, 0);
    return Object.fromEntries(rows.map((r) => [r.domain, (r.records * r.tokensPerRecord) / total]));
  } finally {
    await set?.close();
  }
}

/**
 * Skill-It's skills graph from k short single-domain runs: G[j][i] = (L_i(start) − L_i(after)) /
 * L_i(start) after training only on domain j (ALGORITHMS.md §3.3, Aioli's construction).
 */
export async function skillsGraph(
  o: Omit<
    OnlineTrainOptions,
    "mixer" | "proportions" | "reference" | "keepModel" | "checkpoint" | "checkpointEvery" | "stopAfter"
  >,
  names: readonly string[],
): Promise<number[][]> {
  const G: number[][] = [];
  for (const j of names) {
    const r = await trainOnline({
      ...o,
      proportions: Object.fromEntries(names.map((d) => [d, d === j ? 1 : 0])),
      evalFirst: true,
    });
    const before = r.trajectory[0]!.evalLoss!;
    G.push(names.map((i) => (before[i]! - r.lossPerDomain[i]!) / before[i]!));
  }
  return G;
}

/**
 * Runs an online method end to end on mixlab's proxy: the steered run, and before it what the
 * method needs — Skill-It's skills graph (unless `mixerOptions.graph` is given), DoReMi's
 * reference model on natural (or given) shares, and for `rounds` > 1 iterated DoReMi. Only the
 * last steered run uses the checkpoint; the earlier phases are deterministic and are recomputed
 * when a run resumes.
 */
export async function trainWithMethod(o: MethodRunOptions): Promise<MethodRunResult> {
  if (!(Number.isInteger(o.rounds ?? 1) && (o.rounds ?? 1) >= 1)) throw new InputError(
    "--rounds",
    `expected an integer ≥ 1, got ${o.rounds}`,
  );
  if ((o.rounds ?? 1) > 1 && o.method !== "doremi") throw new InputError(
    "--rounds",
    `expected 1 for ${o.method} (rounds are iterated DoReMi), got ${o.rounds}`,
  );
  if (o.checkpoint !== undefined) prepareCheckpointPath(o.checkpoint); // before any phase trains
  // Corpora opened once for every phase (reference, graph runs, the steered run).
  const trainCorpus = typeof o.train === "string" ? await openCorpus(o.train, o.open ?? {}) : null;
  const heldCorpus = typeof o.heldout === "string" ? await openCorpus(o.heldout, o.open ?? {}) : null;
  try {
    return await methodPhases({
      ...o,
      ...(trainCorpus ? { train: trainCorpus } : {}),
      ...(heldCorpus ? { heldout: heldCorpus } : {}),
    });
  } finally {
    await trainCorpus?.close();
    await heldCorpus?.close();
  }
}

async function methodPhases(o: MethodRunOptions): Promise<MethodRunResult> {
  const { method, createMixer, rounds = 1, graphSteps, referenceProportions, log, mixerOptions, ...train } = o;
  const names = (o.train as { names: readonly string[] }).names;
  let options: Record<string, unknown> = { ...(mixerOptions ?? {}) };
  let extraSteps = 0;
  // The phases before the steered run: no checkpoint, no trajectory evaluations, the mixer's windows.
  const {
    checkpoint: _c,
    checkpointEvery: _e,
    stopAfter: _s,
    onEval: _v,
    evalEvery: _ee,
    testWindows: _t,
    ...phase
  } = train;
  // What mixlab knows of the run: its length (ODM's warm-up, Aioli's and Skill-It's rounds scale
  // with it) and Aioli's batch size (its probe batches are apportioned in sequences).
  if (["odm", "aioli", "skillit"].includes(method) && options.totalSteps === undefined) options = {
    ...options,
    totalSteps: o.steps,
  };
  if (method === "aioli" && options.batchSize === undefined) options = { ...options, batchSize: o.batchSize };
  // Validate the options once before any training (the family's schema); Skill-It's graph comes later.
  const placeholder = method === "skillit" && options.graph === undefined
    ? { graph: names.map((_, j) => names.map((__, i) => (i === j ? 1 : 0))) }
    : {};
  createMixer(method, { domains: names, seed: o.seed, options: { ...options, ...placeholder } });
  let graph: number[][] | undefined;
  if (method === "skillit" && options.graph === undefined) {
    const gs = graphSteps ?? Math.max(5, Math.round(o.steps / 10));
    log?.(`skills graph: ${names.length} single-domain runs of ${gs} steps`);
    graph = await skillsGraph({ ...phase, steps: gs }, names);
    extraSteps += names.length * gs;
    options = { ...options, graph };
  }
  const factory = (s?: OnlineMixerState) => createMixer(
    method,
    { domains: names, seed: o.seed, options, ...(s ? { state: s } : {}) },
  );
  if (method !== "doremi") {
    const run = await trainOnline({
      ...train,
      mixer: factory,
      identity: { method, options, ...(train.identity ?? {}) },
    });
    return { run, options, ...(graph ? { graph } : {}), extraSteps };
  }
  let reference = referenceProportions ? { ...referenceProportions } : await naturalShares(o.train, o.open);
  const history: { reference: Record<string, number>; average: Record<string, number> }[] = [];
  for (let round = 1; ; round++) {
    log?.(
      `doremi round ${round}/${rounds}: reference proxy on ` +
        `${Object.entries(reference).map(([d, v]) => `${d} ${v.toFixed(3)}`).join(", ")}`,
    );
    const ref = await trainOnline({ ...phase, proportions: reference, keepModel: true });
    extraSteps += o.steps;
    try {
      const last = round === rounds;
      const opts = last ? train : phase;
      if (!last) extraSteps += o.steps;
      const run = await trainOnline({
        ...opts,
        mixer: factory,
        reference: ref.model!,
        identity: { method, options, round, reference, ...(train.identity ?? {}) },
      });
      history.push({ reference, average: run.summary! });
      if (last) return { run, options, rounds: history, extraSteps };
      reference = run.summary!;
    } finally {
      ref.model!.dispose();
    }
  }
}
