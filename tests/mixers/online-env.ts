// A simulated training environment for online mixers (conformance and method tests): per-domain
// losses respond to the data a mixture feeds by a known rule, and a driver records every call
// and event on a tape so a run can be replayed, cut at any point, saved and resumed.
//
// Rule: n_j = tokens trained on domain j so far (in units of `tokensPerStep`); the loss of
// domain i is ℓ_i = floor_i + amp_i · exp(−Σ_j A_ij n_j / tau), A_ij the effect of training
// on j on the loss of i (ALGORITHMS.md orientation: row = evaluated, column = trained). Train
// events carry the loss of each domain present in the batch (batch apportioned by largest
// remainder), eval events every domain's loss; `reference` is a fixed per-domain reference
// loss and `excess` its clipped difference.

import type { MixerEvent, OnlineMixer } from "../../mixers/types.js";
import { apportion } from "../../src/core/simplex.js";

export interface EnvSpec {
  readonly domains: readonly string[];
  readonly floor: readonly number[];
  readonly amp: readonly number[];
  /** (k × k), row = evaluated domain, column = trained domain. */
  readonly transfer: readonly (readonly number[])[];
  /** Loss scale of the exponent (in steps). */
  readonly tau: number;
  /** Reference model's loss per domain (DoReMi). */
  readonly reference?: readonly number[];
  /** Sequences per batch (apportioned by largest remainder). */
  readonly batch?: number;
  /** Tokens per sequence. */
  readonly seqLen?: number;
}

export class Env {
  readonly k: number;
  readonly trained: Float64Array;
  constructor(readonly spec: EnvSpec) {
    this.k = spec.domains.length;
    this.trained = new Float64Array(this.k);
  }

  loss(i: number): number {
    const { floor, amp, transfer, tau } = this.spec;
    let z = 0;
    for (let j = 0; j < this.k; j++) z += transfer[i]![j]! * this.trained[j]!;
    return floor[i]! + amp[i]! * Math.exp(-z / tau);
  }

  evalLosses(): Record<string, number> {
    const out: Record<string, number> = {};
    this.spec.domains.forEach((d, i) => (out[d] = this.loss(i)));
    return out;
  }

  /** Per-domain sequence counts of one batch from proportions p. */
  counts(p: Record<string, number>): Int32Array {
    return apportion(
      this.spec.domains.map((d) => p[d]!),
      this.spec.batch ?? 64,
    );
  }

  /** The train event of step `step` for batch counts `counts` (losses before the update). */
  trainEvent(step: number, counts: Int32Array): MixerEvent {
    const loss: Record<string, number> = {};
    const tokens: Record<string, number> = {};
    const reference: Record<string, number> = {};
    const excess: Record<string, number> = {};
    const seqLen = this.spec.seqLen ?? 128;
    this.spec.domains.forEach((d, i) => {
      if (counts[i]! === 0) return;
      loss[d] = this.loss(i);
      tokens[d] = counts[i]! * seqLen;
      const r = this.spec.reference?.[i] ?? 0;
      reference[d] = r;
      excess[d] = Math.max(loss[d]! - r, 0);
    });
    return { kind: "train", step, loss, tokens, reference, excess };
  }

  /** Trains one step on effective shares w (by domain). */
  train(w: Record<string, number>): void {
    this.spec.domains.forEach((d, i) => (this.trained[i] = this.trained[i]! + w[d]!));
  }
}

export type TapeEntry =
  | { readonly op: "evalDue"; readonly step: number; readonly value: boolean }
  | { readonly op: "proportions"; readonly value: Record<string, number> }
  | { readonly op: "observe"; readonly event: MixerEvent };

export interface DriveOptions {
  readonly steps: number;
  /** Split each step's train statistics into this many events (gradient accumulation). */
  readonly microBatches?: number;
  /** The shares the simulated model effectively trains on (default: proportions()). */
  readonly effective?: (m: OnlineMixer, proportions: Record<string, number>) => Record<string, number>;
  /** Called after each step with the proportions used. */
  readonly onStep?: (step: number, proportions: Record<string, number>) => void;
}

/** Runs the training loop of a mixer in the environment and returns the tape of the run. */
export function drive(m: OnlineMixer, env: Env, o: DriveOptions): TapeEntry[] {
  const tape: TapeEntry[] = [];
  const obs = (event: MixerEvent) => {
    m.observe(event);
    tape.push({ op: "observe", event });
  };
  for (let s = 0; s < o.steps; s++) {
    const due = m.evalDue(s);
    tape.push({ op: "evalDue", step: s, value: due });
    if (due) obs({ kind: "eval", step: s, loss: env.evalLosses() });
    const p = m.proportions();
    tape.push({ op: "proportions", value: p });
    const counts = env.counts(p);
    if (m.accepts.includes("train")) {
      const ev = env.trainEvent(s, counts);
      const parts = o.microBatches ?? 1;
      if (parts === 1) obs(ev);
      else for (let q = 0; q < parts; q++) obs(splitEvent(ev, parts));
    }
    env.train(o.effective ? o.effective(m, p) : p);
    o.onStep?.(s, p);
  }
  return tape;
}

/** One of `parts` equal micro-batches of a train event (same means, tokens / parts). */
function splitEvent(ev: MixerEvent, parts: number): MixerEvent {
  const tokens: Record<string, number> = {};
  for (const d in ev.tokens) tokens[d] = ev.tokens[d]! / parts;
  return { ...ev, tokens };
}

/**
 * Replays tape entries [from, to) on a mixer and returns the first mismatch of a proportions or
 * evalDue entry (null when identical).
 */
export function replay(m: OnlineMixer, tape: readonly TapeEntry[], from: number, to = tape.length): string | null {
  for (let i = from; i < to; i++) {
    const e = tape[i]!;
    if (e.op === "observe") m.observe(e.event);
    else if (e.op === "evalDue") {
      if (m.evalDue(e.step) !== e.value) return `entry ${i}: evalDue(${e.step}) differs`;
    } else {
      const p = m.proportions();
      for (const d in e.value) {
        if (!Object.is(p[d], e.value[d])) return `entry ${i}: proportions.${d} ${p[d]} ≠ ${e.value[d]}`;
      }
    }
  }
  return null;
}

/** The proportions entries of a tape. */
export function trajectory(tape: readonly TapeEntry[]): Record<string, number>[] {
  return tape.flatMap((e) => (e.op === "proportions" ? [e.value] : []));
}
