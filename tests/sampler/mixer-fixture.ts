// A small deterministic OnlineMixer for the sampler and trainer tests: proportions ∝
// exp(η · last training loss) of each domain (toward the domain whose loss stays high), mixed with
// uniform, so every domain keeps a share. It implements mixers/types.ts OnlineMixer in full.
import { InputError } from "../../src/errors.js";
import type { MixerEvent, OnlineMixer, OnlineMixerState } from "../../mixers/types.js";

export interface ChaserOptions {
  readonly eta?: number;
  /** Ask for an evaluation every this many steps (0: never). */
  readonly evalEvery?: number;
}

/** Creates the test mixer, or restores it from `state`. */
export function createChaser(
  domains: readonly string[],
  options: ChaserOptions = {},
  state?: OnlineMixerState,
): OnlineMixer & { readonly events: number } {
  const eta = options.eta ?? 2;
  const every = options.evalEvery ?? 0;
  let last: Record<string, number> = Object.fromEntries(domains.map((d) => [d, 0]));
  let lastStep = -1;
  let events = 0;
  let sum: Record<string, number> = Object.fromEntries(domains.map((d) => [d, 0]));
  if (state) {
    if (state.method !== "chaser") throw new InputError("state", `expected a chaser state, got ${state.method}`);
    last = { ...(state.data.last as Record<string, number>) };
    sum = { ...(state.data.sum as Record<string, number>) };
    lastStep = state.data.lastStep as number;
    events = state.data.events as number;
  }
  const proportions = (): Record<string, number> => {
    const m = Math.max(...domains.map((d) => last[d]!));
    const w = domains.map((d) => Math.exp(eta * (last[d]! - m)));
    const s = w.reduce((a, b) => a + b, 0);
    return Object.fromEntries(domains.map((d, i) => [d, 0.5 * (w[i]! / s) + 0.5 / domains.length]));
  };
  return {
    method: "chaser",
    domains,
    accepts: ["train", "eval"],
    get events() {
      return events;
    },
    proportions,
    observe(e: MixerEvent) {
      if (e.step < lastStep) throw new InputError("observe", `step: expected ≥ ${lastStep}, got ${e.step}`);
      for (const [d, v] of Object.entries(e.loss)) {
        if (!domains.includes(d)) {
          throw new InputError("observe", `loss: expected a known domain, got ${JSON.stringify(d)}`);
        }
        if (!Number.isFinite(v)) throw new InputError("observe", `loss.${d}: expected a finite number, got ${v}`);
        if (e.kind === "train") last[d] = v;
      }
      lastStep = e.step;
      events++;
      const p = proportions();
      for (const d of domains) sum[d] = sum[d]! + p[d]!;
    },
    evalDue(step: number) {
      return every > 0 && step > 0 && step % every === 0;
    },
    summary() {
      const n = Math.max(events, 1);
      return events ? Object.fromEntries(domains.map((d) => [d, sum[d]! / n])) : proportions();
    },
    diagnostics() {
      return { events };
    },
    state(): OnlineMixerState {
      return {
        format: "mixlab.online-mixer/v1",
        method: "chaser",
        domains: [...domains],
        data: { last: { ...last }, sum: { ...sum }, lastStep, events },
      };
    },
  };
}

/** Per-domain loss sums and tokens of several ranks merged in rank order (loss = Σ loss·tokens / Σ tokens). */
export function mergeStats(
  perRank: readonly { loss: Record<string, number>; tokens: Record<string, number> }[],
): { loss: Record<string, number>; tokens: Record<string, number> } {
  const sum: Record<string, number> = {};
  const tok: Record<string, number> = {};
  for (const r of perRank) {
    for (const d of Object.keys(r.loss).sort()) {
      sum[d] = (sum[d] ?? 0) + r.loss[d]! * r.tokens[d]!;
      tok[d] = (tok[d] ?? 0) + r.tokens[d]!;
    }
  }
  return { loss: Object.fromEntries(Object.keys(sum).map((d) => [d, sum[d]! / tok[d]!])), tokens: tok };
}
