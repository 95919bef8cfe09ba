// Vega-Lite specifications rendered to static SVG in Node (vega's headless "none" renderer: no
// browser, no canvas, no network — data are inlined in the spec), and a count of the data marks
// an SVG holds, which the tests and the report's own checks use to tell a drawn plot from an empty one.

import type { TopLevelSpec } from "vega-lite";
import type { View } from "vega";
import { MixError } from "../errors.js";

// vega and vega-lite are imported when a plot is rendered (Node caches them after the first):
// vega's module graph has a top-level await, which would stop `require("mixlab")` (CommonJS
// callers, the notebooks' kernel) and slow every other command's start.

/** A Vega-Lite specification as plain JSON (data inlined as `values`). */
export type VegaLiteSpec = Record<string, unknown>;

/**
 * Compiles a Vega-Lite spec and renders it to an SVG string.
 * @param spec a Vega-Lite v6 specification whose data are inline `values`
 * @returns the SVG document (no XML prolog), ready to inline in HTML
 * @throws MixError when vega-lite or vega rejects the spec (a bug in the caller, not the user's input)
 */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import("vega"), import("vega-lite")]);
  let view: View;
  try {
    const compiled = vl.compile(spec as unknown as TopLevelSpec).spec;
    // A loader that refuses every request: a spec that tried to fetch data would fail here, not reach the network.
    const loader = vega.loader();
    loader.load = () => Promise.reject(new Error("the report renders inline data only"));
    view = new vega.View(vega.parse(compiled), { renderer: "none", loader });
  } catch (e) {
    throw new MixError("E_REPORT_SPEC", `report: a plot specification was rejected by vega: ${(e as Error).message}`);
  }
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Counts the data marks of a rendered SVG: the children of vega's `role-mark` groups (points,
 * bars, lines, areas, rectangles, text), leaving out axes, legends and titles.
 * @param svg an SVG string from `renderSvg`
 * @returns the number of drawn data marks (0 for an empty plot)
 */
export function countMarks(svg: string): number {
  let count = 0;
  const open = /<g class="mark-[a-z]+ role-mark[^"]*"[^>]*>/g;
  for (let m = open.exec(svg); m !== null; m = open.exec(svg)) {
    // Children of this group up to its closing tag: each mark item is one element (path, line, text, …).
    let depth = 1;
    let i = open.lastIndex;
    const tag = /<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g;
    tag.lastIndex = i;
    for (let t = tag.exec(svg); t !== null && depth > 0; t = tag.exec(svg)) {
      if (t[1] === "/") depth--;
      else if (t[3] === "/") {
        if (depth === 1 && t[2] !== "g") count++;
      } else {
        if (depth === 1 && t[2] !== "g") count++;
        depth++;
      }
      i = tag.lastIndex;
    }
    open.lastIndex = i;
  }
  return count;
}
