// examples/online-training.ts — the README's "Online mixing" example, run by
// tests/e2e/train-online.test.ts: a plain tfjs training loop whose batches come from mixlab's
// sampler while ODM (an online mixer) steers the mixture, with one checkpoint holding the model,
// the optimizer and the sampler + mixer state.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import {
  createOnlineMixer,
  createSampler,
  loadTf,
  mergeDomainStats,
  type OnlineMixerState,
  type SamplerState,
} from "../src/index.js"; // from "mixlab" in your code

export interface ExampleOptions {
  corpus: string; // a folder of domain files, e.g. datasets/corpus/train
  steps: number;
  batchSize: number; // sequences per optimizer step = the sampler's block size
  seqLen: number;
  checkpoint: string; // resumed from when it exists
  checkpointEvery?: number; // steps between checkpoints (default 10)
  stopAfter?: number; // stop early (to show resuming)
}

export async function trainWithOdm(o: ExampleOptions): Promise<{ proportions: Record<string, number>; loss: number }> {
  const { tf } = await loadTf("auto"); // tfjs with the fastest backend that loads here (wasm, …)
  const V = 256; // byte tokens
  // A bigram language model: logits = one-hot(current byte) · table.
  const table = tf.variable(tf.randomNormal([V, V], 0, 0.02, "float32", 1));
  const optimizer = tf.train.adam(0.05);
  const saved = existsSync(o.checkpoint) ? JSON.parse(readFileSync(o.checkpoint, "utf8")) : null;
  if (saved) table.assign(tf.tensor(saved.table, [V, V]));
  const domains = ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"];
  // The mixer is created by a factory, so a resumed sampler restores it from its own state.
  const mixer = (state?: OnlineMixerState) =>
    createOnlineMixer("odm", { domains, seed: 1, options: { totalSteps: o.steps }, ...(state ? { state } : {}) });
  const sampler = await createSampler({
    corpus: o.corpus,
    proportions: Object.fromEntries(domains.map((d) => [d, 1 / domains.length])),
    seed: 1,
    unit: "samples",
    blockSize: o.batchSize, // one block per optimizer step: the mixer is asked once a step
    mixer,
    ...(saved ? { state: saved.sampler as SamplerState } : {}),
  });
  if (saved) {
    await optimizer.setWeights(
      saved.adam.map((w: { name: string; values: number[]; shape: number[] }) => ({
        name: w.name,
        tensor: tf.tensor(w.values, w.shape),
      })),
    );
  }
  const odm = sampler.onlineMixer as ReturnType<typeof createOnlineMixer>;
  let step = saved ? saved.step : 0;
  let loss = NaN;
  for await (const batch of sampler.batches({ batchSize: o.batchSize, seqLen: o.seqLen + 1 })) {
    const B = batch.domainPerRow.length;
    const tokens = tf.tensor2d(batch.tokens, [B, o.seqLen + 1], "int32");
    const x = tokens.slice([0, 0], [B, o.seqLen]);
    const y = tokens.slice([0, 1], [B, o.seqLen]);
    let rowLoss: ArrayLike<number> = new Float32Array(B);
    optimizer.minimize(() => {
      const logits = tf.matMul(tf.oneHot(x.flatten(), V).toFloat(), table).reshape([B, o.seqLen, V]);
      const perToken = tf.losses.softmaxCrossEntropy(tf.oneHot(y, V), logits, undefined, 0, tf.Reduction.NONE);
      const perRow = perToken.sum(1); // loss sum of each row (sequence)
      rowLoss = perRow.dataSync();
      return perRow.sum().div(B * o.seqLen) as ReturnType<typeof tf.scalar>;
    });
    // Per-domain loss sums and tokens from batch.domainPerRow; on several ranks, all-gather these and merge.
    const lossSum: Record<string, number> = {};
    const tokenCount: Record<string, number> = {};
    batch.domainPerRow.forEach((d, row) => {
      const name = sampler.domains[d]!;
      lossSum[name] = (lossSum[name] ?? 0) + rowLoss[row]!;
      tokenCount[name] = (tokenCount[name] ?? 0) + o.seqLen;
    });
    const merged = mergeDomainStats([{ lossSum, tokens: tokenCount }]);
    odm.observe({ kind: "train", step, loss: merged.loss, tokens: merged.tokens });
    loss = Object.values(lossSum).reduce((a, b) => a + b, 0) / (B * o.seqLen);
    tf.dispose([tokens, x, y]);
    step++;
    if (step % (o.checkpointEvery ?? 10) !== 0 && step !== o.stopAfter && step !== o.steps) continue;
    // One checkpoint: model, optimizer, and the sampler's state (which holds the mixer's).
    const adam = await Promise.all(
      (await optimizer.getWeights()).map(async (w) => ({
        name: w.name,
        values: Array.from(await w.tensor.data()),
        shape: w.tensor.shape,
      })),
    );
    writeFileSync(
      `${o.checkpoint}.tmp`,
      JSON.stringify({ step, table: Array.from(await table.data()), adam, sampler: sampler.state() }),
    );
    renameSync(`${o.checkpoint}.tmp`, o.checkpoint); // atomic: a kill leaves the old or the new one
    if (step >= (o.stopAfter ?? o.steps)) break;
  }
  await sampler.close();
  const proportions = odm.proportions();
  table.dispose();
  optimizer.dispose();
  return { proportions, loss };
}
