// The proxy language model: a small decoder-only transformer in tfjs (token + position
// embeddings, pre-norm blocks with causal multi-head attention and a GELU MLP, final layer norm,
// output head tied to the token embedding or, with untiedHead, a matrix of its own), byte-level
// (vocabulary 256). Written with tf ops and explicit variables rather than the Layers API, so
// initialisation (from mixlab's Rng) and the training loop (no Math.random shuffles) are ours.
// Two forms of the same maths, tested equal: the tf-op graph (GPU backends), whose linear layers
// use a custom gradient that transposes explicitly before a plain matMul (the wasm matMul is
// 10–20× slower with the transpose flags backpropagation sets, STACK.md); and the fused form
// (wasm, cpu, blas), custom-gradient ops whose work is done by kernels.ts, or by the native
// addon's BLAS and C kernels on the blas backend.
// src/proxy is the only place that imports tfjs.

import type * as tfTypes from "@tensorflow/tfjs";
import type { Rng } from "../rng/index.js";
import * as kern from "./kernels.js";
import { activeBlas, type Blas, type NativeKernels } from "./blas.js";
import { StepArena } from "./arena.js";

type Tf = typeof tfTypes;
type Tensor = tfTypes.Tensor;
type Variable = tfTypes.Variable;

/** Model shape. */
export interface ProxyConfig {
  readonly vocab: number;
  readonly dModel: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly seqLen: number;
  /** MLP width (default 4·dModel). */
  readonly dFF: number;
  /** An output head of its own (d × vocab) instead of the transposed token embedding (default: tied). */
  readonly untiedHead?: boolean;
}

/** Named presets (parameter counts for vocabulary 256). */
export const PRESETS: Readonly<Record<string, ProxyConfig>> = {
  /** ≈ 0.11M parameters: tests and the demo. */
  tiny: { vocab: 256, dModel: 64, nLayers: 2, nHeads: 2, seqLen: 64, dFF: 256 },
  /** ≈ 0.45M: the reference proxy of bench/proxy.ts (d 128, 2 layers, 4 heads, sequence 128). */
  ref: { vocab: 256, dModel: 128, nLayers: 2, nHeads: 4, seqLen: 128, dFF: 512 },
  /** ≈ 1M, like RegMix's proxies (in parameters, not in tokenizer). */
  "1m": { vocab: 256, dModel: 128, nLayers: 5, nHeads: 4, seqLen: 256, dFF: 512 },
  /** ≈ 15M, Olmix's recommended minimum. */
  "15m": { vocab: 256, dModel: 384, nLayers: 8, nHeads: 6, seqLen: 512, dFF: 1536 },
};

/** Number of trainable parameters. */
export function parameterCount(c: ProxyConfig): number {
  const block =
    2 * 2 * c.dModel +
    c.dModel * 3 * c.dModel +
    3 * c.dModel +
    c.dModel * c.dModel +
    c.dModel +
    c.dModel * c.dFF +
    c.dFF +
    c.dFF * c.dModel +
    c.dModel;
  return c.vocab * c.dModel +
    c.seqLen * c.dModel +
    c.nLayers * block +
    2 * c.dModel +
    (c.untiedHead ? c.dModel * c.vocab : 0);
}

/**
 * The model's variables, by name, in a fixed order. Every variable has a leading member axis K:
 * an ensemble of K proxies that differ only in their data is advanced by one batched step (the
 * same number of kernel dispatches as one proxy). A single proxy is the case K = 1.
 */
export interface ProxyModel {
  readonly config: ProxyConfig;
  readonly tf: Tf;
  /** Ensemble size. */
  readonly members: number;
  /** The variables, in `names` order (their tfjs names carry a per-model scope: use `names`). */
  readonly variables: Variable[];
  readonly names: string[];
  readonly get: (name: string) => Variable;
  /**
   * How the non-matmul parts of a step run: `fused` = kernels.ts loops on the CPU (wasm, cpu and
   * blas backends; the products are tfjs's, or the native BLAS's on blas), `tf` = a graph of tfjs
   * ops (GPU backends, where reading tensors back to the CPU would stall the device). Same maths;
   * tested equal.
   */
  readonly kernels: Kernels;
  /** With fused kernels: the native BLAS that multiplies (the `blas` backend), or null for tfjs matMuls. */
  readonly blas: Blas | null;
  /** The fused kernels' buffers; reset once a step's (or an evaluation's) tape is gone. */
  readonly arena: StepArena;
  dispose(): void;
}

export type Kernels = "fused" | "tf";

/** The default kernels for a tfjs backend name. */
export function defaultKernels(backend: string): Kernels {
  return backend === "wasm" || backend === "cpu" ? "fused" : "tf";
}

let nextModel = 0;

/**
 * Builds a K-member model; member k's weights are drawn from `rngs[k]` in the same order as a
 * single model would draw them, so member k equals a proxy trained alone with that rng.
 * N(0, 0.02²) weights; residual projections scaled by 1/√(2·layers), as GPT-2.
 */
export function createEnsemble(
  tf: Tf,
  config: ProxyConfig,
  rngs: readonly Rng[],
  kernels: Kernels = defaultKernels(tf.getBackend()),
  blas: Blas | null = kernels === "fused" ? activeBlas() : null,
): ProxyModel {
  const K = rngs.length;
  // tfjs keeps one registry of variable names per process: a scope per model lets several live at once.
  const scope = `proxy${nextModel++}/`;
  const vars = new Map<string, Variable>();
  const names: string[] = [];
  const add = (name: string, shape: number[], init: "normal" | "zeros" | "ones", std = 0.02): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(K * size);
    for (let k = 0; k < K; k++) {
      const off = k * size;
      if (init === "ones") values.fill(1, off, off + size);
      else if (init === "normal") for (let i = 0; i < size; i++) values[off + i] = std * rngs[k]!.nextNormal();
    }
    // Vectors (gains, biases) are stored as (K, 1, n) so they broadcast over (K, rows, n).
    const full = shape.length === 1 ? [K, 1, shape[0]!] : [K, ...shape];
    const initial = tf.tensor(values, full);
    vars.set(name, tf.variable(initial, true, `${scope}${name}`)); // the variable copies its initial value
    initial.dispose();
    names.push(name);
  };
  const { dModel: d, dFF: f, vocab: v, seqLen: t, nLayers: L } = config;
  const residualStd = 0.02 / Math.sqrt(2 * L);
  add("wte", [v, d], "normal");
  add("wpe", [t, d], "normal", 0.01);
  for (let l = 0; l < L; l++) {
    add(`h${l}.ln1.g`, [d], "ones");
    add(`h${l}.ln1.b`, [d], "zeros");
    add(`h${l}.attn.w`, [d, 3 * d], "normal");
    add(`h${l}.attn.b`, [3 * d], "zeros");
    add(`h${l}.proj.w`, [d, d], "normal", residualStd);
    add(`h${l}.proj.b`, [d], "zeros");
    add(`h${l}.ln2.g`, [d], "ones");
    add(`h${l}.ln2.b`, [d], "zeros");
    add(`h${l}.fc.w`, [d, f], "normal");
    add(`h${l}.fc.b`, [f], "zeros");
    add(`h${l}.out.w`, [f, d], "normal", residualStd);
    add(`h${l}.out.b`, [d], "zeros");
  }
  add("lnf.g", [d], "ones");
  add("lnf.b", [d], "zeros");
  // Drawn last, so a tied and an untied model of the same seed share every other initial weight.
  if (config.untiedHead) add("head.w", [d, v], "normal");
  return {
    config,
    tf,
    members: K,
    variables: names.map((n) => vars.get(n)!),
    names,
    get: (n) => vars.get(n)!,
    kernels,
    blas,
    arena: new StepArena(tf),
    dispose: () => {
      for (const x of vars.values()) x.dispose();
    },
  };
}

/** A single proxy (K = 1). */
export function createModel(tf: Tf, config: ProxyConfig, rng: Rng, kernels?: Kernels): ProxyModel {
  return createEnsemble(tf, config, [rng], kernels);
}

/**
 * Batched x (K × n × in) · w (K × in × out) with a gradient that transposes explicitly, then
 * calls a plain batched matMul (the wasm matMul is 10–20× slower with transpose flags).
 */
function makeLinear(tf: Tf): (x: Tensor, w: Tensor) => Tensor {
  // The wasm backend's batched matMul takes a slow path for batch > 1 (measured ≈ 75× slower than
  // the same work as 2-D matMuls), so there the member axis is split into K plain matMuls;
  // other backends multiply the whole batch in one kernel.
  const bmm = (a: tfTypes.Tensor3D, b: tfTypes.Tensor3D): tfTypes.Tensor3D => {
    const K = a.shape[0];
    if (K === 1 || tf.getBackend() !== "wasm") return tf.matMul(a, b);
    const as = tf.unstack(a) as tfTypes.Tensor2D[];
    const bs = tf.unstack(b) as tfTypes.Tensor2D[];
    return tf.stack(as.map((ai, i) => tf.matMul(ai, bs[i]!))) as tfTypes.Tensor3D;
  };
  // tfjs passes the inputs then a save function; typed loosely because its signature is variadic.
  const f = (...args: unknown[]) => {
    const [x, w, save] = args as [Tensor, Tensor, (t: Tensor[]) => void];
    save([x, w]);
    return {
      value: bmm(x as tfTypes.Tensor3D, w as tfTypes.Tensor3D),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sw] = saved as [tfTypes.Tensor3D, tfTypes.Tensor3D];
        return [
          bmm(dy as tfTypes.Tensor3D, tf.transpose(sw, [0, 2, 1])),
          bmm(tf.transpose(sx, [0, 2, 1]), dy as tfTypes.Tensor3D),
        ];
      },
    };
  };
  return tf.customGrad(f as never) as unknown as (x: Tensor, w: Tensor) => Tensor;
}

const linears = new WeakMap<object, (x: Tensor, w: Tensor) => Tensor>();

function linearOf(tf: Tf): (x: Tensor, w: Tensor) => Tensor {
  let linear = linears.get(tf);
  if (!linear) {
    linear = makeLinear(tf);
    linears.set(tf, linear);
  }
  return linear;
}

type GradFn = (...args: unknown[]) => { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] };
const custom = (tf: Tf, f: GradFn): ((...xs: Tensor[]) => Tensor) =>
  tf.customGrad(f as never) as unknown as (...xs: Tensor[]) => Tensor;

// The fused parts of a step as tfjs custom-gradient ops: kernels.ts does the work on copies of
// the tensors' data, matMuls stay tfjs kernels. Activations are (K × N × n), per-member vectors
// (K × 1 × n), per-member matrices (K × a × b).

/** Token + position embedding of (K × B × T) tokens → (K × B·T × d). */
function fusedEmbed(model: ProxyModel, tokens: Int32Array, B: number, T: number, wte: Tensor, wpe: Tensor): Tensor {
  const { tf, arena: ar } = model;
  const [K, V, d] = wte.shape as [number, number, number];
  const Tmax = wpe.shape[1]!;
  return custom(tf, (...args) => {
    const [e, p] = args as [Tensor, Tensor];
    const y = ar.f32(K * B * T * d);
    kern.embedForward(tokens, ar.read(e), ar.read(p), K, B, T, V, Tmax, d, y);
    return {
      value: tf.tensor3d(y, [K, B * T, d]),
      gradFunc: (dy) => {
        const dwte = ar.f32(K * V * d);
        const dwpe = ar.f32(K * Tmax * d);
        kern.embedBackward(tokens, ar.read(dy), K, B, T, V, Tmax, d, dwte, dwpe);
        return [tf.tensor3d(dwte, [K, V, d]), tf.tensor3d(dwpe, [K, Tmax, d])];
      },
    };
  })(wte, wpe);
}

/** The fused kernels of a model: compiled C with the `blas` backend, else kernels.ts. */
const kernelsOf = (model: ProxyModel): NativeKernels => model.blas ?? kern;

function fusedLayerNorm(model: ProxyModel, x: Tensor, g: Tensor, b: Tensor): Tensor {
  const tf = model.tf;
  const ar = model.arena;
  const kn = kernelsOf(model);
  const [K, N, d] = x.shape as [number, number, number];
  return custom(tf, (...args) => {
    const [xt, gt, bt] = args as [Tensor, Tensor, Tensor];
    const xs = ar.read(xt);
    const gs = ar.read(gt);
    const y = ar.f32(xs.length);
    const mean = ar.f32(K * N);
    const rstd = ar.f32(K * N);
    kn.layerNormForward(xs, gs, ar.read(bt), K, N, d, y, mean, rstd);
    return {
      value: tf.tensor3d(y, [K, N, d]),
      gradFunc: (dy) => {
        const dx = ar.f32(xs.length);
        const dg = ar.f32(K * d);
        const db = ar.f32(K * d);
        kn.layerNormBackward(xs, gs, mean, rstd, ar.read(dy), K, N, d, dx, dg, db);
        return [tf.tensor3d(dx, [K, N, d]), tf.tensor3d(dg, [K, 1, d]), tf.tensor3d(db, [K, 1, d])];
      },
    };
  })(x, g, b);
}

/**
 * x (K × N × a) · w (K × a × b), or · wᵀ for w (K × b × a) when `transposed`, on the native BLAS:
 * the transposes of the backward pass are BLAS flags, not copies.
 */
function nativeLinear(model: ProxyModel, blas: Blas, x: Tensor, w: Tensor, transposed = false): Tensor {
  const { tf, arena: ar } = model;
  const [K, N, a] = x.shape as [number, number, number];
  const b = transposed ? w.shape[1]! : w.shape[2]!;
  return custom(tf, (...args) => {
    const [xt, wt] = args as [Tensor, Tensor];
    const xs = ar.read(xt);
    const ws = ar.read(wt);
    const y = ar.f32(K * N * b);
    // w is (a × b) row-major, or (b × a) when transposed.
    for (let k = 0; k < K; k++) blas.gemm(
      false, transposed, N, b, a, 1,
      xs, k * N * a, a,
      ws, k * a * b, transposed ? a : b,
      0, y, k * N * b, b,
    );
    return {
      value: tf.tensor3d(y, [K, N, b]),
      gradFunc: (dy) => {
        const g = ar.read(dy);
        const dx = ar.f32(K * N * a);
        const dw = ar.f32(K * a * b);
        for (let k = 0; k < K; k++) {
          // dx = dy · wᵀ (or dy · w); dw = xᵀ · dy (or dyᵀ · x when transposed).
          blas.gemm(
            false, !transposed, N, a, b, 1,
            g, k * N * b, b,
            ws, k * a * b, transposed ? a : b,
            0, dx, k * N * a, a,
          );
          if (transposed) blas.gemm(true, false, b, a, N, 1, g, k * N * b, b, xs, k * N * a, a, 0, dw, k * a * b, a);
          else blas.gemm(true, false, a, b, N, 1, xs, k * N * a, a, g, k * N * b, b, 0, dw, k * a * b, b);
        }
        return [tf.tensor3d(dx, [K, N, a]), tf.tensor3d(dw, w.shape as [number, number, number])];
      },
    };
  })(x, w);
}

/** The product of a fused linear layer: native BLAS when the model has one, else tfjs. */
function product(model: ProxyModel, x: Tensor, w: Tensor): Tensor {
  return model.blas ? nativeLinear(model, model.blas, x, w) : linearOf(model.tf)(x, w);
}

/** x · w + b with the bias gradient summed on the CPU. */
function fusedLinearBias(model: ProxyModel, x: Tensor, w: Tensor, b: Tensor): Tensor {
  const tf = model.tf;
  const ar = model.arena;
  const [K, N] = x.shape as [number, number, number];
  const n = w.shape[2]!;
  const xw = product(model, x, w);
  return custom(tf, (...args) => {
    const [y, bt] = args as [Tensor, Tensor];
    return {
      value: tf.add(y, bt),
      gradFunc: (dy) => {
        const db = ar.f32(K * n);
        kernelsOf(model).sumRows(ar.read(dy), K, N, n, db);
        return [dy, tf.tensor3d(db, [K, 1, n])];
      },
    };
  })(xw, b);
}

/** GELU(x · w + b). */
function fusedLinearGelu(model: ProxyModel, x: Tensor, w: Tensor, b: Tensor): Tensor {
  const tf = model.tf;
  const ar = model.arena;
  const [K, N] = x.shape as [number, number, number];
  const f = w.shape[2]!;
  const xw = product(model, x, w);
  return custom(tf, (...args) => {
    const [y, bt] = args as [Tensor, Tensor];
    const pre = ar.f32(K * N * f);
    const th = ar.f32(K * N * f);
    const out = ar.f32(K * N * f);
    kernelsOf(model).biasGeluForward(ar.read(y), ar.read(bt), K, N, f, pre, th, out);
    return {
      value: tf.tensor3d(out, [K, N, f]),
      gradFunc: (dy) => {
        const dx = ar.f32(K * N * f);
        const db = ar.f32(K * f);
        kernelsOf(model).biasGeluBackward(pre, th, ar.read(dy), K, N, f, dx, db);
        return [tf.tensor3d(dx, [K, N, f]), tf.tensor3d(db, [K, 1, f])];
      },
    };
  })(xw, b);
}

/** A row-major GEMM over Float32Arrays with offsets and leading dimensions (Blas["gemm"]'s arguments). */
type Gemm = Blas["gemm"];

/**
 * The same GEMM through tfjs, for the wasm and cpu backends: the operands are copied out
 * (transposed where asked) into contiguous matrices, multiplied by a plain 2-D matMul (XNNPACK on
 * wasm: ≈ 5× its batched matMul's slow path and ≈ 15× a scalar JS loop here, measured), and the
 * product is added into C.
 */
function tfGemm(tf: Tf, ar: StepArena): Gemm {
  const dense = (
    src: Float32Array,
    off: number,
    ld: number,
    rows: number,
    cols: number,
    trans: boolean,
  ): Float32Array => {
    // op(src) as a contiguous (rows × cols) matrix; src holds it as (rows × cols), or (cols × rows) when trans.
    const out = ar.f32(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = trans
      ? src[off + j * ld + i]!
      : src[off + i * ld + j]!;
    return out;
  };
  return (transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc) => {
    const x = tf.tensor2d(dense(A, aOff, lda, M, K, transA), [M, K]);
    const y = tf.tensor2d(dense(B, bOff, ldb, K, N, transB), [K, N]);
    const z = tf.matMul(x, y);
    const prod = ar.read(z);
    x.dispose();
    y.dispose();
    z.dispose();
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C[cOff + i * ldc + j] =
      alpha * prod[i * N + j]! + (beta === 0 ? 0 : beta * C[cOff + i * ldc + j]!);
  };
}

/**
 * Causal multi-head attention of (K × B·T × 3d) [q | k | v] rows → (K × B·T × d), six GEMMs per
 * (sequence, head): on the native BLAS they read q, k and v in place inside the qkv rows (leading
 * dimension 3d) and write into the output rows, with no copies; on tfjs, tfGemm copies. The
 * masked softmax and its backward are the fused kernels.
 */
function fusedAttention(model: ProxyModel, gemm: Gemm, qkv: Tensor, B: number, T: number, H: number): Tensor {
  const { tf, arena: ar } = model;
  const kn = kernelsOf(model);
  const [K, N, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3;
  const hd = d / H;
  const S = K * B;
  const scale = 1 / Math.sqrt(hd);
  return custom(tf, (...args) => {
    const [t] = args as [Tensor];
    const src = ar.read(t);
    const out = ar.f32(K * N * d);
    const probs = ar.f32(S * H * T * T);
    for (let s = 0; s < S; s++) {
      for (let h = 0; h < H; h++) {
        const row = s * T * d3;
        const po = (s * H + h) * T * T;
        gemm(false, true, T, T, hd, 1, src, row + h * hd, d3, src, row + d + h * hd, d3, 0, probs, po, T); // Q Kᵀ
        kn.causalSoftmax(probs.subarray(po, po + T * T), T, scale);
        // P V
        gemm(false, false, T, hd, T, 1, probs, po, T, src, row + 2 * d + h * hd, d3, 0, out, s * T * d + h * hd, d);
      }
    }
    return {
      value: tf.tensor3d(out, [K, N, d]),
      gradFunc: (dy) => {
        const g = ar.read(dy);
        const dq = ar.f32(src.length);
        const dp = ar.f32(T * T);
        const ds = ar.f32(T * T);
        for (let s = 0; s < S; s++) {
          for (let h = 0; h < H; h++) {
            const row = s * T * d3;
            const po = (s * H + h) * T * T;
            const go = s * T * d + h * hd;
            gemm(false, true, T, T, hd, 1, g, go, d, src, row + 2 * d + h * hd, d3, 0, dp, 0, T); // dP = dO Vᵀ
            kn.causalSoftmaxBackward(probs.subarray(po, po + T * T), dp, T, scale, ds);
            gemm(false, false, T, hd, T, 1, ds, 0, T, src, row + d + h * hd, d3, 0, dq, row + h * hd, d3); // dQ = dS K
            // dK = dSᵀ Q
            gemm(true, false, T, hd, T, 1, ds, 0, T, src, row + h * hd, d3, 0, dq, row + d + h * hd, d3);
            gemm(true, false, T, hd, T, 1, probs, po, T, g, go, d, 0, dq, row + 2 * d + h * hd, d3); // dV = Pᵀ dO
          }
        }
        return [tf.tensor3d(dq, [K, N, d3])];
      },
    };
  })(qkv);
}

/** Per-row cross-entropy (nats) of (K × N × V) logits against targets (K·N) → (K × N). */
function fusedCrossEntropy(model: ProxyModel, logits: Tensor, targets: Int32Array): Tensor {
  const tf = model.tf;
  const ar = model.arena;
  const kn = kernelsOf(model);
  const [K, N, V] = logits.shape as [number, number, number];
  return custom(tf, (...args) => {
    const [t] = args as [Tensor];
    const l = ar.read(t);
    const losses = ar.f32(K * N);
    const lse = ar.f32(K * N);
    kn.crossEntropyForward(l, targets, K * N, V, losses, lse);
    return {
      value: tf.tensor2d(losses, [K, N]),
      gradFunc: (dy) => {
        const dl = ar.f32(l.length);
        kn.crossEntropyBackward(l, targets, lse, ar.read(dy), K * N, V, dl);
        return [tf.tensor3d(dl, [K, N, V])];
      },
    };
  })(logits);
}

/** tokenLosses with the fused CPU kernels (model.kernels = "fused"). */
function tokenLossesFused(model: ProxyModel, inputs: Tensor, targets: Tensor): Tensor {
  const tf = model.tf;
  const { nHeads: H, nLayers: L } = model.config;
  const [K, B, T] = inputs.shape as [number, number, number];
  const v = model.get;
  const linear = linearOf(tf);
  const blas = model.blas;
  let x = fusedEmbed(model, inputs.dataSync() as Int32Array, B, T, v("wte"), v("wpe"));
  for (let l = 0; l < L; l++) {
    const h = fusedLayerNorm(model, x, v(`h${l}.ln1.g`), v(`h${l}.ln1.b`));
    const qkv = fusedLinearBias(model, h, v(`h${l}.attn.w`), v(`h${l}.attn.b`));
    const y = fusedAttention(model, blas ? blas.gemm : tfGemm(tf, model.arena), qkv, B, T, H);
    x = tf.add(x, fusedLinearBias(model, y, v(`h${l}.proj.w`), v(`h${l}.proj.b`)));
    const h2 = fusedLayerNorm(model, x, v(`h${l}.ln2.g`), v(`h${l}.ln2.b`));
    const m = fusedLinearGelu(model, h2, v(`h${l}.fc.w`), v(`h${l}.fc.b`));
    x = tf.add(x, fusedLinearBias(model, m, v(`h${l}.out.w`), v(`h${l}.out.b`)));
  }
  const hf = fusedLayerNorm(model, x, v("lnf.g"), v("lnf.b"));
  const logits = model.config.untiedHead
    ? product(model, hf, v("head.w"))
    : blas
      ? nativeLinear(model, blas, hf, v("wte"), true)
      : linear(hf, tf.transpose(v("wte"), [0, 2, 1]));
  return tf.reshape(fusedCrossEntropy(model, logits, targets.dataSync() as Int32Array), [K, B, T]);
}

function layerNorm(tf: Tf, x: Tensor, g: Tensor, b: Tensor): Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
}

function gelu(tf: Tf, x: Tensor): Tensor {
  // tanh approximation (GPT-2).
  const c = Math.sqrt(2 / Math.PI);
  const x3 = tf.mul(tf.mul(x, x), x); // x·x·x: the wasm Pow kernel is several times slower
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(x3, 0.044715)), c))));
}

/**
 * Each member's training loss, (K): the mean of its per-token losses over the positions `mask`
 * keeps (K × B × T), divided by `denom` (K), the member's token count. Summed over members, it
 * gives every member exactly its own gradients. A shard of a batch passes the whole batch's
 * counts, so the shards' losses and gradients add up to the batch's.
 */
export function memberLosses(model: ProxyModel, inputs: Tensor, targets: Tensor, mask: Tensor, denom: Tensor): Tensor {
  const tf = model.tf;
  return tf.div(tf.sum(tf.mul(tokenLosses(model, inputs, targets), mask), [1, 2]), denom);
}

/** Writes new values into the model's i-th variable (a copy: the cpu backend would keep a reference to `values`). */
export function writeVariable(model: ProxyModel, i: number, values: Float32Array): void {
  const v = model.variables[i]!;
  const t = model.tf.tensor(values.slice(), v.shape);
  v.assign(t);
  t.dispose(); // the variable holds its own reference to the data
}

/**
 * Per-token cross-entropy (nats) of next-token prediction for every member: inputs and targets
 * (K × B × T) int32 tokens (row b of member k is member k's data). Returns a (K × B × T) tensor.
 * With fused kernels, call model.arena.reset() once the result and any gradient tape through it
 * are gone (the trainer does, after each step and each evaluation), or the arena keeps growing.
 */
export function tokenLosses(model: ProxyModel, inputs: Tensor, targets: Tensor): Tensor {
  if (model.kernels === "fused") return tokenLossesFused(model, inputs, targets);
  const tf = model.tf;
  const linear = linearOf(tf);
  const { dModel: d, nHeads: H, nLayers: L, vocab: V } = model.config;
  const [K, B, T] = inputs.shape as [number, number, number];
  const hd = d / H;
  const N = B * T;
  const v = model.get;
  // Embedding lookup as one-hot · wte: its gradient is a matMul (gather's needs UnsortedSegmentSum,
  // which the wasm backend lacks), and with a 256-token vocabulary it costs little.
  const onehot = tf.oneHot(tf.reshape(inputs, [K * N]) as tfTypes.Tensor1D, V).toFloat().reshape([K, N, V]);
  const pos = tf.tile(tf.slice(v("wpe"), [0, 0, 0], [K, T, d]), [1, B, 1]); // (K, B·T, d)
  let x = tf.add(linear(onehot, v("wte")), pos);
  const mask = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // lower triangular
  const negative = tf.mul(tf.sub(1, mask), -1e9);
  for (let l = 0; l < L; l++) {
    const h = layerNorm(tf, x, v(`h${l}.ln1.g`), v(`h${l}.ln1.b`));
    const qkv = tf.add(linear(h, v(`h${l}.attn.w`)), v(`h${l}.attn.b`)); // (K, N, 3d)
    const split = (i: number) => // (K·B, H, T, hd)
      tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, i * d], [K, N, d]), [K * B, T, H, hd]), [0, 2, 1, 3]);
    const q = split(0);
    const k = split(1);
    const vv = split(2);
    // (Routing these two batched products through the per-slice split made the step 2.3× slower
    // under autodiff, measured: the batch of K·B·H tiny products stays one kernel.)
    const att = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), negative);
    const y = tf.matMul(tf.softmax(att, -1), vv); // (K·B, H, T, hd)
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [K, N, d]);
    x = tf.add(x, tf.add(linear(merged, v(`h${l}.proj.w`)), v(`h${l}.proj.b`)));
    const h2 = layerNorm(tf, x, v(`h${l}.ln2.g`), v(`h${l}.ln2.b`));
    const m = gelu(tf, tf.add(linear(h2, v(`h${l}.fc.w`)), v(`h${l}.fc.b`)));
    x = tf.add(x, tf.add(linear(m, v(`h${l}.out.w`)), v(`h${l}.out.b`)));
  }
  const hf = layerNorm(tf, x, v("lnf.g"), v("lnf.b"));
  const logits = linear(hf, model.config.untiedHead ? v("head.w") : tf.transpose(v("wte"), [0, 2, 1])); // (K, N, V)
  const logp = tf.logSoftmax(logits, -1);
  const picked = tf.sum(
    tf.mul(logp, tf.oneHot(tf.reshape(targets, [K * N]) as tfTypes.Tensor1D, V).reshape([K, N, V])),
    -1,
  );
  return tf.reshape(tf.neg(picked), [K, B, T]);
}
