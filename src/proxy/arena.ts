// Buffers of the fused CPU kernels, reused from step to step. A step of the reference proxy
// allocates a few hundred MB of short-lived Float32Arrays (activations read out of tfjs, kernel
// outputs, gradients), which costs page faults, zero-filling and garbage collection every step;
// every step has the same shapes, so after the first one the arena hands back the same buffers.
// Valid only where tfjs copies what it is given and what it returns (the wasm backend, which the
// wasm and blas backends both run on): the cpu backend keeps references, so there the arena
// allocates fresh arrays. Buffers are not zeroed when reused: the kernels write every element
// (or clear what they accumulate into), which the fused-vs-tf-op tests check.

import type * as tfTypes from "@tensorflow/tfjs";

type Tensor = tfTypes.Tensor;

interface WasmBackend {
  typedArrayFromHeap(t: { shape: number[]; dtype: string; dataId: object }): Float32Array | Int32Array;
}

export class StepArena {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly used: Float32Array[] = [];

  constructor(private readonly tf: typeof tfTypes) {}

  /** True when tfjs copies tensors in and out (the wasm backend). */
  private get pooling(): boolean {
    return this.tf.getBackend() === "wasm";
  }

  /** A Float32Array of n elements, valid until reset(); not zeroed when reused. */
  f32(n: number): Float32Array {
    if (!this.pooling) return new Float32Array(n);
    const a = this.free.get(n)?.pop() ?? new Float32Array(n);
    this.used.push(a);
    return a;
  }

  /** A float32 tensor's values, copied out of the wasm heap into an arena buffer (or dataSync elsewhere). */
  read(t: Tensor): Float32Array {
    if (!this.pooling || t.dtype !== "float32") return t.dataSync() as Float32Array;
    // wasm kernels run synchronously, so the tensor's values are in the heap now.
    const view = (this.tf.backend() as unknown as WasmBackend).typedArrayFromHeap(
      t as unknown as { shape: number[]; dtype: string; dataId: object },
    ) as Float32Array;
    const out = this.f32(view.length);
    out.set(view);
    return out;
  }

  /** Every buffer handed out since the last reset is free again (call when the step's tape is gone). */
  reset(): void {
    for (const a of this.used) {
      const list = this.free.get(a.length);
      if (list) list.push(a);
      else this.free.set(a.length, [a]);
    }
    this.used.length = 0;
  }
}
