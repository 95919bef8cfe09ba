// Gathers what a report shows from a runs table (and optionally a proportions document and a
// saved law): the runs, cross-validated fit quality per law, the recommendation beside reference
// mixtures and the constraints, the law's response along each domain, the per-domain loss matrix,
// an online run's trajectory, and the fit's diagnostics. Sections appear only where the data has
// them; when one cannot be drawn the report says why instead of leaving it out silently.

import { z } from "zod";
import { laws } from "../../mixers/index.js";
import type { FittedLaw, SavedLaw } from "../../mixers/types.js";
import { crossValidate, fitInputOf, fitRuns, valuesByDomain } from "../fit.js";
import { createRng } from "../rng/index.js";
import { agreement, spearman, type AgreementReport } from "../core/stats.js";
import { resolveConstraints, type ConstraintSpec } from "../core/constraints.js";
import { resolveTarget, type RunsTable, type Target } from "../runs/table.js";
import type { Cell } from "../runs/frame.js";
import { InputError } from "../errors.js";
import { VERSION } from "../version.js";
import { renderSvg, countMarks, type VegaLiteSpec } from "./render.js";
import { fitSpec, lossesOverTokensSpec, matrixSpec, mixturesSpec, recommendationSpec, responseSpec } from "./specs.js";
import { weightsOverTokensSpec, type MixtureSeries, type RecommendationPlot } from "./specs.js";
import { DOMAIN_PALETTE } from "./palette.js";
import type { Diagnostic, ReportProportions } from "./inputs.js";

/** What a report is built from. */
export interface ReportOptions {
  /** The runs table; rows whose `status` is not "ok" are listed as failed and left out of fits. */
  readonly table: RunsTable;
  /**
   * Target spec (`loss.web`, `mean:loss.a,loss.b`); default: the saved law's, else the proportions',
   * else a `target` column, else `loss.mean`, else the mean of every `loss.*` column.
   */
  readonly target?: string;
  /**
   * Laws to fit and compare, one fit-quality panel each; the first gives the response curves and,
   * without `proportions`, the recommendation (default: the proportions' method when it learns, else regmix).
   */
  readonly methods?: readonly string[];
  /** Options per method (validated by each law's schema; default {}). */
  readonly optionsByMethod?: Readonly<Record<string, Record<string, unknown>>>;
  /** A saved law (`mixlab fit --save-model`) to use instead of fitting one. */
  readonly law?: SavedLaw;
  /** A proportions document (recommendation, constraints, diagnostics, online trajectory). */
  readonly proportions?: ReportProportions;
  /** Tokens available per domain (the natural mixture); default: the proportions' constraints. */
  readonly tokensPerDomain?: Readonly<Record<string, number>>;
  /** uint32 seed of the fits and cross-validation (default 0, as `mixlab fit`). */
  readonly seed?: number;
  /** Folds of the cross-validation (default 5). */
  readonly cvFolds?: number;
  /** Names shown in the header (default: the table's source; "proportions.json"). */
  readonly runsName?: string;
  readonly proportionsName?: string;
}

/** One plot: its Vega-Lite spec and the SVG it rendered to. */
export interface ReportFigure {
  readonly id: string;
  readonly caption: string;
  readonly spec: VegaLiteSpec;
  readonly svg: string;
  /** Data marks drawn (see countMarks). */
  readonly marks: number;
}

/** One section of the page: HTML paragraphs and tables, then figures. */
export interface ReportSection {
  readonly id: string;
  readonly title: string;
  /** Trusted HTML built by this module (every user string escaped). */
  readonly html: string;
  readonly figures: readonly ReportFigure[];
}

/** The whole report, ready for `reportHtml`. */
export interface Report {
  readonly title: string;
  /** Header facts (label, value). */
  readonly meta: readonly (readonly [string, string])[];
  readonly diagnostics: readonly Diagnostic[];
  readonly sections: readonly ReportSection[];
  /** Seconds spent fitting and rendering. */
  readonly seconds: { readonly fit: number; readonly render: number };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const fmt = (x: number, digits = 4): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const big = (x: number): string => (Math.abs(x) >= 1e4 ? x.toExponential(3) : String(Number(x.toPrecision(6))));
const record = (domains: readonly string[], v: ArrayLike<number>): Record<string, number> =>
  Object.fromEntries(domains.map((d, i) => [d, v[i]!]));

function htmlTable(header: readonly string[] | null, rows: readonly (readonly string[])[], numeric = true): string {
  const head = header ? `<thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>` : "";
  const cell = (c: string, j: number): string => `<td${numeric && j > 0 ? ' class="num"' : ""}>${escapeHtml(c)}</td>`;
  const body = rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("");
  return `<table>${head}<tbody>${body}</tbody></table>`;
}

function cellText(c: Cell | undefined): string {
  return c === null || c === undefined ? "" : String(c);
}

/** The table restricted to some rows (same columns, domains and validation). */
function subsetTable(t: RunsTable, rows: readonly number[]): RunsTable {
  const k = t.domains.length;
  const cells = new Map<string, Cell[]>();
  for (const [c, v] of t.frame.cells) cells.set(c, rows.map((r) => v[r]!));
  const text = t.frame.text ? new Map([...t.frame.text].map(([c, v]) => [c, rows.map((r) => v[r]!)])) : undefined;
  const weights = new Float64Array(rows.length * k);
  rows.forEach((r, i) => weights.set(t.weights.subarray(r * k, (r + 1) * k), i * k));
  const frame = { ...t.frame, cells, numRows: rows.length, ...(text ? { text } : {}) };
  return { ...t, frame, weights, numRuns: rows.length };
}

function defaultTarget(t: RunsTable, o: ReportOptions): string | null {
  if (o.target) return o.target;
  if (o.law) return o.law.target;
  if (o.proportions?.target) return o.proportions.target;
  if (t.frame.cells.has("target")) return "target";
  if (t.frame.cells.has("loss.mean")) return "loss.mean";
  const losses = t.frame.columns.filter((c) => c.startsWith("loss."));
  return losses.length ? `mean:${losses.join(",")}` : null;
}

/** Units of a target: losses are in nats per token; other columns keep their own unit. */
function targetAxis(spec: string): string {
  const cols = spec.startsWith("mean:") ? spec.slice(5).split(",") : [spec];
  return cols.every((c) => c.startsWith("loss.")) ? `${spec} (nats/token)` : spec;
}

/**
 * Renames the ids inside an SVG (vega numbers gradients and clip paths with a process-wide
 * counter) to `<prefix>-<n>` in order of appearance, with their `url(#…)` and `href="#…"`
 * references: ids stay unique among the page's inline SVGs and the same report is the same bytes.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!ids.has(m[1]!)) ids.set(m[1]!, `${prefix}-${ids.size}`);
  if (!ids.size) return svg;
  return svg.replace(/(\sid="|url\(#|href="#)([^")]+)/g, (all, head: string, id: string) =>
    (ids.has(id) ? `${head}${ids.get(id)!}` : all),
  );
}

async function figure(id: string, caption: string, spec: VegaLiteSpec): Promise<ReportFigure> {
  const svg = scopeSvgIds(await renderSvg(spec), `plot-${id}`);
  return { id, caption, spec, svg, marks: countMarks(svg) };
}

/** What every section builder reads. */
interface Context {
  readonly o: ReportOptions;
  readonly domains: readonly string[];
  /** Finished runs only. */
  readonly ok: RunsTable;
  readonly failedRows: readonly number[];
  readonly tokens: Float64Array | undefined;
  readonly seed: number;
  readonly propsName: string;
}

/** One law's scores: out-of-fold (or, for a saved law, in-sample) predictions against the target. */
interface Quality {
  readonly method: string;
  readonly cv: AgreementReport & { folds: number };
  readonly predicted: Float64Array;
  readonly measured: Float64Array;
  readonly inSample: boolean;
}

/** The fitted (or loaded) law and what it produced. */
interface Fits {
  readonly target: Target | null;
  readonly law: FittedLaw | null;
  readonly lawName: string;
  readonly quality: readonly Quality[];
  readonly recommendation: Float64Array | null;
  readonly notes: readonly string[];
}

async function runsSection(c: Context): Promise<ReportSection> {
  const t = c.o.table;
  const k = c.domains.length;
  const sum = (col: string): number | null => {
    const cells = c.ok.frame.cells.get(col);
    if (!cells) return null;
    let s = 0;
    for (const v of cells) if (typeof v === "number" && Number.isFinite(v)) s += v;
    return s;
  };
  // Failed runs: those buildRunsTable left out (t.failed), and any kept in the table with a status other than "ok".
  const errorCounts = new Map(t.failed.errors);
  const failedRows = [...t.failed.rows];
  const errors = t.frame.cells.get("error");
  for (const r of c.failedRows) {
    failedRows.push(t.frame.rowNumbers?.[r] ?? r + 1);
    const why = cellText(errors?.[r]) || "no error recorded";
    errorCounts.set(why, (errorCounts.get(why) ?? 0) + 1);
  }
  const total = c.ok.numRuns + failedRows.length;
  const facts: [string, string][] = [
    ["runs", `${total} (${c.ok.numRuns} finished, ${failedRows.length} failed)`],
    ["domains", `${k}: ${c.domains.join(", ")}`],
  ];
  const fidColumn = ["fidelity", "model", "params"].find((col) => t.frame.cells.has(col));
  if (fidColumn) {
    const counts = new Map<string, number>();
    for (const v of t.frame.cells.get(fidColumn)!) counts.set(cellText(v), (counts.get(cellText(v)) ?? 0) + 1);
    facts.push([`fidelities (${fidColumn})`, [...counts].map(([v, n]) => `${v || "(empty)"}: ${n}`).join(", ")]);
  }
  const tok = sum("tokens");
  if (tok !== null) facts.push(["training tokens (finished runs)", `${big(tok)} in total`]);
  const wall = sum("wall_s");
  if (wall !== null) facts.push(["wall time (finished runs)", `${wall.toFixed(1)} s in total`]);
  if (t.renormalised.rows) facts.push([
    "renormalised rows",
    `${t.renormalised.rows} (largest gap ${t.renormalised.maxGap.toPrecision(3)})`,
  ]);
  if (k > DOMAIN_PALETTE.length) {
    facts.push([
      "colours",
      `${k} domains share a ${DOMAIN_PALETTE.length}-colour palette: colours repeat, the order does not`,
    ]);
  }
  let html = htmlTable(null, facts, false);
  if (failedRows.length) {
    const rows = [...errorCounts].map(([why, n]) => [why, String(n)]);
    html +=
      `<h3>Failed runs (left out of every fit)</h3><p>Rows ${failedRows.sort((a, b) => a - b).join(", ")} of ` +
      `<code>${escapeHtml(t.source)}</code>.</p>${htmlTable(["error", "runs"], rows)}`;
  }
  const ok = c.ok;
  const shares: { domain: string; share: number }[] = [];
  for (let i = 0; i < ok.numRuns; i++)
    for (let j = 0; j < k; j++) shares.push({ domain: c.domains[j]!, share: ok.weights[i * k + j]! });
  const caption =
    "Share of each domain across the finished runs: box from the first to the third quartile, " +
    "whiskers to the extremes.";
  return {
    id: "runs",
    title: "Runs",
    html,
    figures: [await figure("runs-mixtures", caption, mixturesSpec(c.domains, shares))],
  };
}

/** The laws `mixlab fit --method auto` compared (its `fitQuality.auto.candidates`), when recorded. */
const AutoCandidates = z.object({
  auto: z.object({ candidates: z.array(z.object({ law: z.string(), chosen: z.boolean().optional() })) }),
});

/**
 * Laws to fit when none are named: the proportions' method (when it learns) first, then the other
 * registered laws its `fit --method auto` compared (at most four in all, to bound the time);
 * else RegMix.
 */
function defaultMethods(props: ReportProportions | undefined): string[] {
  const out: string[] = [];
  if (props?.method && laws[props.method]?.learns) out.push(props.method);
  const auto = AutoCandidates.safeParse(props?.fitQuality ?? {});
  if (auto.success) {
    const sorted = [...auto.data.auto.candidates].sort((a, b) => Number(b.chosen ?? false) - Number(a.chosen ?? false));
    for (const c of sorted) if (laws[c.law]?.learns && !out.includes(c.law) && out.length < 4) out.push(c.law);
  }
  return out.length ? out : ["regmix"];
}

/** Fits the laws (or loads the saved one) and cross-validates them. */
function fitLaws(c: Context): Fits {
  const { o, ok, domains, seed } = c;
  const k = domains.length;
  const folds = o.cvFolds ?? 5;
  const notes: string[] = [];
  const spec = ok.numRuns ? defaultTarget(ok, o) : null;
  if (!spec) {
    notes.push(
      ok.numRuns ? "No target: the table has no loss column; pass --target." : "No finished run: nothing to fit.",
    );
    return { target: null, law: null, lawName: "", quality: [], recommendation: null, notes };
  }
  const target = resolveTarget(ok, spec);
  if (o.law) {
    const saved = o.law;
    const family = laws[saved.method];
    if (!family) throw new InputError(
      "--law",
      `method: expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(saved.method)}`,
    );
    const law = family.load(saved.domains, saved.params);
    const lawName = `${saved.method} (saved law)`;
    // Table column j is the law's column order[j].
    const order = domains.map((d) => saved.domains.indexOf(d));
    const w = new Float64Array(ok.numRuns * k);
    for (let i = 0; i < ok.numRuns; i++) for (let j = 0; j < k; j++) w[i * k + order[j]!] = ok.weights[i * k + j]!;
    const predicted = law.predict(w);
    const cv = { ...agreement(predicted, target.values), folds: 0 };
    const quality = [{ method: lawName, cv, predicted, measured: target.values, inSample: true }];
    let recommendation: Float64Array | null = null;
    if (!o.proportions) {
      // The saved law's own unconstrained optimum, in the table's domain order.
      const rec = law.recommend(resolveConstraints(saved.domains), createRng(seed).derive("recommend"));
      recommendation = Float64Array.from(order, (j) => rec.proportions[j]!);
    }
    return { target, law, lawName, quality, recommendation, notes };
  }
  const props = o.proportions;
  const methods = o.methods?.length ? o.methods : defaultMethods(props);
  const needed = Math.max(2 * folds, k + 2);
  if (!o.methods?.length && ok.numRuns < needed) {
    notes.push(
      `Fit quality, response and matrix of a law need at least ${needed} finished runs ` +
        `(${folds}-fold cross-validation, ${k + 1} parameters per eval domain); the table has ${ok.numRuns}.`,
    );
    return { target, law: null, lawName: "", quality: [], recommendation: null, notes };
  }
  const tokenMap = c.tokens ? record(domains, c.tokens) : undefined;
  let law: FittedLaw | null = null;
  let recommendation: Float64Array | null = null;
  const quality: Quality[] = [];
  for (const [mi, m] of methods.entries()) {
    const options = laws[m]!.parseOptions(o.optionsByMethod?.[m] ?? {});
    const input = fitInputOf(ok, target, { tokensPerDomain: c.tokens });
    if (mi === 0 && props) {
      // The recommendation comes from the proportions file: fit only (the same law fitRuns fits).
      law = laws[m]!.fit(input, options, createRng(seed).derive("fit"));
    } else if (mi === 0) {
      const tokensPerDomain = tokenMap ? { tokensPerDomain: tokenMap } : {};
      const res = fitRuns({ table: ok, target: target.spec, method: m, seed, cvFolds: 0, options, ...tokensPerDomain });
      law = res.law;
      recommendation = res.recommendation.proportions;
    }
    if (folds < 2) {
      if (mi === 0) notes.push(`Fit quality: cross-validation is off (${folds} folds).`);
    } else if (ok.numRuns >= 2 * folds) {
      const predicted = new Float64Array(ok.numRuns);
      const cv = crossValidate(m, input, options, folds, createRng(seed).derive("cv"), predicted);
      quality.push({ method: m, cv, predicted, measured: target.values, inSample: false });
    } else notes.push(
      `${m}: ${ok.numRuns} finished runs are too few for ${folds}-fold cross-validation (at least ${2 * folds}).`,
    );
  }
  return { target, law, lawName: methods[0]!, quality, recommendation, notes };
}

async function fitSection(f: Fits, seed: number): Promise<ReportSection> {
  const axis = targetAxis(f.target!.spec);
  const header = ["law", "validation", "runs", "Spearman", "Kendall", "pairwise accuracy", "MSE", "R²"];
  const rows = f.quality.map((q) => [
    q.method, q.inSample ? "in-sample" : `${q.cv.folds}-fold`, String(q.cv.n), fmt(q.cv.spearman), fmt(q.cv.kendall),
    fmt(q.cv.pairwiseAccuracy), q.cv.mse.toPrecision(4), fmt(q.cv.rSquared),
  ]);
  const figures: ReportFigure[] = [];
  for (const q of f.quality) {
    const points = Array.from(q.predicted, (p, i) => ({ predicted: p, measured: q.measured[i]! }));
    const how = q.inSample
      ? "saved law, in-sample (not cross-validated)"
      : `${q.cv.folds}-fold cross-validated, ${q.cv.n} runs`;
    const scores =
      `Spearman ${fmt(q.cv.spearman, 3)} · Kendall ${fmt(q.cv.kendall, 3)} · ` +
      `pairwise ${fmt(q.cv.pairwiseAccuracy, 3)}`;
    const by = q.inSample ? "by the saved law" : "by a law fitted without it";
    const caption = `${q.method}: each dot is a run, predicted ${by}; dashed: predicted = measured.`;
    const id = `fit-${q.method.replace(/[^a-z0-9]+/gi, "-")}`;
    figures.push(await figure(id, caption, fitSpec({ title: q.method, subtitle: [how, scores], axis, rows: points })));
  }
  const intro =
    `<p>Target <code>${escapeHtml(f.target!.spec)}</code>, seed ${seed}. Rank agreement is what decides a mixture: ` +
    "pairwise accuracy is the share of run pairs the law orders like the measurements.</p>";
  return { id: "fit", title: "Fit quality", html: `${intro}${htmlTable(header, rows)}`, figures };
}

async function recommendationSection(
  c: Context,
  f: Fits,
  recShares: Readonly<Record<string, number>>,
): Promise<ReportSection> {
  const { domains, ok } = c;
  const k = domains.length;
  const props = c.o.proportions;
  const prior = new Float64Array(k);
  for (let i = 0; i < ok.numRuns; i++) for (let j = 0; j < k; j++) prior[j] += ok.weights[i * k + j]! / ok.numRuns;
  const refs: MixtureSeries[] = [];
  if (props?.withoutEpochCaps) refs.push({ name: "without epoch caps", shares: props.withoutEpochCaps.domains });
  if (ok.numRuns) refs.push({ name: "prior (mean of the runs)", shares: record(domains, prior) });
  refs.push({ name: "uniform", shares: record(domains, new Float64Array(k).fill(1 / k)) });
  if (c.tokens) {
    const total = c.tokens.reduce((a, b) => a + b, 0);
    refs.push({ name: "natural (token shares)", shares: record(domains, c.tokens.map((x) => x / total)) });
  }
  let bounds: RecommendationPlot["bounds"];
  let allowed: string[] | null = null;
  const spec = props?.constraints as ConstraintSpec | undefined;
  if (spec && Object.keys(spec).length) {
    const rc = resolveConstraints(domains, spec);
    const cappedBy = Object.fromEntries(domains.map((d, i) => [d, rc.epochCapped[i] ? "epoch cap" : "share bounds"]));
    bounds = { lower: record(domains, rc.box.lower), upper: record(domains, rc.box.upper), cappedBy };
    allowed = domains.map(
      (_, i) => `[${fmt(rc.box.lower[i]!, 3)}, ${fmt(rc.box.upper[i]!, 3)}]${rc.epochCapped[i] ? " (epoch cap)" : ""}`,
    );
  }
  const law = f.law;
  const predictOf = (shares: Readonly<Record<string, number>>): string => {
    if (!law) return "";
    return fmt(law.predict(Float64Array.from(law.domains, (d) => shares[d]!))[0]!);
  };
  const series = [{ name: "recommended", shares: recShares }, ...refs];
  const epochs = props?.epochs;
  const header = [
    "domain",
    ...series.map((s) => s.name),
    ...(allowed ? ["allowed"] : []),
    ...(epochs ? ["epochs"] : []),
  ];
  const rows = domains.map((d, i) => [
    d,
    ...series.map((s) => fmt(s.shares[d]!)),
    ...(allowed ? [allowed[i]!] : []),
    ...(epochs ? [fmt(epochs[d] ?? NaN, 2)] : []),
  ]);
  if (law) {
    const label = `predicted ${f.target?.spec ?? ""} by ${f.lawName} fitted here`;
    rows.push([label, ...series.map((s) => predictOf(s.shares)), ...(allowed ? [""] : []), ...(epochs ? [""] : [])]);
  }
  const from = props
    ? `from <code>${escapeHtml(c.propsName)}</code>${props.method ? ` (${escapeHtml(props.method)})` : ""}`
    : `the unconstrained optimum of ${escapeHtml(f.lawName)} ` +
      "(pass --proportions for the one you wrote with constraints)";
  const compared =
    `the mean mixture of the runs, the uniform mixture${c.tokens ? ", the natural token shares" : ""}` +
    (props?.withoutEpochCaps ? " and the optimum without epoch caps" : "");
  const caption =
    "Recommended shares (bars, domain colours) and the mixtures they are compared with (marks); " +
    "grey bands: the shares the constraints allow.";
  const plot = recommendationSpec({ domains, recommended: recShares, references: refs, ...(bounds ? { bounds } : {}) });
  return {
    id: "recommendation",
    title: "Recommendation",
    html: `<p>The recommended mixture ${from}, beside ${compared}.</p>${htmlTable(header, rows)}`,
    figures: [await figure("recommendation", caption, plot)],
  };
}

/** The law along each domain's share (0 → 1), the other domains keeping their recommended ratios. */
async function responseSection(
  c: Context,
  f: Fits,
  recShares: Readonly<Record<string, number>>,
): Promise<ReportSection> {
  const law = f.law!;
  const domains = c.domains;
  const k = domains.length;
  const grid = 41;
  const rec = Float64Array.from(law.domains, (d) => recShares[d]!);
  // Rows in the law's domain order; curve j varies the law's domain j.
  const w = new Float64Array(k * grid * k);
  for (let j = 0; j < k; j++) {
    const rest = 1 - rec[j]!;
    for (let g = 0; g < grid; g++) {
      const s = g / (grid - 1);
      const row = (j * grid + g) * k;
      for (let i = 0; i < k; i++)
        w[row + i] = i === j ? s : rest > 1e-12 ? (rec[i]! * (1 - s)) / rest : (1 - s) / (k - 1);
    }
  }
  const y = law.predict(w);
  const at = law.predict(rec)[0]!;
  const curve: { domain: string; share: number; predicted: number }[] = [];
  for (const d of domains) {
    const j = law.domains.indexOf(d);
    for (let g = 0; g < grid; g++) curve.push({ domain: d, share: g / (grid - 1), predicted: y[j * grid + g]! });
  }
  const dots = domains.map((d) => ({ domain: d, share: recShares[d]!, predicted: at }));
  const spec = f.target!.spec;
  const html =
    `<p>${escapeHtml(f.lawName)}'s predicted <code>${escapeHtml(spec)}</code> ` +
    "as one domain's share moves from 0 to 1 " +
    "and the other domains keep their recommended ratios. A flat curve: the law is indifferent to that domain; " +
    "a minimum away from the dot: the constraints hold the recommendation back.</p>";
  const caption = "Predicted target along each domain's share (lines); the recommendation (dots).";
  const plot = responseSpec({ domains, axis: targetAxis(spec), rows: curve, at: dots });
  return {
    id: "response",
    title: "Response around the recommendation",
    html,
    figures: [await figure("response", caption, plot)],
  };
}

/** DML's t, an online mixer's A, or rank correlations between shares and losses across runs. */
async function matrixSection(c: Context, f: Fits): Promise<ReportSection | null> {
  const { domains, ok } = c;
  const k = domains.length;
  const props = c.o.proportions;
  const A = props?.interaction;
  type Cellv = { train: string; eval: string; value: number };
  let m: {
    title: string;
    subtitle: string;
    legend: string;
    evalDomains: string[];
    rows: Cellv[];
    html: string;
  } | null = null;
  if (A) {
    // Rows and columns in the proportions document's domain order.
    const order = props!.orderedDomains;
    m = {
      title: `Interaction matrix A (${props!.online?.method ?? props!.method ?? "online mixer"})`,
      subtitle: "the online mixer's estimate: effect of training on a domain on each eval domain's loss",
      legend: "A",
      evalDomains: [...order],
      rows: order.flatMap((e, i) => order.map((d, j) => ({ train: d, eval: e, value: A[i]![j]! }))),
      html: "<p>The interaction matrix the online mixer estimated last (<code>details.diagnostics.A</code>).</p>",
    };
  } else if (f.law && f.law.method === "dml") {
    const comps = f.law.toParams().components as { name: string; t: Record<string, number> }[];
    const evals = comps.map((x) => x.name.replace(/^loss\./, ""));
    m = {
      title: "Data Mixing Law coefficients t",
      subtitle: "L_i = c_i + exp(t_i · r): negative t — more of that training domain lowers the eval loss",
      legend: "t",
      evalDomains: evals,
      rows: comps.flatMap((x, i) => domains.map((d) => ({ train: d, eval: evals[i]!, value: x.t[d]! }))),
      html: "<p>The fitted coefficients of the Data Mixing Law, one row per eval component.</p>",
    };
  } else if (ok.numRuns >= 3) {
    const lossCols = ok.frame.columns.filter((col) => col.startsWith("loss.") && col !== "loss.mean");
    const complete = (col: string): boolean =>
      ok.frame.cells.get(col)!.every((v) => typeof v === "number" && Number.isFinite(v));
    const evals = lossCols.filter(complete);
    const partial = lossCols.filter((col) => !complete(col));
    if (evals.length) {
      const rows: Cellv[] = [];
      const share = new Float64Array(ok.numRuns);
      for (const e of evals) {
        const loss = Float64Array.from(ok.frame.cells.get(e)!, (v) => v as number);
        for (let j = 0; j < k; j++) {
          for (let i = 0; i < ok.numRuns; i++) share[i] = ok.weights[i * k + j]!;
          const r = spearman(share, loss);
          rows.push({ train: domains[j]!, eval: e.slice(5), value: Number.isFinite(r) ? r : 0 });
        }
      }
      const left = partial.length
        ? ` Left out, for missing values in finished runs: ${escapeHtml(partial.join(", "))}.`
        : "";
      m = {
        title: "Rank correlation of share and loss",
        subtitle:
          `Spearman over ${ok.numRuns} runs: negative — runs with more of the training domain had a lower eval loss`,
        legend: "Spearman ρ",
        evalDomains: evals.map((e) => e.slice(5)),
        rows,
        html:
          `<p>Spearman rank correlation, across the ${ok.numRuns} finished runs, ` +
          "between each training domain's share " +
          `and each eval domain's loss (the law has no per-domain matrix of its own).${left}</p>`,
      };
    }
  }
  if (!m) return null;
  const caption = "Rows: eval domains (their loss); columns: training domains (their share).";
  const { title, subtitle, legend, evalDomains, rows } = m;
  const plot = matrixSpec({ title, subtitle, legend, trainDomains: domains, evalDomains, rows });
  return {
    id: "matrix",
    title: "Per-domain loss matrix",
    html: m.html,
    figures: [await figure("matrix", caption, plot)],
  };
}

async function onlineSection(c: Context): Promise<ReportSection> {
  const on = c.o.proportions!.online!;
  const domains = c.domains;
  const weights = on.trajectory.flatMap((p) =>
    domains.map((d) => ({ tokens: p.tokens, domain: d, share: p.proportions[d]! })),
  );
  const stacked = weightsOverTokensSpec({ domains, method: on.method, rows: weights });
  const figures = [
    await figure("online-weights", "Proportions over training tokens, stacked to 1 in domain order.", stacked),
  ];
  const kinds = [
    ["evalLoss", "eval", "Validation loss per domain"],
    ["trainLoss", "train", "Training loss per domain"],
  ] as const;
  for (const [key, id, label] of kinds) {
    const rows = on.trajectory.flatMap((p) => {
      const losses = p[key];
      return losses
        ? domains.filter((d) => losses[d] !== undefined).map((d) => ({ tokens: p.tokens, domain: d, loss: losses[d]! }))
        : [];
    });
    if (!rows.length) continue;
    const plot = lossesOverTokensSpec({ domains, title: label, axis: "loss (nats/token)", rows });
    figures.push(await figure(`online-${id}-loss`, `${label} over training tokens.`, plot));
  }
  const first = on.trajectory[0]!;
  const last = on.trajectory[on.trajectory.length - 1]!;
  const seedText = on.seed !== undefined ? `, seed ${on.seed}` : "";
  const intro =
    `<p>Online mixer <code>${escapeHtml(on.method)}</code>${seedText}: ${on.trajectory.length} recorded steps ` +
    `up to step ${last.step} (${big(last.tokens)} tokens).</p>`;
  const table = htmlTable(
    ["domain", "first", "last"],
    domains.map((d) => [d, fmt(first.proportions[d]!), fmt(last.proportions[d]!)]),
  );
  return { id: "online", title: "Online run", html: `${intro}${table}`, figures };
}

/**
 * Builds a report: fits (or loads) the law, cross-validates it, renders every plot to SVG.
 * @param o what to report on (see ReportOptions)
 * @returns the sections with their figures, for `reportHtml`
 * @throws InputError for an unknown method, a target the table lacks, or a proportions document or saved law
 *   whose domains differ from the table's
 */
export async function buildReport(o: ReportOptions): Promise<Report> {
  const t = o.table;
  const domains = t.domains;
  const seed = o.seed ?? 0;
  const props = o.proportions;
  const propsName = o.proportionsName ?? "proportions.json";
  const sameDomains = (names: readonly string[], source: string): void => {
    const extra = names.filter((d) => !domains.includes(d));
    const missing = domains.filter((d) => !names.includes(d));
    if (!extra.length && !missing.length) return;
    throw new InputError(
      source,
      `domains: expected the runs table's domains (${domains.join(", ")}), got ${names.join(", ")}`,
    );
  };
  if (props) sameDomains(props.orderedDomains, propsName);
  if (o.law) sameDomains(o.law.domains, "--law");
  for (const m of o.methods ?? []) {
    if (!laws[m]) throw new InputError(
      "--method",
      `expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(m)}`,
    );
  }
  const tokenSpec = o.tokensPerDomain ?? (props?.constraints?.tokensPerDomain as Record<string, number> | undefined);
  const tokenSource = o.tokensPerDomain ? "--tokens" : `${propsName}: constraints.tokensPerDomain`;
  const tokens = tokenSpec ? valuesByDomain(domains, tokenSpec, tokenSource) : undefined;

  // Rows whose status says they did not finish are listed, never fitted.
  const status = t.frame.cells.get("status");
  const okRows: number[] = [];
  const failedRows: number[] = [];
  for (let i = 0; i < t.numRuns; i++)
    (status && status[i] !== "ok" && status[i] !== null ? failedRows : okRows).push(i);
  const c: Context = { o, domains, ok: subsetTable(t, okRows), failedRows, tokens, seed, propsName };

  const r0 = performance.now();
  const sections: ReportSection[] = [await runsSection(c)];
  let renderMs = performance.now() - r0;
  const f0 = performance.now();
  const f = fitLaws(c);
  const fitSeconds = (performance.now() - f0) / 1000;
  const r1 = performance.now();
  if (f.notes.length) {
    const html = `<ul>${f.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>`;
    sections.push({ id: "notes", title: "Not shown", html, figures: [] });
  }
  if (f.quality.length) sections.push(await fitSection(f, seed));
  const recShares = props ? props.domains : f.recommendation ? record(domains, f.recommendation) : null;
  if (recShares) {
    sections.push(await recommendationSection(c, f, recShares));
    if (f.law) sections.push(await responseSection(c, f, recShares));
  }
  const matrix = await matrixSection(c, f);
  if (matrix) sections.push(matrix);
  if (props?.online) sections.push(await onlineSection(c));
  renderMs += performance.now() - r1;

  const meta: [string, string][] = [["runs", o.runsName ?? t.source]];
  if (props) meta.push(["proportions", propsName]);
  if (f.target) meta.push(["target", f.target.spec]);
  if (f.lawName) meta.push(["law", f.lawName]);
  meta.push(["seed", String(seed)], ["mixlab", VERSION]);
  const title = `mixlab report: ${o.runsName ?? t.source}`;
  return {
    title,
    meta,
    diagnostics: props?.diagnostics ?? [],
    sections,
    seconds: { fit: fitSeconds, render: renderMs / 1000 },
  };
}
