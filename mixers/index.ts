// The registry of laws: one line per method. `mixlab fit --method <name>` and the conformance
// suite read it; a new law joins by adding its line here.

import type { Law } from "./types.js";
import { regmix, regmixLinear } from "./regmix/index.js";
import { dml } from "./dml/index.js";
import { loglinear } from "./loglinear/index.js";
import { bimix } from "./bimix/index.js";
import { bayesopt } from "./bayesopt/index.js";
import { uniform, natural, temperature, unimax } from "./baselines/index.js";
import { createEnsembleLaw } from "./ensemble/index.js";
import { dcpt } from "./dcpt/index.js";
import type { Suggester } from "./types.js";
import { dirichletSwarm } from "./dirichlet/index.js";
import { bayesoptSuggester } from "./bayesopt/suggester.js";

/** Every law by name. */
export const laws: Readonly<Record<string, Law<any>>> = {
  regmix,
  "regmix-linear": regmixLinear,
  dml,
  loglinear,
  bimix,
  bayesopt,
  dcpt,
  ensemble: createEnsembleLaw(() => laws),
  uniform,
  natural,
  temperature,
  unimax,
};

/** Every suggester by name (`mixlab suggest --method <name>`, the suggester conformance suite). */
export const suggesters: Readonly<Record<string, Suggester<any>>> = {
  dirichlet: dirichletSwarm,
  bayesopt: bayesoptSuggester,
};

export type { Suggester, SuggestInput, Suggestion } from "./types.js";
export type { Law, FittedLaw, FitInput, Recommendation, ResolvedConstraints, SavedLaw } from "./types.js";
export { onlineMixers, createOnlineMixer, type CreateOnlineMixerOptions } from "./online.js";
