// The report's plots as Vega-Lite specifications (data inlined). Every domain-coloured plot maps
// colour through the same explicit scale (domain order → palette), so a domain looks the same
// everywhere; axes carry units. Builders are pure: rows in, JSON spec out.

import type { VegaLiteSpec } from "./render.js";
import { domainColors } from "./palette.js";

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
const CONFIG = {
  font: "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal" },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal", labelLimit: 220 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 13, fontWeight: "bold", anchor: "start" },
  view: { stroke: "#ddd" },
};

/** The colour encoding of a domain field: same order and colour in every plot. */
export function domainColor(domains: readonly string[], field = "domain", title = "domain"): Record<string, unknown> {
  return {
    field,
    type: "nominal",
    title,
    sort: [...domains],
    scale: { domain: [...domains], range: domainColors(domains) },
  };
}

function top(spec: Record<string, unknown>): VegaLiteSpec {
  return { $schema: SCHEMA, background: "white", padding: 8, config: CONFIG, ...spec };
}

/** Share of each domain across the runs (box plot per domain). Rows: { domain, share }. */
export function mixturesSpec(
  domains: readonly string[],
  rows: readonly { domain: string; share: number }[],
): VegaLiteSpec {
  return top({
    title: "Training mixtures of the runs",
    width: 520,
    height: Math.max(120, 18 * domains.length),
    data: { values: rows },
    mark: { type: "boxplot", extent: "min-max", size: 12 },
    encoding: {
      y: { field: "domain", type: "nominal", sort: [...domains], title: "domain" },
      x: {
        field: "share",
        type: "quantitative",
        title: "share of training tokens (fraction)",
        scale: { domain: [0, 1] },
      },
      color: { ...domainColor(domains), legend: null },
    },
  });
}

/** What `fitSpec` draws. */
export interface FitPlot {
  readonly title: string;
  /** One line or several. */
  readonly subtitle: string | readonly string[];
  /** The target with its unit, for the axis titles. */
  readonly axis: string;
  readonly rows: readonly { predicted: number; measured: number }[];
}

/** Out-of-fold predicted against measured target with the identity line. */
export function fitSpec(o: FitPlot): VegaLiteSpec {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of o.rows) {
    lo = Math.min(lo, r.predicted, r.measured);
    hi = Math.max(hi, r.predicted, r.measured);
  }
  const pad = (hi - lo) * 0.04 || 0.01;
  const scale = { domain: [lo - pad, hi + pad], zero: false, nice: false };
  return top({
    title: { text: o.title, subtitle: o.subtitle },
    width: 300,
    height: 300,
    layer: [
      {
        data: { values: [{ a: lo - pad, b: hi + pad }] },
        mark: { type: "rule", color: "#888", strokeDash: [4, 4] },
        encoding: {
          x: { field: "a", type: "quantitative", scale },
          y: { field: "a", type: "quantitative", scale },
          x2: { field: "b" },
          y2: { field: "b" },
        },
      },
      {
        data: { values: o.rows },
        mark: { type: "point", filled: true, size: 22, opacity: 0.6, color: "#1f6fb4" },
        encoding: {
          x: { field: "predicted", type: "quantitative", title: `predicted ${o.axis}`, scale },
          y: { field: "measured", type: "quantitative", title: `measured ${o.axis}`, scale },
        },
      },
    ],
  });
}

/** One reference mixture drawn beside the recommendation. */
export interface MixtureSeries {
  readonly name: string;
  readonly shares: Readonly<Record<string, number>>;
}

type Shares = Readonly<Record<string, number>>;

/** What `recommendationSpec` draws. */
export interface RecommendationPlot {
  readonly domains: readonly string[];
  readonly recommended: Shares;
  readonly references: readonly MixtureSeries[];
  /** Allowed shares per domain; `cappedBy` names what sets the upper bound ("epoch cap", "share bounds"). */
  readonly bounds?: {
    readonly lower: Shares;
    readonly upper: Shares;
    readonly cappedBy?: Readonly<Record<string, string>>;
  };
}

/**
 * The recommendation as bars (coloured by domain), reference mixtures as marks on top, share
 * bounds as a grey band per domain.
 */
export function recommendationSpec(o: RecommendationPlot): VegaLiteSpec {
  const d = o.domains;
  const height = Math.max(140, 24 * d.length);
  const y = { field: "domain", type: "nominal", sort: [...d], title: "domain" };
  const x = { type: "quantitative", title: "share of training tokens (fraction)", scale: { domain: [0, 1] } };
  const layers: Record<string, unknown>[] = [];
  if (o.bounds) {
    const b = o.bounds;
    layers.push({
      data: {
        values: d.map((n) => ({
          domain: n,
          lower: b.lower[n]!,
          upper: b.upper[n]!,
          bound: b.cappedBy?.[n] ?? "share bounds",
        })),
      },
      mark: { type: "bar", color: "#e4e4e4", height: { band: 0.95 } },
      encoding: { y, x: { ...x, field: "lower" }, x2: { field: "upper" }, tooltip: [{ field: "bound" }] },
    });
  }
  layers.push({
    data: { values: d.map((n) => ({ domain: n, share: o.recommended[n]! })) },
    mark: { type: "bar", height: { band: 0.55 } },
    encoding: { y, x: { ...x, field: "share" }, color: { ...domainColor(d), legend: null } },
  });
  const refs = o.references.flatMap((r) => d.map((n) => ({ domain: n, share: r.shares[n]!, mixture: r.name })));
  if (refs.length) {
    const names = o.references.map((r) => r.name);
    const shapes = ["diamond", "circle", "square", "triangle-up", "cross", "triangle-down"];
    layers.push({
      data: { values: refs },
      mark: { type: "point", filled: true, size: 60, color: "#222", opacity: 0.85 },
      encoding: {
        y,
        x: { ...x, field: "share" },
        shape: {
          field: "mixture",
          type: "nominal",
          title: "compared with",
          sort: names,
          scale: { domain: names, range: shapes.slice(0, names.length) },
        },
      },
    });
  }
  const subtitle = "bars: recommendation; marks: other mixtures; grey band: allowed shares";
  return top({ title: { text: "Recommended mixture", subtitle }, width: 520, height, layer: layers });
}

/** A point of a response curve. */
export interface ResponsePoint {
  readonly domain: string;
  readonly share: number;
  readonly predicted: number;
}

/**
 * The law's prediction along each domain's share (`rows`), the others scaled in proportion; `at`: the
 * recommendation.
 */
export function responseSpec(o: {
  domains: readonly string[];
  axis: string;
  rows: readonly ResponsePoint[];
  at: readonly ResponsePoint[];
}): VegaLiteSpec {
  const d = o.domains;
  return top({
    title: {
      text: "Response of the law around the recommendation",
      subtitle: "one domain's share varied, the others scaled in proportion; dot: the recommendation",
    },
    data: {
      values: [...o.rows.map((r) => ({ ...r, kind: "curve" })), ...o.at.map((r) => ({ ...r, kind: "recommendation" }))],
    },
    facet: { field: "domain", type: "nominal", sort: [...d], title: null, header: { labelFontSize: 12 } },
    columns: Math.min(d.length > 8 ? 5 : 4, d.length),
    spec: {
      width: d.length > 8 ? 130 : 170,
      height: d.length > 8 ? 100 : 120,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'curve'" }],
          mark: { type: "line", strokeWidth: 2 },
          encoding: {
            x: {
              field: "share",
              type: "quantitative",
              title: "share of the domain (fraction)",
              scale: { domain: [0, 1] },
            },
            y: { field: "predicted", type: "quantitative", title: `predicted ${o.axis}`, scale: { zero: false } },
            color: { ...domainColor(d), legend: null },
          },
        },
        {
          transform: [{ filter: "datum.kind === 'recommendation'" }],
          mark: { type: "point", filled: true, size: 50, color: "#222" },
          encoding: { x: { field: "share", type: "quantitative" }, y: { field: "predicted", type: "quantitative" } },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  });
}

/** What `matrixSpec` draws. */
export interface MatrixPlot {
  readonly title: string;
  readonly subtitle: string;
  /** The colour legend's title (what the values are). */
  readonly legend: string;
  readonly trainDomains: readonly string[];
  readonly evalDomains: readonly string[];
  readonly rows: readonly { train: string; eval: string; value: number }[];
}

/** A heat map of how each eval domain's loss moves with each training domain's share. */
export function matrixSpec(o: MatrixPlot): VegaLiteSpec {
  let m = 0;
  for (const r of o.rows) m = Math.max(m, Math.abs(r.value));
  const cell = o.trainDomains.length > 12 ? 28 : 40;
  return top({
    title: { text: o.title, subtitle: o.subtitle },
    width: cell * o.trainDomains.length,
    height: cell * o.evalDomains.length,
    data: { values: o.rows },
    encoding: {
      x: {
        field: "train",
        type: "nominal",
        sort: [...o.trainDomains],
        title: "training domain (share)",
        axis: { labelAngle: -45 },
      },
      y: { field: "eval", type: "nominal", sort: [...o.evalDomains], title: "eval domain (loss)" },
    },
    layer: [
      {
        mark: { type: "rect" },
        encoding: {
          color: {
            field: "value",
            type: "quantitative",
            title: o.legend,
            scale: { scheme: "redblue", domain: [-(m || 1), m || 1], reverse: true },
          },
        },
      },
      {
        mark: { type: "text", fontSize: cell > 30 ? 10 : 8 },
        encoding: {
          text: { field: "value", type: "quantitative", format: m >= 10 ? ".0f" : m >= 1 ? ".1f" : ".2f" },
          color: { condition: { test: `abs(datum.value) > ${0.6 * (m || 1)}`, value: "white" }, value: "#222" },
        },
      },
    ],
  });
}

/** The online mixer's proportions over training tokens (stacked). Rows: { tokens, domain, share }. */
export function weightsOverTokensSpec(o: {
  domains: readonly string[];
  method: string;
  rows: readonly { tokens: number; domain: string; share: number }[];
}): VegaLiteSpec {
  return top({
    title: { text: `Mixture over training (${o.method})`, subtitle: "proportions the online mixer set at each step" },
    width: 560,
    height: 240,
    data: { values: o.rows },
    mark: { type: "area", interpolate: "step-after" },
    encoding: {
      x: { field: "tokens", type: "quantitative", title: "training tokens", axis: { format: "~s" } },
      y: { field: "share", type: "quantitative", stack: "normalize", title: "share of training tokens (fraction)" },
      color: domainColor(o.domains),
      order: { field: "order", type: "quantitative" },
    },
    transform: [{ calculate: `indexof(${JSON.stringify([...o.domains])}, datum.domain)`, as: "order" }],
  });
}

/** Per-domain losses over training tokens. Rows: { tokens, domain, loss }. */
export function lossesOverTokensSpec(o: {
  domains: readonly string[];
  title: string;
  axis: string;
  rows: readonly { tokens: number; domain: string; loss: number }[];
}): VegaLiteSpec {
  return top({
    title: o.title,
    width: 560,
    height: 240,
    data: { values: o.rows },
    mark: { type: "line", point: o.rows.length <= 200 ? { size: 16 } : false, strokeWidth: 1.8 },
    encoding: {
      x: { field: "tokens", type: "quantitative", title: "training tokens", axis: { format: "~s" } },
      y: { field: "loss", type: "quantitative", title: o.axis, scale: { zero: false } },
      color: domainColor(o.domains),
    },
  });
}
