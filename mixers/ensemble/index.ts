// An equal-weight ensemble of laws: the prediction is the mean of the members' predictions, and
// the recommendation minimises that mean over the constraint box. `mixlab fit --method auto`
// builds one from the laws that cross-validate best and keeps it only when its out-of-fold
// predictions beat every single law on the selection criterion (src/core/selection.ts).
// Search: Dirichlet candidates around the prior at three concentrations and around each member's
// own recommendation, the best `topK` averaged (RegMix's rule, which smooths the trees' steps),
// then the average competes with the best single candidate on the ensemble's own prediction.

import { z } from "zod";
import type { Rng } from "../../src/rng/index.js";
import type { FitInput, FittedLaw, Law, ResolvedConstraints } from "../types.js";
import { parseOptions } from "../common/options.js";
import { priorOf } from "../common/prior.js";
import { sampleDirichlet } from "../../src/core/dirichlet.js";
import { repairMultiplicative } from "../../src/core/simplex.js";
import { TopKCollector } from "../../src/core/topk.js";
import { InputError } from "../../src/errors.js";

export const EnsembleOptionsSchema = z.strictObject({
  /** Member laws (registry names), at least two, each once. */
  members: z.array(z.string()).min(2).default(["regmix", "dml"]),
  /** Options per member, by name. */
  memberOptions: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  /** Candidates of the recommendation search (default 32,768). */
  numCandidates: z.number().int().min(16).default(32_768),
  /** Best candidates averaged (default 32). */
  topK: z.number().int().min(1).default(32),
});
export type EnsembleOptions = z.infer<typeof EnsembleOptionsSchema>;

/** Mean of the members' predictions. */
function meanPredict(members: readonly FittedLaw[], k: number) {
  return (mixtures: Float64Array, out: Float64Array = new Float64Array(mixtures.length / k)): Float64Array => {
    out.fill(0);
    for (const m of members) {
      const p = m.predict(mixtures);
      for (let i = 0; i < out.length; i++) out[i] = out[i]! + p[i]! / members.length;
    }
    return out;
  };
}

/**
 * Minimises `score` over the box: candidates around the prior (concentrations 1, 5, 20) and
 * around each start (concentration 50), the mean of the `topK` best against the single best.
 */
export function searchAround(
  score: (rows: Float64Array) => Float64Array,
  prior: Float64Array,
  starts: readonly Float64Array[],
  constraints: ResolvedConstraints,
  o: { numCandidates: number; topK: number },
  rng: Rng,
): { proportions: Float64Array; value: number; chosen: string } {
  const k = prior.length;
  const n = o.numCandidates;
  const rows = new Float64Array(n * k);
  const alpha = new Float64Array(k);
  const row = new Float64Array(k);
  for (let c = 0; c < n; c++) {
    const kind = c % (3 + starts.length);
    if (kind < 3) {
      const conc = [1, 5, 20][kind]!;
      for (let j = 0; j < k; j++) alpha[j] = Math.max(prior[j]! * conc, 1e-3);
    } else {
      const s = starts[kind - 3]!;
      for (let j = 0; j < k; j++) alpha[j] = s[j]! * 50 + 0.01;
    }
    sampleDirichlet(alpha, rng, row);
    rows.set(repairMultiplicative(row, constraints.box), c * k);
  }
  starts.forEach((s, i) => rows.set(repairMultiplicative(s, constraints.box), i * k));
  const v = score(rows);
  const top = new TopKCollector(Math.min(o.topK, n), k);
  for (let i = 0; i < n; i++) top.offer(v[i]!, rows, i * k);
  const { values, vectors } = top.results();
  const avg = new Float64Array(k);
  for (let i = 0; i < values.length; i++)
    for (let j = 0; j < k; j++) avg[j] = avg[j]! + vectors[i * k + j]! / values.length;
  let s = 0;
  for (const x of avg) s += x;
  for (let j = 0; j < k; j++) avg[j] = avg[j]! / s;
  const avgValue = score(avg)[0]!;
  return avgValue <= values[0]!
    ? { proportions: avg, value: avgValue, chosen: `mean of the best ${values.length}` }
    : { proportions: vectors.slice(0, k), value: values[0]!, chosen: "best candidate" };
}

function ensembleLaw(
  domains: readonly string[],
  names: readonly string[],
  members: FittedLaw[],
  prior: Float64Array,
  priorSource: string,
  o: EnsembleOptions,
): FittedLaw & { readonly members: readonly FittedLaw[] } {
  const k = domains.length;
  const predict = meanPredict(members, k);
  return {
    method: "ensemble",
    domains,
    members,
    info: { members: names, memberInfo: Object.fromEntries(names.map((n, i) => [n, members[i]!.info])) },
    predict,
    recommend(constraints, rng) {
      const starts = members.map((m, i) => m.recommend(constraints, rng.derive(`member ${names[i]}`)).proportions);
      const r = searchAround((rows) => predict(rows), prior, starts, constraints, o, rng.derive("search"));
      return {
        proportions: r.proportions,
        predicted: r.value,
        details: {
          search: "Dirichlet candidates around the prior and each member's recommendation, mean of the best",
          chosen: r.chosen,
          members: names,
          prior: priorSource,
        },
      };
    },
    toParams: () => ({
      options: o,
      prior: Array.from(prior),
      priorSource,
      members: names.map((n, i) => ({ method: n, params: members[i]!.toParams() })),
    }),
  };
}

/** The ensemble law over a registry (passed lazily, as the registry itself lists the ensemble). */
export function createEnsembleLaw(registry: () => Readonly<Record<string, Law<any>>>): Law<EnsembleOptions> {
  const memberLaw = (name: string): Law<any> => {
    const law = registry()[name];
    if (!law || name === "ensemble" || !law.learns) throw new InputError(
      "options of ensemble",
      "members: expected laws that learn (" +
        `${Object.entries(registry())
          .filter(([n, l]) => l.learns && n !== "ensemble")
          .map(([n]) => n)
          .join(", ")}), got ${JSON.stringify(name)}`,
    );
    return law;
  };
  return {
    name: "ensemble",
    summary:
      "Equal-weight ensemble of laws: mean prediction, minimised by a Dirichlet search around the prior " +
      "and the members' answers",
    paper: "— (model averaging; chosen by cross-validation in --method auto)",
    learns: true,
    parseOptions(raw) {
      const o = parseOptions(EnsembleOptionsSchema, raw, "ensemble");
      o.members.forEach(memberLaw);
      if (new Set(o.members).size !== o.members.length) throw new InputError(
        "options of ensemble",
        `members: expected each law once, got ${JSON.stringify(o.members)}`,
      );
      for (const [name, opts] of Object.entries(o.memberOptions)) {
        if (!o.members.includes(name)) throw new InputError(
          "options of ensemble",
          `memberOptions: expected keys among the members (${o.members.join(", ")}), got ${JSON.stringify(name)}`,
        );
        try {
          memberLaw(name).parseOptions(opts);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          throw new InputError(
            "options of ensemble",
            e.issues.map((i) => ({
              path: `memberOptions.${name}${i.path && i.path !== "options" ? `.${i.path}` : ""}`,
              message: i.message,
            })),
          );
        }
      }
      return o;
    },
    minRuns: (k, m) =>
      Math.max(...[2, ...EnsembleOptionsSchema.parse({}).members.map((n) => registry()[n]?.minRuns?.(k, m) ?? 2)]),
    fit(input: FitInput, o, rng) {
      const members = o.members.map((n) => {
        const law = memberLaw(n);
        return law.fit(input, law.parseOptions(o.memberOptions[n] ?? {}), rng.derive(`member ${n}`));
      });
      const { prior, source } = priorOf(input);
      return ensembleLaw(input.domains, o.members, members, prior, source, o);
    },
    refit(previous, input, o, rng) {
      const prev = (previous as FittedLaw & { members?: readonly FittedLaw[] }).members;
      const members = o.members.map((n, i) => {
        const law = memberLaw(n);
        const opts = law.parseOptions(o.memberOptions[n] ?? {});
        const r = rng.derive(`member ${n}`);
        return prev?.[i] && law.refit ? law.refit(prev[i]!, input, opts, r) : law.fit(input, opts, r);
      });
      const { prior, source } = priorOf(input);
      return ensembleLaw(input.domains, o.members, members, prior, source, o);
    },
    load(domains, params) {
      const o = parseOptions(EnsembleOptionsSchema, params.options, "ensemble");
      const saved = params.members as { method: string; params: Record<string, unknown> }[];
      const members = saved.map((m) => memberLaw(m.method).load(domains, m.params));
      return ensembleLaw(
        domains,
        saved.map((m) => m.method),
        members,
        Float64Array.from(params.prior as number[]),
        String(params.priorSource),
        o,
      );
    },
  };
}
