// The fused CPU kernels (src/proxy/kernels.ts) against known answers, and the fused model against
// the tf-op graph the GPU backends run: same losses and gradients on the wasm and cpu backends,
// and the same training trajectory. This keeps the GPU path's maths tested on machines without one.
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { loadTf } from "../../src/proxy/backend.js";
import { createEnsemble, parameterCount, tokenLosses, PRESETS } from "../../src/proxy/model.js";
import { trainEnsemble } from "../../src/proxy/train.js";
import * as kern from "../../src/proxy/kernels.js";
import { createRng } from "../../src/rng/index.js";
import { loadBlas } from "../../src/proxy/blas.js";

const { blas, why: noBlas } = loadBlas();
if (!blas) console.log(`native BLAS tests skipped: ${noBlas}`);

const TRAIN = join(ROOT, "datasets", "corpus", "train");
const HELD = join(ROOT, "datasets", "corpus", "heldout");

describe("fused kernels: known answers", () => {
  it("layer norm standardises each row, then applies gain and bias", () => {
    const x = Float32Array.from([1, 2, 3, 4, -2, 0, 2, 4]);
    const y = new Float32Array(8);
    const mean = new Float32Array(2);
    const rstd = new Float32Array(2);
    kern.layerNormForward(x, Float32Array.from([1, 1, 1, 1]), Float32Array.from([0, 0, 0, 0]), 1, 2, 4, y, mean, rstd);
    expect(Array.from(mean)).toEqual([2.5, 1]);
    // Row 1: deviations ±1.5, ±0.5, variance 1.25.
    expect(y[0]).toBeCloseTo(-1.5 / Math.sqrt(1.25 + 1e-5), 6);
    expect(y[3]).toBeCloseTo(1.5 / Math.sqrt(1.25 + 1e-5), 6);
    const y2 = new Float32Array(8);
    kern.layerNormForward(x, Float32Array.from([2, 2, 2, 2]), Float32Array.from([1, 1, 1, 1]), 1, 2, 4, y2, mean, rstd);
    for (let i = 0; i < 8; i++) expect(y2[i]).toBeCloseTo(2 * y[i]! + 1, 5);
  });

  it("causal softmax: rows sum to one, nothing above the diagonal, first row is one-hot", () => {
    const T = 5;
    const rng = createRng(1);
    const s = Float32Array.from({ length: T * T }, () => 3 * rng.nextNormal());
    kern.causalSoftmax(s, T, 0.5);
    expect(s[0]).toBe(1);
    for (let i = 0; i < T; i++) {
      let sum = 0;
      for (let j = 0; j < T; j++) {
        if (j > i) expect(s[i * T + j]).toBe(0);
        sum += s[i * T + j]!;
      }
      expect(sum).toBeCloseTo(1, 6);
    }
  });

  it("cross-entropy of equal logits is ln V; its gradient is softmax − one-hot", () => {
    const V = 8;
    const logits = new Float32Array(2 * V).fill(0.3);
    const losses = new Float32Array(2);
    const lse = new Float32Array(2);
    kern.crossEntropyForward(logits, Int32Array.from([2, 5]), 2, V, losses, lse);
    expect(losses[0]).toBeCloseTo(Math.log(V), 6);
    const d = new Float32Array(2 * V);
    kern.crossEntropyBackward(logits, Int32Array.from([2, 5]), lse, Float32Array.from([1, 2]), 2, V, d);
    expect(d[0]).toBeCloseTo(1 / V, 6);
    expect(d[2]).toBeCloseTo(1 / V - 1, 6);
    expect(d[V + 5]).toBeCloseTo(2 * (1 / V - 1), 6);
  });

  it("GELU's backward matches finite differences", () => {
    const xs = Float32Array.from([-3, -1, -0.2, 0, 0.4, 1.5, 4]);
    const n = xs.length;
    const pre = new Float32Array(n);
    const th = new Float32Array(n);
    const y = new Float32Array(n);
    kern.biasGeluForward(xs, new Float32Array(n), 1, 1, n, pre, th, y);
    expect(y[3]).toBe(0);
    expect(y[6]).toBeCloseTo(4, 3); // GELU(x) → x for large x
    const dx = new Float32Array(n);
    kern.biasGeluBackward(pre, th, new Float32Array(n).fill(1), 1, 1, n, dx, new Float32Array(n));
    const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    for (let i = 0; i < n; i++) expect(dx[i]).toBeCloseTo((gelu(xs[i]! + 1e-4) - gelu(xs[i]! - 1e-4)) / 2e-4, 4);
  });

  it("AdamW: the first step moves each weight by lr (bias-corrected m̂/√v̂ = sign g) plus decay", () => {
    const p = Float32Array.from([1, -1, 0.5]);
    const g = Float32Array.from([0.2, -3, 0]);
    kern.adamw(p, g, new Float32Array(3), new Float32Array(3), 0, 3, 1, 0.01, 0.9, 0.95, 1 - 0.9, 1 - 0.95, 0.1);
    expect(p[0]).toBeCloseTo(1 - 0.01 * (1 + 0.1 * 1), 6);
    expect(p[1]).toBeCloseTo(-1 - 0.01 * (-1 + 0.1 * -1), 6);
    expect(p[2]).toBeCloseTo(0.5 - 0.01 * 0.1 * 0.5, 6);
  });
});

describe.skipIf(!blas)("native BLAS gemm", () => {
  it("row-major products with transposes, offsets and leading dimensions; out-of-bounds refused", () => {
    const A = Float32Array.from([1, 2, 3, 4, 5, 6]); // 2 × 3
    const B = Float32Array.from([7, 8, 9, 10, 11, 12]); // 3 × 2
    const C = new Float32Array(4);
    blas!.gemm(false, false, 2, 2, 3, 1, A, 0, 3, B, 0, 2, 0, C, 0, 2);
    expect(Array.from(C)).toEqual([58, 64, 139, 154]);
    blas!.gemm(false, true, 2, 2, 3, 1, A, 0, 3, A, 0, 3, 0, C, 0, 2); // A·Aᵀ
    expect(Array.from(C)).toEqual([14, 32, 32, 77]);
    blas!.gemm(true, false, 2, 2, 2, 2, A, 1, 3, A, 1, 3, 1, C, 0, 2); // C += 2·(A[:,1:3])ᵀ·A[:,1:3]
    expect(Array.from(C)).toEqual([14 + 2 * (4 + 25), 32 + 2 * (6 + 30), 32 + 2 * (6 + 30), 77 + 2 * (9 + 36)]);
    expect(() => blas!.gemm(false, false, 2, 2, 4, 1, A, 0, 3, B, 0, 2, 0, C, 0, 2)).toThrow(/out of bounds/);
  });
});

describe.skipIf(!blas)("C kernels = TypeScript kernels", () => {
  const rng = createRng(9);
  const rand = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.nextNormal());
  const close = (a: Float32Array, b: Float32Array, tol = 2e-6) => {
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
    expect(worst).toBeLessThan(tol);
  };
  const both = <T extends unknown[]>(f: (k: typeof kern | NonNullable<typeof blas>) => T): [T, T] => [
    f(blas!),
    f(kern),
  ];

  it("layer norm, forward and backward (2 members)", () => {
    const [K, R, d] = [2, 5, 16];
    const x = rand(K * R * d, 3);
    const g = rand(K * d);
    const b = rand(K * d);
    const dy = rand(K * R * d);
    const [c, t] = both((k) => {
      const y = new Float32Array(K * R * d);
      const mean = new Float32Array(K * R);
      const rstd = new Float32Array(K * R);
      k.layerNormForward(x, g, b, K, R, d, y, mean, rstd);
      const dx = new Float32Array(K * R * d);
      const dg = new Float32Array(K * d);
      const db = new Float32Array(K * d);
      k.layerNormBackward(x, g, mean, rstd, dy, K, R, d, dx, dg, db);
      return [y, mean, rstd, dx, dg, db];
    });
    c.forEach((a, i) => close(a, t[i]!));
  });

  it("bias + GELU (float32 arithmetic, tanh within 2e-7), forward and backward", () => {
    const [K, R, f] = [2, 3, 40];
    const x = rand(K * R * f, 4);
    const bias = rand(K * f);
    const dy = rand(K * R * f);
    const [c, t] = both((k) => {
      const pre = new Float32Array(K * R * f);
      const th = new Float32Array(K * R * f);
      const y = new Float32Array(K * R * f);
      k.biasGeluForward(x, bias, K, R, f, pre, th, y);
      const dx = new Float32Array(K * R * f);
      const db = new Float32Array(K * f);
      k.biasGeluBackward(pre, th, dy, K, R, f, dx, db);
      return [pre, th, y, dx, db];
    });
    c.forEach((a, i) => close(a, t[i]!, 3e-6));
  });

  it("causal softmax and its backward; cross-entropy and its backward", () => {
    const T = 9;
    const scores = rand(T * T, 2);
    const dp = rand(T * T);
    const [c, t] = both((k) => {
      const p = scores.slice();
      k.causalSoftmax(p, T, 0.3);
      const ds = new Float32Array(T * T);
      k.causalSoftmaxBackward(p, dp, T, 0.3, ds);
      return [p, ds];
    });
    c.forEach((a, i) => close(a, t[i]!));
    const [R, V] = [6, 11];
    const logits = rand(R * V, 3);
    const targets = Int32Array.from([0, 10, 3, 3, 7, 1]);
    const dl = rand(R);
    const [c2, t2] = both((k) => {
      const losses = new Float32Array(R);
      const lse = new Float32Array(R);
      k.crossEntropyForward(logits, targets, R, V, losses, lse);
      const d = new Float32Array(R * V);
      k.crossEntropyBackward(logits, targets, lse, dl, R, V, d);
      return [losses, lse, d];
    });
    c2.forEach((a, i) => close(a, t2[i]!));
  });

  it("sum over rows (the bias gradient)", () => {
    const [K, R, n] = [2, 7, 5];
    const dy = rand(K * R * n);
    const [c, t] = both((k) => {
      const out = new Float32Array(K * n).fill(9); // stale values must be cleared
      k.sumRows(dy, K, R, n, out);
      return [out];
    });
    close(c[0]!, t[0]!);
  });

  it("the C kernels refuse wrong arguments instead of reading out of bounds", () => {
    expect(() => blas!.causalSoftmax(new Float32Array(8), 3, 1)).toThrow(/bad arguments to causalSoftmax/);
    expect(() =>
      blas!.crossEntropyForward(
        new Float32Array(4),
        Int32Array.from([5, 0]),
        2,
        2,
        new Float32Array(2),
        new Float32Array(2),
      ),
    ).toThrow(/bad arguments to crossEntropyForward/);
  });
});

describe("fused model = tf-op model", () => {
  const cases = [
    ["wasm", false],
    ["cpu", false],
    ["wasm", true],
    ...(blas ? ([["blas", false], ["blas", true]] as const) : []),
  ] as const;
  for (const [backendName, untiedHead] of cases) {
    it(`same losses and gradients on ${backendName} (ensemble of 2${untiedHead ? ", untied head" : ""})`, async () => {
      const { tf } = await loadTf(backendName, () => {});
      const cfg = { ...PRESETS.tiny!, seqLen: 16, untiedHead };
      const K = 2;
      const B = 3;
      const T = 16;
      const rng = createRng(5);
      const toks = Int32Array.from({ length: K * B * T }, () => Math.floor(rng.next() * 256));
      const tgt = Int32Array.from({ length: K * B * T }, () => Math.floor(rng.next() * 256));
      const out: Record<string, { loss: number; grads: Record<string, Float32Array> }> = {};
      const before = tf.memory().numTensors;
      for (const kind of ["tf", "fused"] as const) {
        const m = createEnsemble(tf, cfg, [createRng(1), createRng(2)], kind);
        expect(m.blas !== null).toBe(kind === "fused" && backendName === "blas");
        const { value, grads } = tf.variableGrads(
          () =>
            tf.sum(
              tokenLosses(m, tf.tensor3d(toks, [K, B, T], "int32"), tf.tensor3d(tgt, [K, B, T], "int32")),
            ) as never,
          m.variables,
        );
        out[kind] = {
          loss: value.dataSync()[0]!,
          grads: Object.fromEntries(m.names.map((n) => [n, grads[m.get(n).name]!.dataSync() as Float32Array])),
        };
        value.dispose();
        for (const g of Object.values(grads)) g.dispose();
        m.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
      expect("head.w" in out.tf!.grads).toBe(untiedHead);
      expect(Math.abs(out.fused!.loss - out.tf!.loss) / out.tf!.loss).toBeLessThan(1e-6);
      for (const [name, a] of Object.entries(out.tf!.grads)) {
        const b = out.fused!.grads[name]!;
        let diff = 0;
        let scale = 0;
        for (let i = 0; i < a.length; i++) {
          diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
          scale = Math.max(scale, Math.abs(a[i]!));
        }
        expect(diff / scale, name).toBeLessThan(1e-4);
      }
    }, 60_000);
  }

  it("an untied head adds d × vocab parameters, drawn after every tied weight", async () => {
    const { tf } = await loadTf("cpu", () => {});
    const cfg = { ...PRESETS.tiny!, seqLen: 16 };
    expect(parameterCount({ ...cfg, untiedHead: true }) - parameterCount(cfg)).toBe(cfg.dModel * cfg.vocab);
    const tied = createEnsemble(tf, cfg, [createRng(3)]);
    const untied = createEnsemble(tf, { ...cfg, untiedHead: true }, [createRng(3)]);
    expect(untied.names).toEqual([...tied.names, "head.w"]);
    for (const n of tied.names) expect(untied.get(n).dataSync()).toEqual(tied.get(n).dataSync());
    tied.dispose();
    untied.dispose();
  });

  it.each(blas ? ["wasm", "blas"] : ["wasm"])(
    "training with fused kernels on %s follows the tf-op trajectory",
    async (backendName) => {
      const { tf, backend } = await loadTf(backendName as "wasm", () => {});
      const base = {
        tf, backend, config: { ...PRESETS.tiny!, seqLen: 32 }, train: TRAIN, heldout: HELD,
        steps: 10, batchSize: 4, evalWindows: 4, open: { cacheDir: join(tmp(), "cache") },
      };
      const members = [{ proportions: { code: 0.5, literature: 0.5 }, seed: 7 }];
      const [a] = await trainEnsemble({ ...base, members, kernels: "fused" });
      const [b] = await trainEnsemble({ ...base, members, kernels: "tf" });
      for (const [d, v] of Object.entries(a!.lossPerDomain)) expect(v).toBeCloseTo(b!.lossPerDomain[d]!, 3);
      expect(a!.lossPerDomain).not.toEqual(
        Object.fromEntries(Object.keys(a!.lossPerDomain).map((d) => [d, Math.log(256)])),
      );
    },
    60_000,
  );
});
