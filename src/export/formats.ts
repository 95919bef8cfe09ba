// Exporters from proportions JSON to the formats other trainers read. Each is a pure function
// from the parsed document to text. Domains with weight 0 are left out where the target format
// would otherwise sample them (Megatron, HF, Streaming, OLMo, Levanter all accept omission).

import type { Proportions } from "./proportions.js";
import { InputError } from "../errors.js";

/** Export targets. */
export const EXPORT_FORMATS = ["json", "megatron", "hf", "streaming", "olmo", "levanter"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

type Doc = Proportions & { orderedDomains: string[] };

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
export function exportProportions(doc: Doc, format: ExportFormat, opts: { pathPrefix?: string; maxEpochs?: number } = {}): string {
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
      return `${JSON.stringify({ datasets: entries.map(([d]) => d), probabilities: entries.map(([, w]) => w), stopping_strategy: "all_exhausted" }, null, 2)}\n`;
    case "streaming": {
      const root = opts.pathPrefix ?? "";
      const streams: Record<string, unknown> = {};
      for (const [d, w] of entries) streams[d] = { remote: `${root}${d}`, local: `/tmp/mixlab-streaming/${d}`, proportion: w };
      return `${JSON.stringify({ streams }, null, 2)}\n`;
    }
    case "olmo":
      return `${JSON.stringify(
        {
          source_configs: entries.map(([d, w]) => ({ source_name: d, target_ratio: w, max_repetition_ratio: opts.maxEpochs ?? (doc.constraints?.maxEpochs as number | undefined) ?? 1, paths: [`${opts.pathPrefix ?? ""}${d}/*.npy`] })),
        },
        null,
        2,
      )}\n`;
    case "levanter": {
      const weights = Object.fromEntries(entries);
      if (doc.stages && doc.stages.length) {
        let start = 0;
        const stages = doc.stages.map((s) => {
          const st = [start, s.domains];
          start = s.untilTokens ?? s.untilSamples ?? start;
          return st;
        });
        return `${JSON.stringify({ train_weights: stages }, null, 2)}\n`;
      }
      return `${JSON.stringify({ train_weights: weights }, null, 2)}\n`;
    }
    default:
      throw new InputError("--format", `expected one of ${EXPORT_FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  }
}
