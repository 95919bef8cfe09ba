// Backend selection for the proxy trainer: `auto` tries @tensorflow/tfjs-node-gpu, then
// @tensorflow/tfjs-node (native libtensorflow; optional, never required), then WebGPU through the
// `webgpu` npm package (only with an adapter), then `blas` (mixlab's native addon with a system
// OpenBLAS for the matrix products, tfjs wasm for the rest; src/proxy/blas.ts), then wasm
// (@tensorflow/tfjs-backend-wasm), then the pure-JS cpu backend; it says on stderr which one it
// picked and why the others were not used.
// Optional packages are probed with require.resolve first, so a missing one is never half-loaded.

import { createRequire } from "node:module";
import type * as tfTypes from "@tensorflow/tfjs";
import { InputError, UnsupportedError } from "../errors.js";
import { loadBlas, setActiveBlas } from "./blas.js";

export type BackendName = "auto" | "tensorflow" | "webgpu" | "blas" | "wasm" | "cpu";
export const BACKENDS: readonly BackendName[] = ["auto", "tensorflow", "webgpu", "blas", "wasm", "cpu"];

const require = createRequire(import.meta.url);
const installed = (pkg: string): boolean => {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

/** Imports an optional package (not a dependency: resolved at run time). */
const optional = (name: string): Promise<unknown> => import(name);

interface WebGpuAdapter {
  readonly limits: { readonly maxStorageBufferBindingSize: number };
}

/**
 * The `webgpu` package's GPU object and an adapter, or null without one (no GPU, or no Vulkan
 * driver). Sets the package's globals first, as STACK.md describes.
 */
async function requestWebGpu(): Promise<{ gpu: unknown; adapter: WebGpuAdapter } | null> {
  const pkg = (await optional("webgpu")) as {
    create: (o: string[]) => { requestAdapter(): Promise<WebGpuAdapter | null> };
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, pkg.globals);
  const gpu = pkg.create([]);
  const adapter = await gpu.requestAdapter();
  return adapter ? { gpu, adapter } : null;
}

/** Loads tfjs on a backend; returns the namespace, the backend used and why others were skipped. */
export async function loadTf(
  requested: BackendName,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ tf: typeof tfTypes; backend: string; skipped: string[] }> {
  if (!BACKENDS.includes(requested)) throw new InputError(
    "--backend",
    `expected one of ${BACKENDS.join(", ")}, got ${JSON.stringify(requested)}`,
  );
  const skipped: string[] = [];
  const order: Exclude<BackendName, "auto">[] = requested === "auto"
    ? ["tensorflow", "webgpu", "blas", "wasm", "cpu"]
    : [requested];
  setActiveBlas(null);
  for (const b of order) {
    try {
      if (b === "tensorflow") {
        const pkg = installed("@tensorflow/tfjs-node-gpu")
          ? "@tensorflow/tfjs-node-gpu"
          : installed("@tensorflow/tfjs-node")
            ? "@tensorflow/tfjs-node"
            : null;
        if (!pkg) throw new UnsupportedError(
          "@tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node are not installed " +
            "(optional; their installers download libtensorflow)",
        );
        const tf = (await import(pkg)) as typeof tfTypes;
        await tf.ready();
        log(`backend: tensorflow (${pkg})${skipped.length ? `; skipped ${skipped.join("; ")}` : ""}`);
        return { tf, backend: "tensorflow", skipped };
      }
      if (b === "webgpu") {
        if (!installed("webgpu") || !installed("@tensorflow/tfjs-backend-webgpu")) throw new UnsupportedError(
          "the webgpu and @tensorflow/tfjs-backend-webgpu packages are not installed",
        );
        const found = await requestWebGpu();
        if (!found) throw new UnsupportedError("no WebGPU adapter (no GPU, or no Vulkan driver)");
        Object.defineProperty(globalThis, "navigator", { value: { gpu: found.gpu }, configurable: true });
        const tf = (await import("@tensorflow/tfjs")) as typeof tfTypes;
        await optional("@tensorflow/tfjs-backend-webgpu");
        if (!(await tf.setBackend("webgpu"))) throw new UnsupportedError("tfjs could not start the webgpu backend");
        log(`backend: webgpu${skipped.length ? `; skipped ${skipped.join("; ")}` : ""}`);
        return { tf, backend: "webgpu", skipped };
      }
      const tf = (await import("@tensorflow/tfjs")) as typeof tfTypes;
      if (b === "blas") {
        // The system BLAS multiplies; tfjs (wasm) holds the variables and runs the rest.
        const { blas, why } = loadBlas();
        if (!blas) throw new UnsupportedError(why);
        await import("@tensorflow/tfjs-backend-wasm");
        if (!(await tf.setBackend("wasm"))) throw new UnsupportedError(
          "tfjs could not start the wasm backend it runs on",
        );
        await tf.ready();
        setActiveBlas(blas);
        log(
          `backend: blas (${blas.library} for the matrix products, tfjs wasm for the rest)` +
            `${skipped.length ? `; skipped ${skipped.join("; ")}` : ""}`,
        );
        return { tf, backend: b, skipped };
      }
      if (b === "wasm") {
        await import("@tensorflow/tfjs-backend-wasm");
        if (!(await tf.setBackend("wasm"))) throw new UnsupportedError("tfjs could not start the wasm backend");
      } else if (!(await tf.setBackend("cpu"))) throw new UnsupportedError("tfjs could not start the cpu backend");
      await tf.ready();
      log(`backend: ${b}${skipped.length ? `; skipped ${skipped.join("; ")}` : ""}`);
      return { tf, backend: b, skipped };
    } catch (e) {
      const why = `${b}: ${(e as Error).message}`;
      if (requested !== "auto") throw new UnsupportedError(`backend ${why}`);
      skipped.push(why);
    }
  }
  throw new UnsupportedError(`no tfjs backend could start (${skipped.join("; ")})`);
}

/**
 * Which backend `loadTf(requested)` would pick, without loading tfjs (a sweep's main process
 * sizes ensembles with it; the workers load the backend). For WebGPU it also reports the
 * adapter's maxStorageBufferBindingSize.
 */
export async function probeBackend(
  requested: BackendName,
): Promise<{ backend: Exclude<BackendName, "auto">; maxBindingBytes?: number }> {
  if (!BACKENDS.includes(requested)) throw new InputError(
    "--backend",
    `expected one of ${BACKENDS.join(", ")}, got ${JSON.stringify(requested)}`,
  );
  const tensorflow = installed("@tensorflow/tfjs-node-gpu") || installed("@tensorflow/tfjs-node");
  if (requested === "tensorflow" || (requested === "auto" && tensorflow)) return { backend: "tensorflow" };
  if (requested === "webgpu" || requested === "auto") {
    if (installed("webgpu")) {
      try {
        const found = await requestWebGpu();
        if (found) return { backend: "webgpu", maxBindingBytes: found.adapter.limits.maxStorageBufferBindingSize };
      } catch {
        // no usable adapter: as loadTf, fall through
      }
    }
    if (requested === "webgpu") return { backend: "webgpu" };
  }
  if (requested === "blas" || (requested === "auto" && loadBlas().blas)) return { backend: "blas" };
  return { backend: requested === "cpu" ? "cpu" : "wasm" };
}
