// The report as one self-contained HTML page: inline CSS, inline SVG figures, no script, and a
// Content-Security-Policy that forbids every fetch (default-src 'none'), so a page that tried to
// load anything would be blocked and reported by the browser rather than reach the network.

import { escapeHtml, type Report } from "./build.js";
import type { Diagnostic } from "./inputs.js";

/** The page's Content-Security-Policy: nothing may be fetched; inline styles and data: images only. */
export const REPORT_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222; ` +
  `margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; }
header h1 { font-size: 22px; margin: 8px 0 4px; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; color: #555; }
header dt { font-weight: 600; } header dd { margin: 0; word-break: break-all; }
nav { margin: 8px 0 16px; } nav a { margin-right: 14px; color: #1f6fb4; text-decoration: none; }
section { background: white; border: 1px solid #e3e3e3; border-radius: 6px; padding: 12px 20px 16px; margin: 16px 0; }
section h2 { font-size: 18px; margin: 4px 0 8px; } section h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #eee; padding: 3px 10px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.figs { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
figure { margin: 12px 0; overflow-x: auto; width: min-content; max-width: 100%; } ` +
  `figcaption { color: #555; font-size: 13px; margin-top: 4px; }
figure svg { max-width: none; height: auto; }
.callout { border-left: 4px solid #e8771a; background: #fff6ec; padding: 8px 12px; margin: 8px 0; border-radius: 3px; }
.callout code, p code { background: #f2f2f2; padding: 0 3px; border-radius: 3px; }
footer { color: #777; font-size: 12px; margin-top: 24px; }
`;

/**
 * Writes a report as one HTML document: every style and figure inline, no script, no external
 * reference. Sections carry `data-section`, figures `data-plot` (the tests and the browser check use them).
 * @param report from `buildReport`
 * @returns the HTML text (UTF-8)
 */
export function reportHtml(report: Report): string {
  const meta = report.meta.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("");
  const nav = report.sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join("");
  const callout = (d: Diagnostic): string =>
    `<div class="callout" data-code="${escapeHtml(d.code)}"><strong>${escapeHtml(d.code)}</strong>: ` +
    `${escapeHtml(d.message)}</div>`;
  const diagnostics = report.diagnostics.length
    ? `<section id="diagnostics" data-section="diagnostics"><h2>Diagnostics</h2>` +
      `${report.diagnostics.map(callout).join("")}</section>`
    : "";
  const sections = report.sections
    .map((s) => {
      const figs = s.figures
        .map(
          (f) =>
            `<figure data-plot="${escapeHtml(f.id)}" data-marks="${f.marks}">${f.svg}` +
            `<figcaption>${escapeHtml(f.caption)}</figcaption></figure>`,
        )
        .join("");
      const body = `${s.html}${figs ? `<div class="figs">${figs}</div>` : ""}`;
      return `<section id="${s.id}" data-section="${s.id}"><h2>${escapeHtml(s.title)}</h2>${body}</section>`;
    })
    .join("\n");
  const navDiagnostics = diagnostics ? '<a href="#diagnostics">Diagnostics</a>' : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mixlab">
<title>${escapeHtml(report.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header><h1>${escapeHtml(report.title)}</h1><dl>${meta}</dl><nav>${navDiagnostics}${nav}</nav></header>
${diagnostics}
${sections}
<footer>Written by mixlab; plots are Vega-Lite specifications rendered to SVG by vega in Node. ` +
    `The page loads nothing.</footer>
</main>
</body>
</html>
`;
}
