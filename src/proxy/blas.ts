// The optional native matrix product of the proxy trainer's CPU path: the addon built from
// src/native/blas.c at install (scripts/build-native.mjs) and a system BLAS it loads at run time.
// OpenBLAS (or BLIS, or MKL) multiplies at 45–60 GFLOP/s a core on these machines, where the
// wasm backend's XNNPACK reaches 13–17 (measured side by side): the `blas` backend uses it for
// every matrix product of a step and tfjs for the rest. The reference BLAS (Debian's libblas3) is
// not used: it is slower than wasm.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Row-major single-precision GEMM on Float32Arrays: C = alpha·op(A)·op(B) + beta·C (offsets and leading dimensions in elements). */
export interface Blas {
  /** The shared library that provides the product. */
  readonly library: string;
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number, lda: number, B: Float32Array, bOff: number, ldb: number, beta: number, C: Float32Array, cOff: number, ldc: number): void;
}

/** Libraries tried in order (MIXLAB_BLAS, a path or soname, first when set). */
export const BLAS_LIBRARIES = ["libopenblas.so.0", "libblis.so.4", "libmkl_rt.so.2", "libmkl_rt.so"];

let cached: { blas: Blas | null; why: string } | null = null;

/** Loads the addon and a BLAS once per process; `why` says what is missing when it cannot. */
export function loadBlas(): { blas: Blas | null; why: string } {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/proxy → dist/native; tests run src/proxy → dist/native too.
  const addon = [join(here, "..", "..", "native", "mixlab_blas.node"), join(here, "..", "..", "dist", "native", "mixlab_blas.node")].find((p) => existsSync(p));
  if (!addon) return (cached = { blas: null, why: "the native addon is not built (npm run build needs a C compiler and Node's headers)" });
  const native = createRequire(import.meta.url)(addon) as { load(c: string[]): string | null; gemm: Blas["gemm"] };
  const candidates = [...(process.env.MIXLAB_BLAS ? [process.env.MIXLAB_BLAS] : []), ...BLAS_LIBRARIES];
  const library = native.load(candidates);
  if (!library) return (cached = { blas: null, why: `no BLAS library could be loaded (tried ${candidates.join(", ")}; on Debian: apt-get install libopenblas0-pthread)` });
  return (cached = { blas: { library, gemm: native.gemm }, why: "" });
}

let active: Blas | null = null;

/** The BLAS that new models use for their products (set by loadTf: the `blas` backend sets it, others clear it). */
export function activeBlas(): Blas | null {
  return active;
}

export function setActiveBlas(b: Blas | null): void {
  active = b;
}
