// Exporters from proportions JSON to the formats other trainers read. Each is a pure function
// from the parsed document to text. Domains with weight 0 are left out where the target format
// would otherwise sample them (Megatron, HF, Streaming, OLMo, Levanter all accept omission).

import type { Proportions } from "./proportions.js";
import { InputError } from "../errors.js";

/** Export targets. */
export const EXPORT_FORMATS = ["json", "megatron", "hf", "streaming", "olmo", "levanter"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

type Doc = Proportions & { orderedDomains: string[] };

/** Formats that hold a schedule (a `stages` list); the others take one phase (`phase`) or the static answer. */
export const SCHEDULE_FORMATS: readonly ExportFormat[] = ["json", "olmo", "levanter"];

/** Options of `exportProportions` for schedules. */
export interface ScheduleExportOptions {
  /** Export stage N (1-based) of `stages` as a plain mixture (Megatron per-phase blends). */
  readonly phase?: number;
  /** Export the static answer `domains` and ignore `stages`. */
  readonly static?: boolean;
  /** Tokens per sequence: Levanter's stage starts are sequence indices. */
  readonly seqLen?: number;
}

/** Token range [start, end) of each stage (a stage ends at its untilTokens). */
function stageRanges(doc: Doc): { start: number; end: number | null; domains: Record<string, number> }[] {
  let start = 0;
  return (doc.stages ?? []).map((s) => {
    const end = s.untilTokens ?? null;
    const r = { start, end, domains: s.domains };
    start = end ?? start;
    return r;
  });
}

/**
 * The document a format renders: one phase, the static answer, or the schedule; refuses a schedule a
 * format cannot hold.
 */
function resolveSchedule(doc: Doc, format: ExportFormat, opts: ScheduleExportOptions): Doc {
  const stages = doc.stages ?? [];
  if (opts.phase !== undefined) {
    if (!(Number.isInteger(opts.phase) && opts.phase >= 1 && opts.phase <= stages.length)) throw new InputError(
      "--phase",
      `expected a stage number in 1..${stages.length} (the document has ${stages.length} stages), got ${opts.phase}`,
    );
    const st = stages[opts.phase - 1]!;
    if (stages.some((x) => x.untilTokens === undefined && x.untilSamples !== undefined)) throw new InputError(
      "--phase",
      "expected stages bounded by untilTokens, got untilSamples",
    );
    const domains = Object.fromEntries(doc.orderedDomains.map((d) => [d, st.domains[d] ?? 0]));
    const { stages: _drop, ...rest } = doc;
    return { ...rest, domains };
  }
  if (opts.static) {
    const { stages: _drop, ...rest } = doc;
    return rest;
  }
  if (stages.length > 1 && !SCHEDULE_FORMATS.includes(format)) throw new InputError(
    "--format",
    `${format}: expected a format that holds a schedule (${SCHEDULE_FORMATS.join(", ")}) ` +
      `for a document with ${stages.length} stages, got ${format}, which holds one mixture; ` +
      `pass --phase N (1..${stages.length}) for one phase's blend or --static for the static answer \`domains\``,
  );
  if (stages.length > 1 && stages.slice(0, -1).some((x) => x.untilTokens === undefined)) throw new InputError(
    "stages",
    `${format}: expected every stage but the last to end at untilTokens, got one bounded by samples`,
  );
  return doc;
}

function nonZero(doc: Doc): [string, number][] {
  return doc.orderedDomains.map((d) => [d, doc.domains[d]!] as [string, number]).filter(([, w]) => w > 0);
}

/** Shortest exact decimal of a number (JSON/CLI friendly). */
const num = (x: number): string => String(x);

/**
 * Renders proportions in another trainer's format.
 * - megatron: the `--data-path` value of Megatron-LM's blended dataset: "w1 prefix1 w2 prefix2 …"
 *   (prefix = `<pathPrefix><domain>`, default `<domain>_text_document`).
 * - hf: `probabilities` for datasets.interleave_datasets, with the dataset order.
 * - streaming: MosaicML Streaming `streams` (one per domain, `proportion`, `remote`/`local` under a root).
 * - olmo: OLMo-core source mixture list (`source_name`, `target_ratio`, `max_repetition_ratio`).
 * - levanter: Levanter `train_weights` mapping (with stages as `[[step_or_tokens, weights], …]`).
 */
export function exportProportions(
  input: Doc,
  format: ExportFormat,
  opts: { pathPrefix?: string; maxEpochs?: number } & ScheduleExportOptions = {},
): string {
  const doc = resolveSchedule(input, format, opts);
  const entries = nonZero(doc);
  switch (format) {
    case "json": {
      // The document as mixlab reads it back: `order` carries the domain order (never the
      // parser's own `orderedDomains`), so export, sample and train --mixture accept the file.
      const { orderedDomains, ...rest } = doc;
      return `${JSON.stringify({ ...rest, order: [...orderedDomains] }, null, 2)}\n`;
    }
    case "megatron": {
      const prefix = opts.pathPrefix;
      const paths = entries.map(([d]) => (prefix !== undefined ? `${prefix}${d}` : `${d}_text_document`));
      // Megatron-LM splits the blend on whitespace (argv words for --data-path; str.split() of the
      // file for --data-args-path), with no quoting, so a path with whitespace cannot be written.
      const bad = paths.map((p, i) => [p, entries[i]![0]] as const).filter(([p]) => /\s/.test(p));
      if (bad.length) {
        const hint = prefix !== undefined && /\s/.test(prefix) ? "; the --path-prefix has whitespace" : "";
        const why = "expected a data path without whitespace (Megatron splits its blend on whitespace)";
        throw new InputError(
          "megatron",
          bad.map(([p, d]) => ({
            path: `domain ${JSON.stringify(d)}`,
            message: `${why}, got ${JSON.stringify(p)}${hint}`,
          })),
        );
      }
      return `${entries.map(([, w], i) => `${num(w)} ${paths[i]}`).join(" ")}\n`;
    }
    case "hf":
      return `${JSON.stringify(
        {
          datasets: entries.map(([d]) => d),
          probabilities: entries.map(([, w]) => w),
          stopping_strategy: "all_exhausted",
        },
        null,
        2,
      )}\n`;
    case "streaming": {
      const root = opts.pathPrefix ?? "";
      const streams: Record<string, unknown> = {};
      for (const [d, w] of entries) streams[d] = {
        remote: `${root}${d}`,
        local: `/tmp/mixlab-streaming/${d}`,
        proportion: w,
      };
      return `${JSON.stringify({ streams }, null, 2)}\n`;
    }
    case "olmo": {
      const sources = (pairs: [string, number][]) => pairs.map(([d, w]) => ({
        source_name: d,
        target_ratio: w,
        max_repetition_ratio: opts.maxEpochs ?? (doc.constraints?.maxEpochs as number | undefined) ?? 1,
        paths: [`${opts.pathPrefix ?? ""}${d}/*.npy`],
      }));
      if (doc.stages && doc.stages.length > 1) {
        // A stage list: one source mixture per stage with its token range (OLMo trains stages as successive runs).
        const stages = stageRanges(doc).map((r, i) => ({
          name: `stage-${i + 1}`,
          start_tokens: r.start,
          ...(r.end !== null ? { max_tokens: r.end - r.start } : {}),
          source_configs: sources(
            doc.orderedDomains.map((d) => [d, r.domains[d] ?? 0] as [string, number]).filter(([, w]) => w > 0),
          ),
        }));
        return `${JSON.stringify({ stages }, null, 2)}\n`;
      }
      return `${JSON.stringify({ source_configs: sources(entries) }, null, 2)}\n`;
    }
    case "levanter": {
      const weights = Object.fromEntries(entries);
      if (doc.stages && doc.stages.length > 1) {
        // Levanter's stages start at sequence indices: tokens / seqLen.
        const seqLen = opts.seqLen;
        if (seqLen === undefined) throw new InputError(
          "--seq-len",
          `levanter: expected the tokens per sequence to turn the ${doc.stages.length} stages' token bounds ` +
            "into sequence indices, got none",
        );
        const stages = stageRanges(doc).map((r) => [
          Math.round(r.start / seqLen),
          Object.fromEntries(
            doc.orderedDomains.map((d) => [d, r.domains[d] ?? 0] as [string, number]).filter(([, w]) => w > 0),
          ),
        ]);
        return `${JSON.stringify({ train_weights: stages }, null, 2)}\n`;
      }
      return `${JSON.stringify({ train_weights: weights }, null, 2)}\n`;
    }
    default:
      throw new InputError("--format", `expected one of ${EXPORT_FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  }
}
