// The optional native part of the proxy trainer's CPU path: the addon built from src/native at
// install (scripts/build-native.mjs), a system BLAS it loads at run time for the matrix products,
// and the fused kernels of kernels.ts compiled from C.
// OpenBLAS (or BLIS, or MKL) multiplies at 45–60 GFLOP/s a core on these machines, where the
// wasm backend's XNNPACK reaches 13–17 (measured side by side): the `blas` backend uses it for
// every matrix product of a step and tfjs for the rest. The reference BLAS (Debian's libblas3) is
// not used: it is slower than wasm.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as kern from "./kernels.js";

/** The kernels the addon also provides in C (src/native/kernels.c), with kernels.ts's arguments. */
export type NativeKernels = Pick<
  typeof kern,
  | "layerNormForward"
  | "layerNormBackward"
  | "biasGeluForward"
  | "biasGeluBackward"
  | "causalSoftmax"
  | "causalSoftmaxBackward"
  | "crossEntropyForward"
  | "crossEntropyBackward"
  | "sumRows"
>;
export const NATIVE_KERNELS: readonly (keyof NativeKernels)[] = [
  "layerNormForward",
  "layerNormBackward",
  "biasGeluForward",
  "biasGeluBackward",
  "causalSoftmax",
  "causalSoftmaxBackward",
  "crossEntropyForward",
  "crossEntropyBackward",
  "sumRows",
];

/**
 * Row-major single-precision GEMM on Float32Arrays: C = alpha·op(A)·op(B) + beta·C (offsets and
 * leading dimensions in elements), and the fused kernels compiled from C.
 */
export interface Blas extends NativeKernels {
  /** The shared library that provides the product. */
  readonly library: string;
  gemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    aOff: number,
    lda: number,
    B: Float32Array,
    bOff: number,
    ldb: number,
    beta: number,
    C: Float32Array,
    cOff: number,
    ldc: number,
  ): void;
}

/** Libraries tried in order (MIXLAB_BLAS, a path or soname, first when set). */
export const BLAS_LIBRARIES = ["libopenblas.so.0", "libblis.so.4", "libmkl_rt.so.2", "libmkl_rt.so"];

let cached: { blas: Blas | null; why: string } | null = null;

/** Loads the addon and a BLAS once per process; `why` says what is missing when it cannot. */
export function loadBlas(): { blas: Blas | null; why: string } {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/proxy → dist/native; tests run src/proxy → dist/native too.
  const addon = [
    join(here, "..", "..", "native", "mixlab_blas.node"),
    join(here, "..", "..", "dist", "native", "mixlab_blas.node"),
  ].find((p) => existsSync(p));
  if (!addon) return (cached = {
    blas: null,
    why: "the native addon is not built (npm run build needs a C compiler and Node's headers)",
  });
  let native: { load(c: string[]): string | null } & Omit<Blas, "library">;
  try {
    native = createRequire(import.meta.url)(addon) as typeof native;
  } catch (e) {
    // Built for another platform, or a broken build: say so, and the trainer uses wasm.
    return (cached = {
      blas: null,
      why:
        `the native addon ${addon} does not load (${(e as Error).message.split("\n")[0]}); ` +
        "rebuild it with npm run build",
    });
  }
  const missing = ["gemm", ...NATIVE_KERNELS].filter(
    (f) => typeof (native as unknown as Record<string, unknown>)[f] !== "function",
  );
  if (missing.length) return (cached = {
    blas: null,
    why: `the native addon is out of date (no ${missing.join(", ")}; run npm run build)`,
  });
  const candidates = [...(process.env.MIXLAB_BLAS ? [process.env.MIXLAB_BLAS] : []), ...BLAS_LIBRARIES];
  const library = native.load(candidates);
  if (!library) return (cached = {
    blas: null,
    why:
      `no BLAS library could be loaded (tried ${candidates.join(", ")}; ` +
      "on Debian: apt-get install libopenblas0-pthread)",
  });
  const blas: Blas = {
    library,
    gemm: native.gemm,
    ...Object.fromEntries(NATIVE_KERNELS.map((f) => [f, native[f]])),
  } as Blas;
  return (cached = { blas, why: "" });
}

let active: Blas | null = null;

/** The BLAS that new models use for their products (set by loadTf: the `blas` backend sets it, others clear it). */
export function activeBlas(): Blas | null {
  return active;
}

export function setActiveBlas(b: Blas | null): void {
  active = b;
}
