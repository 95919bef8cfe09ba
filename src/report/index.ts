// The report module's public surface.
export {
  buildReport,
  escapeHtml,
  type Report,
  type ReportOptions,
  type ReportSection,
  type ReportFigure,
} from "./build.js";
export { reportHtml, REPORT_CSP } from "./html.js";
export { renderSvg, countMarks, type VegaLiteSpec } from "./render.js";
export { DOMAIN_PALETTE, domainColors } from "./palette.js";
export { parseReportProportions, parseSavedLaw, DiagnosticSchema } from "./inputs.js";
export type { OnlineRun, Diagnostic, ReportProportions } from "./inputs.js";
export { writeReportFile } from "./write.js";
export { mixturesSpec, fitSpec, recommendationSpec, responseSpec, matrixSpec, weightsOverTokensSpec } from "./specs.js";
export {
  lossesOverTokensSpec,
  domainColor,
  type MixtureSeries,
  type FitPlot,
  type RecommendationPlot,
  type MatrixPlot,
} from "./specs.js";
