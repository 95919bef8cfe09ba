// Corpus statistics for `mixlab datasets list|stats`: records, bytes, byte-level tokens (and,
// when asked, another tokenizer's), and pairwise Jensen–Shannon divergence between domains of
// byte-bigram and word-unigram distributions (in bits, so 0 ≤ JS ≤ 1).

import type { DomainSource } from "../sampler/sources.js";
import type { Tokenizer } from "../sampler/tokenizer.js";

/** Statistics of one domain. */
export interface DomainStats {
  readonly domain: string;
  readonly records: number;
  readonly bytes: number;
  readonly tokens: number;
  readonly otherTokens: number | null;
}

/** Jensen–Shannon divergence in bits between two count maps. */
export function jensenShannon(a: Map<string | number, number>, b: Map<string | number, number>): number {
  let na = 0;
  let nb = 0;
  for (const v of a.values()) na += v;
  for (const v of b.values()) nb += v;
  let js = 0;
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) {
    const p = (a.get(k) ?? 0) / na;
    const q = (b.get(k) ?? 0) / nb;
    const m = (p + q) / 2;
    if (p > 0) js += 0.5 * p * Math.log2(p / m);
    if (q > 0) js += 0.5 * q * Math.log2(q / m);
  }
  return js;
}

/** Reads every record of every domain once: statistics and the two distributions per domain. */
export async function corpusStats(
  names: readonly string[],
  sources: readonly DomainSource[],
  other?: Tokenizer,
): Promise<{ stats: DomainStats[]; bigram: number[][]; unigram: number[][] }> {
  const stats: DomainStats[] = [];
  const bigrams: Map<number, number>[] = [];
  const words: Map<string, number>[] = [];
  for (let d = 0; d < names.length; d++) {
    const s = sources[d]!;
    let bytes = 0;
    let tokens = 0;
    let otherTokens = 0;
    const bg = new Map<number, number>();
    const wd = new Map<string, number>();
    for (let i = 0; i < s.numRecords; i++) {
      const r = await s.read(i);
      if (r.tokens) {
        tokens += r.tokens.length;
        bytes += r.tokens.length;
        continue;
      }
      const text = r.text ?? "";
      const buf = Buffer.from(text, "utf8");
      bytes += buf.length;
      tokens += buf.length;
      if (other) otherTokens += other(text).length;
      for (let j = 1; j < buf.length; j++) {
        const key = (buf[j - 1]! << 8) | buf[j]!;
        bg.set(key, (bg.get(key) ?? 0) + 1);
      }
      for (const w of text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? []) wd.set(w, (wd.get(w) ?? 0) + 1);
    }
    stats.push({ domain: names[d]!, records: s.numRecords, bytes, tokens, otherTokens: other ? otherTokens : null });
    bigrams.push(bg);
    words.push(wd);
  }
  const k = names.length;
  const bigram = Array.from({ length: k }, (_, i) =>
    Array.from({ length: k }, (_, j) => (i === j ? 0 : jensenShannon(bigrams[i]!, bigrams[j]!))),
  );
  const unigram = Array.from({ length: k }, (_, i) =>
    Array.from({ length: k }, (_, j) => (i === j ? 0 : jensenShannon(words[i]!, words[j]!))),
  );
  return { stats, bigram, unigram };
}
