// Shared by the serve tests: the toy token-shard corpus, its session spec and in-process stream, and small
// HTTP helpers.

import { join } from "node:path";
import { createSampler, type TokenBatch } from "../../src/sampler/sampler.js";
import { writeTokenShard } from "../../src/sampler/sources.js";
import { decodeBatch, decodeBatches, type DecodedBatch } from "../../src/serve/session.js";

export const DOMAINS = ["a", "b", "c"];

/** Three domains of token sequences of varied lengths; domain c uses ids above 255 (2-byte width). */
export async function writeToyCorpus(dir: string): Promise<void> {
  for (const [d, name] of DOMAINS.entries()) {
    const seqs: number[][] = [];
    for (let i = 0; i < 40 + 10 * d; i++) {
      seqs.push(
        Array.from({ length: 3 + ((i * 7) % 13) }, (_, j) => (d === 2 ? 300 + i + j : 10 * d + ((i + j) % 10))),
      );
    }
    await writeTokenShard(join(dir, name), seqs, "uint16");
  }
}

/** A static session of the toy corpus (as POSTed; add worldSize). */
export const TOY_SPEC = {
  corpus: "toy",
  proportions: { a: 0.5, b: 0.3, c: 0.2 },
  seed: 7,
  blockSize: 16,
  budgetSamples: 120,
  batchSize: 4,
  seqLen: 8,
};

/** The in-process stream of one rank of TOY_SPEC over the toy corpus in `dir`: a copy of every batch. */
export async function toyStream(dir: string, rank: number, world: number): Promise<TokenBatch[]> {
  const s = await createSampler({
    corpus: dir,
    proportions: TOY_SPEC.proportions,
    seed: TOY_SPEC.seed,
    blockSize: TOY_SPEC.blockSize,
    budgetSamples: TOY_SPEC.budgetSamples,
    rank,
    worldSize: world,
    warn: () => {},
  });
  const out: TokenBatch[] = [];
  for await (const b of s.batches({ batchSize: TOY_SPEC.batchSize, seqLen: TOY_SPEC.seqLen })) {
    out.push({
      ...b,
      tokens: b.tokens.slice(),
      domainPerRow: b.domainPerRow.slice(),
      indexPerRow: b.indexPerRow.slice(),
    });
  }
  await s.close();
  return out;
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

export async function fetchBatch(base: string, id: string, rank: number, step?: number): Promise<DecodedBatch | null> {
  const r = await fetch(`${base}/v1/sessions/${id}/batches?rank=${rank}${step === undefined ? "" : `&step=${step}`}`);
  if (r.status === 204) return null;
  if (r.status !== 200) throw new Error(`${r.status}: ${await r.text()}`);
  return decodeBatch(new Uint8Array(await r.arrayBuffer()));
}

/** GET …/batches with `count` (and `step`): the decoded batches, [] at the end (204). */
export async function fetchBatches(
  base: string,
  id: string,
  rank: number,
  count: number,
  step?: number,
): Promise<DecodedBatch[]> {
  const r = await fetch(
    `${base}/v1/sessions/${id}/batches?rank=${rank}&count=${count}${step === undefined ? "" : `&step=${step}`}`,
  );
  if (r.status === 204) return [];
  if (r.status !== 200) throw new Error(`${r.status}: ${await r.text()}`);
  const got = decodeBatches(new Uint8Array(await r.arrayBuffer()));
  if (Number(r.headers.get("x-mixlab-batches")) !== got.length) {
    throw new Error(`x-mixlab-batches ${r.headers.get("x-mixlab-batches")} but ${got.length} batches`);
  }
  return got;
}
