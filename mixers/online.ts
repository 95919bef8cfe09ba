// The registry of online mixers (ALGORITHMS.md §3): one line per method. The conformance suite,
// `mixlab train --online` and `mixlab serve` read it; a new method joins by adding its line.

import type { OnlineMixer, OnlineMixerFamily, OnlineMixerState } from "./types.js";
import { InputError } from "../src/errors.js";
import { odm } from "./odm/index.js";
import { doremi } from "./doremi/index.js";
import { skillit } from "./skillit/index.js";
import { aioli } from "./aioli/index.js";

/** Every online mixer by name. */
export const onlineMixers: Readonly<Record<string, OnlineMixerFamily<any>>> = {
  odm,
  doremi,
  skillit,
  aioli,
};

/** How `createOnlineMixer` builds a mixer. */
export interface CreateOnlineMixerOptions {
  /** Domain names: the keys of `proportions()` and of every event (at least 2, distinct). */
  readonly domains: readonly string[];
  /** uint32 seed of every random choice the mixer makes. */
  readonly seed: number;
  /** The method's options (validated by its zod schema; unknown keys are errors). Default {}. */
  readonly options?: Record<string, unknown>;
  /** A saved `state()` to continue from (same method, domains, seed and options). */
  readonly state?: OnlineMixerState;
}

/**
 * Creates an online mixer by name.
 * @param name a key of `onlineMixers` ("odm", "aioli", "skillit", "doremi")
 * @throws InputError for an unknown name, bad options, bad domains or seed, or a state that was
 *   not saved by this method with these domains, seed and options
 * @example
 * const mixer = createOnlineMixer("odm", { domains: ["web", "code"], seed: 1, options: { totalSteps: 10_000 } });
 * mixer.observe({ kind: "train", step: 0, loss: { web: 3.1, code: 1.2 }, tokens: { web: 6144, code: 2048 } });
 * mixer.proportions(); // { web: …, code: … }
 */
export function createOnlineMixer(name: string, init: CreateOnlineMixerOptions): OnlineMixer {
  const family = Object.hasOwn(onlineMixers, name) ? onlineMixers[name] : undefined;
  if (!family) {
    const names = Object.keys(onlineMixers).map((n) => JSON.stringify(n));
    throw new InputError("online mixer", `expected one of ${names.join(", ")}, got ${JSON.stringify(name)}`);
  }
  const options = family.parseOptions(init.options ?? {});
  const state = init.state !== undefined ? { state: init.state } : {};
  return family.create({ domains: init.domains, seed: init.seed, options, ...state });
}
