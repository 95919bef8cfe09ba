// Gathers what a report shows from a runs table (and optionally a proportions document and a
// saved law): the runs, cross-validated fit quality per law, the recommendation beside reference
// mixtures and the constraints, the law's response along each domain, the per-domain loss matrix,
// an online run's trajectory, and the fit's diagnostics. Sections appear only where the data has
// them; when one cannot be drawn the report says why instead of leaving it out silently.

import { laws } from "../../mixers/index.js";
import type { FittedLaw, SavedLaw } from "../../mixers/types.js";
import { crossValidate, fitInputOf, fitRuns, valuesByDomain } from "../fit.js";
import { createRng } from "../rng/index.js";
import { agreement, spearman, type AgreementReport } from "../core/stats.js";
import { resolveConstraints, type ConstraintSpec } from "../core/constraints.js";
import { resolveTarget, type RunsTable } from "../runs/table.js";
import type { Cell } from "../runs/frame.js";
import { InputError } from "../errors.js";
import { VERSION } from "../version.js";
import { renderSvg, countMarks, type VegaLiteSpec } from "./render.js";
import { fitSpec, lossesOverTokensSpec, matrixSpec, mixturesSpec, recommendationSpec, responseSpec, weightsOverTokensSpec, type MixtureSeries } from "./specs.js";
import { DOMAIN_PALETTE } from "./palette.js";
import type { Diagnostic, ReportProportions } from "./inputs.js";

/** What a report is built from. */
export interface ReportOptions {
  /** The runs table; rows whose `status` is not "ok" are listed as failed and left out of fits. */
  readonly table: RunsTable;
  /** Target spec (`loss.web`, `mean:loss.a,loss.b`); default: the proportions' target, else a `target` column, else `loss.mean`, else the mean of every `loss.*` column. */
  readonly target?: string;
  /** Laws to fit and compare, one fit-quality panel each; the first gives the response curves and, without `proportions`, the recommendation (default: the proportions' method when it learns, else regmix). */
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
  /** Names shown in the header (default: the table's source). */
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
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const fmt = (x: number, digits = 4): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const big = (x: number): string => (Math.abs(x) >= 1e4 ? x.toExponential(3) : String(Number(x.toPrecision(6))));

function htmlTable(header: readonly string[], rows: readonly (readonly string[])[], numeric = true): string {
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c, j) => `<td${numeric && j > 0 ? ' class="num"' : ""}>${escapeHtml(c)}</td>`).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
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
  return { ...t, frame: { ...t.frame, cells, numRows: rows.length, ...(text ? { text } : {}) }, weights, numRuns: rows.length };
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

const record = (domains: readonly string[], v: ArrayLike<number>): Record<string, number> => Object.fromEntries(domains.map((d, i) => [d, v[i]!]));

/**
 * Renames the ids inside an SVG (vega numbers gradients and clip paths with a process-wide
 * counter) to `<prefix>-<n>` in order of appearance, with their `url(#…)` and `href="#…"`
 * references: ids stay unique among the page's inline SVGs and the same report is the same bytes.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!ids.has(m[1]!)) ids.set(m[1]!, `${prefix}-${ids.size}`);
  if (!ids.size) return svg;
  return svg.replace(/(\sid="|url\(#|href="#)([^")]+)/g, (all, head: string, id: string) => (ids.has(id) ? `${head}${ids.get(id)!}` : all));
}

async function figure(id: string, caption: string, spec: VegaLiteSpec): Promise<ReportFigure> {
  const svg = scopeSvgIds(await renderSvg(spec), `plot-${id}`);
  return { id, caption, spec, svg, marks: countMarks(svg) };
}

/**
 * Builds a report: fits (or loads) the law, cross-validates it, renders every plot to SVG.
 * @throws InputError for an unknown method, a target the table lacks, or a proportions document or saved law whose domains differ from the table's
 */
export async function buildReport(o: ReportOptions): Promise<Report> {
  const t = o.table;
  const domains = t.domains;
  const k = domains.length;
  const seed = o.seed ?? 0;
  const folds = o.cvFolds ?? 5;
  const props = o.proportions;
  const propsName = o.proportionsName ?? "proportions.json";
  const sameDomains = (names: readonly string[], source: string): void => {
    const extra = names.filter((d) => !domains.includes(d));
    const missing = domains.filter((d) => !names.includes(d));
    if (extra.length || missing.length) throw new InputError(source, `domains: expected the runs table's domains (${domains.join(", ")}), got ${names.join(", ")}`);
  };
  if (props) sameDomains(props.orderedDomains, propsName);
  if (o.law) sameDomains(o.law.domains, "--law");
  for (const m of o.methods ?? []) if (!laws[m]) throw new InputError("--method", `expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(m)}`);
  const tokensSpec = o.tokensPerDomain ?? (props?.constraints?.tokensPerDomain as Record<string, number> | undefined);
  const tokens = tokensSpec ? valuesByDomain(domains, tokensSpec, o.tokensPerDomain ? "--tokens" : `${propsName}: constraints.tokensPerDomain`) : undefined;

  // Runs: which finished, which failed.
  const status = t.frame.cells.get("status");
  const errors = t.frame.cells.get("error");
  const okRows: number[] = [];
  const failedRows: number[] = [];
  for (let i = 0; i < t.numRuns; i++) (status && status[i] !== "ok" && status[i] !== null ? failedRows : okRows).push(i);
  const ok = subsetTable(t, okRows);
  const sections: ReportSection[] = [];
  const sum = (col: string): number | null => {
    const c = ok.frame.cells.get(col);
    if (!c) return null;
    let s = 0;
    for (const v of c) if (typeof v === "number" && Number.isFinite(v)) s += v;
    return s;
  };
  const renderStart = performance.now();
  let renderSeconds = 0;
  {
    const facts: [string, string][] = [
      ["runs", `${t.numRuns} (${okRows.length} finished, ${failedRows.length} failed)`],
      ["domains", `${k}: ${domains.join(", ")}`],
    ];
    const fid = t.frame.cells.get("fidelity") ?? t.frame.cells.get("model") ?? t.frame.cells.get("params");
    if (fid) {
      const counts = new Map<string, number>();
      for (const v of fid) counts.set(cellText(v), (counts.get(cellText(v)) ?? 0) + 1);
      const col = t.frame.cells.has("fidelity") ? "fidelity" : t.frame.cells.has("model") ? "model" : "params";
      facts.push([`fidelities (${col})`, [...counts].map(([v, n]) => `${v || "(empty)"}: ${n}`).join(", ")]);
    }
    const tok = sum("tokens");
    if (tok !== null) facts.push(["training tokens (finished runs)", `${big(tok)} in total`]);
    const wall = sum("wall_s");
    if (wall !== null) facts.push(["wall time (finished runs)", `${wall.toFixed(1)} s in total`]);
    if (t.renormalised.rows) facts.push(["renormalised rows", `${t.renormalised.rows} (largest gap ${t.renormalised.maxGap.toPrecision(3)})`]);
    if (k > DOMAIN_PALETTE.length) facts.push(["colours", `${k} domains share a ${DOMAIN_PALETTE.length}-colour palette: colours repeat, the order does not`]);
    let html = htmlTable(["", ""], facts, false).replace("<thead><tr><th></th><th></th></tr></thead>", "");
    if (failedRows.length) {
      html += `<h3>Failed runs (left out of every fit)</h3>${htmlTable(["row", "run", "error"], failedRows.map((r) => [String(r + 1), cellText(t.frame.cells.get("run_id")?.[r]), cellText(errors?.[r]) || "(no error recorded)"]), false)}`;
    }
    const shareRows: { domain: string; share: number }[] = [];
    for (let i = 0; i < t.numRuns; i++) for (let j = 0; j < k; j++) shareRows.push({ domain: domains[j]!, share: t.weights[i * k + j]! });
    sections.push({ id: "runs", title: "Runs", html, figures: [await figure("runs-mixtures", "Share of each domain across the runs: box from the first to the third quartile, whiskers to the extremes.", mixturesSpec(domains, shareRows))] });
  }
  renderSeconds += (performance.now() - renderStart) / 1000;

  // Fits.
  const notes: string[] = [];
  const targetSpec = defaultTarget(ok, o);
  const fitStart = performance.now();
  let law: FittedLaw | null = null;
  let lawName = "";
  const quality: { method: string; cv: AgreementReport & { folds: number }; predicted: Float64Array; measured: Float64Array; inSample: boolean }[] = [];
  let recommendation: { proportions: Float64Array; predicted: number } | null = null;
  const target = targetSpec && okRows.length ? resolveTarget(ok, targetSpec) : null;
  if (!target) notes.push(okRows.length ? "No target: the table has no loss column; pass --target." : "No finished run: nothing to fit.");
  if (target && o.law) {
    const saved = o.law;
    const lawDef = laws[saved.method];
    if (!lawDef) throw new InputError("--law", `method: expected one of ${Object.keys(laws).join(", ")}, got ${JSON.stringify(saved.method)}`);
    law = lawDef.load(saved.domains, saved.params);
    lawName = `${saved.method} (saved law)`;
    const order = domains.map((d) => saved.domains.indexOf(d));
    const w = new Float64Array(ok.numRuns * k);
    for (let i = 0; i < ok.numRuns; i++) for (let j = 0; j < k; j++) w[i * k + order[j]!] = ok.weights[i * k + j]!;
    const predicted = law.predict(w);
    quality.push({ method: lawName, cv: { ...agreement(predicted, target.values), folds: 0 }, predicted, measured: target.values, inSample: true });
    if (!props) {
      // The saved law's own unconstrained optimum, in the table's domain order.
      const rec = law.recommend(resolveConstraints(saved.domains), createRng(seed).derive("recommend"));
      recommendation = { proportions: Float64Array.from(order, (j) => rec.proportions[j]!), predicted: rec.predicted };
    }
  } else if (target) {
    const methods = o.methods?.length ? o.methods : props?.method && laws[props.method]?.learns ? [props.method] : ["regmix"];
    const explicit = Boolean(o.methods?.length);
    const needed = Math.max(2 * folds, k + 2);
    if (!explicit && ok.numRuns < needed) {
      notes.push(`Fit quality, response and matrix of a law need at least ${needed} finished runs (${folds}-fold cross-validation, ${k + 1} parameters per eval domain); the table has ${ok.numRuns}.`);
    } else {
      const tokenMap = tokens ? record(domains, tokens) : undefined;
      for (const [mi, m] of methods.entries()) {
        const options = laws[m]!.parseOptions(o.optionsByMethod?.[m] ?? {});
        const input = fitInputOf(ok, target, { tokensPerDomain: tokens });
        if (mi === 0 && props) {
          // The recommendation comes from the proportions file: fit only (the same law fitRuns fits).
          law = laws[m]!.fit(input, options, createRng(seed).derive("fit"));
          lawName = m;
        } else if (mi === 0) {
          const res = fitRuns({ table: ok, target: target.spec, method: m, seed, cvFolds: 0, options, ...(tokenMap ? { tokensPerDomain: tokenMap } : {}) });
          law = res.law;
          lawName = m;
          recommendation = res.recommendation;
        }
        if (folds >= 2 && ok.numRuns >= 2 * folds) {
          const predicted = new Float64Array(ok.numRuns);
          const cv = crossValidate(m, input, options, folds, createRng(seed).derive("cv"), predicted);
          quality.push({ method: m, cv, predicted, measured: target.values, inSample: false });
        } else notes.push(`${m}: ${ok.numRuns} finished runs are too few for ${folds}-fold cross-validation (at least ${2 * folds}).`);
      }
    }
  }
  const fitSeconds = (performance.now() - fitStart) / 1000;
  const r0 = performance.now();
  const axis = target ? targetAxis(target.spec) : "";

  if (quality.length) {
    const rows = quality.map((q) => [q.method, q.inSample ? "in-sample" : `${q.cv.folds}-fold`, String(q.cv.n), fmt(q.cv.spearman), fmt(q.cv.kendall), fmt(q.cv.pairwiseAccuracy), q.cv.mse.toPrecision(4), fmt(q.cv.rSquared)]);
    const figures: ReportFigure[] = [];
    for (const q of quality) {
      const pts = Array.from(q.predicted, (p, i) => ({ predicted: p, measured: q.measured[i]! }));
      const how = q.inSample ? "saved law, in-sample (not cross-validated)" : `${q.cv.folds}-fold cross-validated, ${q.cv.n} runs`;
      figures.push(await figure(`fit-${q.method.replace(/[^a-z0-9]+/gi, "-")}`, `${q.method}: each dot is a run, predicted ${q.inSample ? "by the saved law" : "by a law fitted without it"}; dashed: predicted = measured.`, fitSpec({ title: q.method, subtitle: [how, `Spearman ${fmt(q.cv.spearman, 3)} · Kendall ${fmt(q.cv.kendall, 3)} · pairwise ${fmt(q.cv.pairwiseAccuracy, 3)}`], axis, rows: pts })));
    }
    sections.push({ id: "fit", title: "Fit quality", html: `<p>Target <code>${escapeHtml(target!.spec)}</code>, seed ${seed}. Rank agreement is what decides a mixture: pairwise accuracy is the share of run pairs the law orders like the measurements.</p>${htmlTable(["law", "validation", "runs", "Spearman", "Kendall", "pairwise accuracy", "MSE", "R²"], rows)}`, figures });
  }

  // Recommendation beside the references.
  const recShares = props ? props.domains : recommendation ? record(domains, recommendation.proportions) : null;
  if (recShares) {
    const prior = new Float64Array(k);
    for (let i = 0; i < ok.numRuns; i++) for (let j = 0; j < k; j++) prior[j] += ok.weights[i * k + j]! / Math.max(1, ok.numRuns);
    const refs: MixtureSeries[] = [];
    if (props?.withoutEpochCaps) refs.push({ name: "without epoch caps", shares: props.withoutEpochCaps.domains });
    if (ok.numRuns) refs.push({ name: "prior (mean of the runs)", shares: record(domains, prior) });
    refs.push({ name: "uniform", shares: record(domains, new Float64Array(k).fill(1 / k)) });
    if (tokens) {
      const tot = tokens.reduce((a, b) => a + b, 0);
      refs.push({ name: "natural (token shares)", shares: record(domains, tokens.map((x) => x / tot)) });
    }
    let bounds: Parameters<typeof recommendationSpec>[0]["bounds"];
    let boundText: string[] | null = null;
    const c = props?.constraints as ConstraintSpec | undefined;
    if (c && Object.keys(c).length) {
      const rc = resolveConstraints(domains, c);
      bounds = { lower: record(domains, rc.box.lower), upper: record(domains, rc.box.upper), cappedBy: Object.fromEntries(domains.map((d, i) => [d, rc.epochCapped[i] ? "epoch cap" : "share bounds"])) };
      boundText = domains.map((_, i) => `[${fmt(rc.box.lower[i]!, 3)}, ${fmt(rc.box.upper[i]!, 3)}]${rc.epochCapped[i] ? " (epoch cap)" : ""}`);
    }
    const predictOf = (shares: Readonly<Record<string, number>>): string => (law ? fmt(law.predict(Float64Array.from(domains, (d) => shares[d]!))[0]!) : "");
    const series = [{ name: "recommended", shares: recShares }, ...refs];
    const header = ["domain", ...series.map((s) => s.name), ...(boundText ? ["allowed"] : []), ...(props?.epochs ? ["epochs"] : [])];
    const rows = domains.map((d, i) => [d, ...series.map((s) => fmt(s.shares[d]!)), ...(boundText ? [boundText[i]!] : []), ...(props?.epochs ? [fmt(props.epochs[d] ?? NaN, 2)] : [])]);
    if (law) rows.push([`predicted ${target?.spec ?? ""} by ${lawName} fitted here`, ...series.map((s) => predictOf(s.shares)), ...(boundText ? [""] : []), ...(props?.epochs ? [""] : [])]);
    const from = props ? `from <code>${escapeHtml(propsName)}</code>${props.method ? ` (${escapeHtml(props.method)})` : ""}` : `the unconstrained optimum of ${escapeHtml(lawName)} (pass --proportions for the one you wrote with constraints)`;
    sections.push({
      id: "recommendation",
      title: "Recommendation",
      html: `<p>The recommended mixture ${from}, beside the mean mixture of the runs, the uniform mixture${tokens ? ", the natural token shares" : ""}${props?.withoutEpochCaps ? " and the optimum without epoch caps" : ""}.</p>${htmlTable(header, rows)}`,
      figures: [await figure("recommendation", "Recommended shares (bars, domain colours) and the mixtures they are compared with (marks); grey bands: the shares the constraints allow.", recommendationSpec({ domains, recommended: recShares, references: refs, ...(bounds ? { bounds } : {}) }))],
    });

    // Response along each domain.
    if (law) {
      const grid = 41;
      const rec = Float64Array.from(domains, (d) => recShares[d]!);
      const w = new Float64Array(k * grid * k);
      for (let j = 0; j < k; j++) {
        for (let g = 0; g < grid; g++) {
          const s = g / (grid - 1);
          const row = (j * grid + g) * k;
          const rest = 1 - rec[j]!;
          for (let i = 0; i < k; i++) w[row + i] = i === j ? s : rest > 1e-12 ? (rec[i]! * (1 - s)) / rest : (1 - s) / (k - 1);
        }
      }
      const lawOrder = law.domains.map((d) => domains.indexOf(d));
      const permute = (m: Float64Array): Float64Array => {
        const out = new Float64Array(m.length);
        for (let r = 0; r < m.length / k; r++) for (let i = 0; i < k; i++) out[r * k + i] = m[r * k + lawOrder[i]!]!;
        return out;
      };
      const y = law.predict(permute(w));
      const at = law.predict(permute(rec))[0]!;
      const curve: { domain: string; share: number; predicted: number }[] = [];
      for (let j = 0; j < k; j++) for (let g = 0; g < grid; g++) curve.push({ domain: domains[j]!, share: g / (grid - 1), predicted: y[j * grid + g]! });
      sections.push({
        id: "response",
        title: "Response around the recommendation",
        html: `<p>${escapeHtml(lawName)}'s predicted <code>${escapeHtml(target?.spec ?? "")}</code> as one domain's share moves from 0 to 1 and the other domains keep their recommended ratios. A flat curve: the law is indifferent to that domain; a minimum away from the dot: the constraints hold the recommendation back.</p>`,
        figures: [await figure("response", "Predicted target along each domain's share (lines); the recommendation (dots).", responseSpec({ domains, axis, rows: curve, at: domains.map((d, j) => ({ domain: d, share: rec[j]!, predicted: at })) }))],
      });
    }
  }

  // Per-domain loss matrix.
  {
    const A = props?.online?.diagnostics?.A as Record<string, Record<string, number>> | undefined;
    let m: { title: string; subtitle: string; legend: string; evalDomains: string[]; rows: { train: string; eval: string; value: number }[]; html: string } | null = null;
    if (A && typeof A === "object") {
      const evals = Object.keys(A);
      m = { title: `Interaction matrix A (${props!.online!.method})`, subtitle: "the online mixer's estimate: effect of training on a domain on each eval domain's loss", legend: "A", evalDomains: evals, rows: evals.flatMap((e) => domains.map((d) => ({ train: d, eval: e, value: Number(A[e]![d] ?? NaN) }))), html: "<p>The interaction matrix the online mixer estimated last (from its diagnostics).</p>" };
    } else if (law && law.method === "dml") {
      const comps = law.toParams().components as { name: string; t: Record<string, number> }[];
      const evals = comps.map((c) => c.name.replace(/^loss\./, ""));
      m = { title: "Data Mixing Law coefficients t", subtitle: "L_i = c_i + exp(t_i · r): negative t — more of that training domain lowers the eval loss", legend: "t", evalDomains: evals, rows: comps.flatMap((c, i) => domains.map((d) => ({ train: d, eval: evals[i]!, value: c.t[d]! }))), html: "<p>The fitted coefficients of the Data Mixing Law, one row per eval component.</p>" };
    } else if (ok.numRuns >= 3) {
      const lossCols = ok.frame.columns.filter((c) => c.startsWith("loss.") && c !== "loss.mean");
      const complete = (c: string): boolean => ok.frame.cells.get(c)!.every((v) => typeof v === "number" && Number.isFinite(v));
      const evals = lossCols.filter(complete);
      const partial = lossCols.filter((c) => !complete(c));
      if (evals.length) {
        const rows: { train: string; eval: string; value: number }[] = [];
        for (const e of evals) {
          const loss = Float64Array.from(ok.frame.cells.get(e)!, (v) => v as number);
          for (let j = 0; j < k; j++) {
            const share = new Float64Array(ok.numRuns);
            for (let i = 0; i < ok.numRuns; i++) share[i] = ok.weights[i * k + j]!;
            const r = spearman(share, loss);
            rows.push({ train: domains[j]!, eval: e.slice(5), value: Number.isFinite(r) ? r : 0 });
          }
        }
        m = { title: "Rank correlation of share and loss", subtitle: `Spearman over ${ok.numRuns} runs: negative — runs with more of the training domain had a lower eval loss`, legend: "Spearman ρ", evalDomains: evals.map((e) => e.slice(5)), rows, html: `<p>Spearman rank correlation, across the ${ok.numRuns} finished runs, between each training domain's share and each eval domain's loss (the law has no per-domain matrix of its own).${partial.length ? ` Left out, for missing values in finished runs: ${escapeHtml(partial.join(", "))}.` : ""}</p>` };
      }
    }
    if (m) sections.push({ id: "matrix", title: "Per-domain loss matrix", html: m.html, figures: [await figure("matrix", "Rows: eval domains (their loss); columns: training domains (their share).", matrixSpec({ title: m.title, subtitle: m.subtitle, legend: m.legend, trainDomains: domains, evalDomains: m.evalDomains, rows: m.rows }))] });
  }

  // Online run.
  if (props?.online) {
    const on = props.online;
    const weights = on.trajectory.flatMap((p) => domains.map((d) => ({ tokens: p.tokens, domain: d, share: p.proportions[d]! })));
    const figures = [await figure("online-weights", "Proportions over training tokens, stacked to 1 in domain order.", weightsOverTokensSpec({ domains, method: on.method, rows: weights }))];
    for (const [key, label] of [["evalLoss", "Validation loss per domain"], ["trainLoss", "Training loss per domain"]] as const) {
      const rows = on.trajectory.flatMap((p) => (p[key] ? Object.entries(p[key]).filter(([d]) => domains.includes(d)).map(([d, v]) => ({ tokens: p.tokens, domain: d, loss: v })) : []));
      if (rows.length) figures.push(await figure(`online-${key === "evalLoss" ? "eval" : "train"}-loss`, `${label} over training tokens.`, lossesOverTokensSpec({ domains, title: label, axis: "loss (nats/token)", rows })));
    }
    const last = on.trajectory[on.trajectory.length - 1]!;
    const html = `<p>Online mixer <code>${escapeHtml(on.method)}</code>${on.seed !== undefined ? `, seed ${on.seed}` : ""}: ${on.trajectory.length} recorded steps up to step ${last.step} (${big(last.tokens)} tokens).</p>${htmlTable(["domain", "first", "last"], domains.map((d) => [d, fmt(on.trajectory[0]!.proportions[d]!), fmt(last.proportions[d]!)]))}`;
    sections.push({ id: "online", title: "Online run", html, figures });
  }
  if (notes.length) sections.splice(1, 0, { id: "notes", title: "Not shown", html: `<ul>${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>`, figures: [] });
  renderSeconds += (performance.now() - r0) / 1000;

  const meta: [string, string][] = [["runs", o.runsName ?? t.source]];
  if (props) meta.push(["proportions", propsName]);
  if (target) meta.push(["target", target.spec]);
  if (lawName) meta.push(["law", lawName]);
  meta.push(["seed", String(seed)], ["mixlab", VERSION]);
  return { title: `mixlab report: ${o.runsName ?? t.source}`, meta, diagnostics: props?.diagnostics ?? [], sections, seconds: { fit: fitSeconds, render: renderSeconds } };
}
