// Default ensemble sizes: one on the CPU backends; on GPU backends bounded by the binding limit
// of the largest buffer and by memory for activations (known answers for the reference proxy).
import { describe, expect, it } from "vitest";
import {
  activationBytes,
  chooseEnsemble,
  largestBufferBytes,
  MAX_DEFAULT_ENSEMBLE,
} from "../../src/proxy/ensemble-size.js";
import { PRESETS } from "../../src/proxy/model.js";

const ref = PRESETS.ref!;
const MiB = 2 ** 20;

describe("default ensemble size", () => {
  it("buffer and activation sizes of the reference proxy (batch 16)", () => {
    // The attention probabilities and the MLP hidden layer are the largest: 16 × 65,536 floats.
    expect(largestBufferBytes(ref, 16)).toBe(4 * MiB);
    // 2 layers × (11·N·d + 2·N·f + B·H·T²) + 3·N·V floats, N = 2048.
    expect(activationBytes(ref, 16)).toBe(
      4 * (2 * (11 * 2048 * 128 + 2 * 2048 * 512 + 16 * 4 * 128 * 128) + 3 * 2048 * 256),
    );
  });

  it("one on wasm and cpu, whatever the memory", () => {
    for (const b of ["wasm", "cpu"]) {
      const c = chooseEnsemble(b, ref, 16, { freeBytes: 64 * 2 ** 30 });
      expect(c.size).toBe(1);
      expect(c.why).toMatch(/compute-bound/);
    }
  });

  it("WebGPU: the binding limit bounds it, then the cap", () => {
    const small = chooseEnsemble("webgpu", ref, 16, { maxBindingBytes: 16 * MiB, freeBytes: 64 * 2 ** 30 });
    expect(small.size).toBe(4);
    expect(small.why).toMatch(/16 MiB binding limit over 4.0 MiB per member/);
    expect(chooseEnsemble("webgpu", ref, 16, { maxBindingBytes: 2 ** 31, freeBytes: 64 * 2 ** 30 }).size).toBe(
      MAX_DEFAULT_ENSEMBLE,
    );
    // A batch whose one buffer is over the limit still trains (one member), never zero.
    expect(chooseEnsemble("webgpu", ref, 4096, { maxBindingBytes: 128 * MiB, freeBytes: 64 * 2 ** 30 }).size).toBe(1);
  });

  it("native TensorFlow: half the free memory over each member's activations", () => {
    const c = chooseEnsemble("tensorflow", ref, 16, { freeBytes: 2 ** 30 });
    expect(c.size).toBe(Math.floor(2 ** 29 / activationBytes(ref, 16)));
    expect(c.size).toBe(9);
    expect(c.why).toMatch(/half of 1.0 GiB free/);
  });
});
