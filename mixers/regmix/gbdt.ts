// Histogram-based gradient-boosted regression trees with LightGBM's defaults (Ke et al.,
// "LightGBM", NeurIPS 2017): features binned once (≤ 255 bins, ≥ 3 rows a bin), trees grown
// leaf-wise (best-gain leaf first) to `numLeaves`, L2 objective, shrinkage, start from the mean.
// Written for mixlab because no maintained JS library offers histogram GBDT with early stopping;
// the fit is tiny (hundreds of runs), the prediction is large (10^6 candidates), so the model is
// stored as flat typed arrays and predicted tree-major over cache-sized chunks.
//
// Porting note: LightGBM also has lambda/min-gain/bagging/feature-fraction options; RegMix uses
// none of them, so only lambdaL2 and minGainToSplit are kept. Early stopping holds out a seeded
// split of the training runs (never the test set, unlike RegMix's notebook), finds the best round
// count, then refits on all rows with that many rounds.

import type { Rng } from "../../src/rng/index.js";
import { FitError } from "../../src/errors.js";

/** GBDT options, LightGBM names in camelCase. */
export interface GbdtOptions {
  /** Boosting rounds at most (default 1000). */
  readonly numRounds: number;
  /** Shrinkage (default 0.01, RegMix's setting). */
  readonly learningRate: number;
  /** Leaves per tree (default 31). */
  readonly numLeaves: number;
  /** Minimum rows per leaf (default 20). */
  readonly minDataInLeaf: number;
  /** Maximum bins per feature (default 255). */
  readonly maxBin: number;
  /** Minimum rows per bin (default 3). */
  readonly minDataInBin: number;
  /** L2 penalty on leaf values (default 0). */
  readonly lambdaL2: number;
  /** Minimum gain to split (default 0). */
  readonly minGainToSplit: number;
  /**
   * Rounds without improvement on the held-out split before stopping (default 3, RegMix's setting; 0 disables
   * early stopping).
   */
  readonly earlyStoppingRounds: number;
  /** Share of training runs held out for early stopping (default 0.2). */
  readonly validationFraction: number;
  /** Refit on all runs with the best round count after early stopping (default true). */
  readonly refit: boolean;
}

export const GBDT_DEFAULTS: GbdtOptions = {
  numRounds: 1000,
  learningRate: 0.01,
  numLeaves: 31,
  minDataInLeaf: 20,
  maxBin: 255,
  minDataInBin: 3,
  lambdaL2: 0,
  minGainToSplit: 0,
  earlyStoppingRounds: 3,
  validationFraction: 0.2,
  refit: true,
};

/** A trained ensemble as flat arrays. Node n is internal when feature[n] ≥ 0. */
export interface GbdtModel {
  readonly numFeatures: number;
  readonly initScore: number;
  /** Offset of each tree's root in the node arrays. */
  readonly treeRoots: Int32Array;
  /** Split feature per node, −1 for a leaf. */
  readonly feature: Int32Array;
  /** Split threshold per node: go left when x ≤ threshold. */
  readonly threshold: Float64Array;
  /** Children (global node indices). */
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Leaf value per node (already multiplied by the learning rate). */
  readonly value: Float64Array;
  /** Rounds found by early stopping (equals the number of trees). */
  readonly bestRound: number;
  /** Held-out L2 per round during early stopping (empty when disabled). */
  readonly validationCurve: readonly number[];
}

/** Bin edges of one feature: bin b holds values ≤ edges[b] (last bin unbounded). */
function binEdges(values: Float64Array, maxBin: number, minDataInBin: number): Float64Array {
  const sorted = Float64Array.from(values).sort();
  const distinct: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0 && sorted[i] === sorted[i - 1]) counts[counts.length - 1]!++;
    else {
      distinct.push(sorted[i]!);
      counts.push(1);
    }
  }
  const n = sorted.length;
  const target = Math.max(minDataInBin, Math.ceil(n / maxBin));
  const edges: number[] = [];
  let acc = 0;
  for (let d = 0; d < distinct.length - 1; d++) {
    acc += counts[d]!;
    // Cut after value d when this bin is full enough and what remains can still fill a bin.
    let rest = 0;
    for (let e = d + 1; e < distinct.length && rest < minDataInBin; e++) rest += counts[e]!;
    if (acc >= target && rest >= minDataInBin) {
      edges.push((distinct[d]! + distinct[d + 1]!) / 2);
      acc = 0;
      if (edges.length === maxBin - 1) break;
    }
  }
  return Float64Array.from(edges);
}

function binOf(edges: Float64Array, v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

interface SplitInfo {
  gain: number;
  feature: number;
  bin: number;
  sumGLeft: number;
  countLeft: number;
}

/** Growable node storage. */
class NodeStore {
  feature: number[] = [];
  threshold: number[] = [];
  left: number[] = [];
  right: number[] = [];
  value: number[] = [];
  add(): number {
    this.feature.push(-1);
    this.threshold.push(0);
    this.left.push(-1);
    this.right.push(-1);
    this.value.push(0);
    return this.feature.length - 1;
  }
}

/**
 * Trains one boosting run on rows `rows` of (x, y) for at most `numRounds` rounds, optionally
 * early-stopping on `valRows`. Returns the node store, roots and validation curve.
 */
function boost(
  x: Float64Array,
  y: Float64Array,
  k: number,
  rows: Int32Array,
  valRows: Int32Array | null,
  numRounds: number,
  o: GbdtOptions,
  edges: Float64Array[],
  bins: Uint8Array,
): { store: NodeStore; roots: number[]; initScore: number; curve: number[]; bestRound: number } {
  const n = rows.length;
  const numBins = edges.map((e) => e.length + 1);
  const binOffset = new Int32Array(k + 1);
  for (let f = 0; f < k; f++) binOffset[f + 1] = binOffset[f]! + numBins[f]!;
  const totalBins = binOffset[k]!;

  let initScore = 0;
  for (let i = 0; i < n; i++) initScore += y[rows[i]!]!;
  initScore /= n;
  const pred = new Float64Array(n).fill(initScore);
  const grad = new Float64Array(n);
  const valPred = valRows ? new Float64Array(valRows.length).fill(initScore) : null;

  const store = new NodeStore();
  const roots: number[] = [];
  const curve: number[] = [];
  let best = Infinity;
  let bestRound = 0;
  let sinceBest = 0;

  // Per-leaf row ranges live in one permutation array (LightGBM's DataPartition).
  const order = new Int32Array(n);
  const scratch = new Int32Array(n);
  const maxLeaves = o.numLeaves;
  const histG: Float64Array[] = [];
  const histC: Float64Array[] = [];
  for (let l = 0; l < maxLeaves; l++) {
    histG.push(new Float64Array(totalBins));
    histC.push(new Float64Array(totalBins));
  }
  const leafStart = new Int32Array(maxLeaves);
  const leafCount = new Int32Array(maxLeaves);
  const leafNode = new Int32Array(maxLeaves);
  const leafSumG = new Float64Array(maxLeaves);
  const leafSplit: (SplitInfo | null)[] = new Array(maxLeaves).fill(null);
  const lambda = o.lambdaL2;

  const buildHist = (leaf: number): void => {
    const hg = histG[leaf]!;
    const hc = histC[leaf]!;
    hg.fill(0);
    hc.fill(0);
    const s = leafStart[leaf]!;
    const e = s + leafCount[leaf]!;
    for (let p = s; p < e; p++) {
      const r = order[p]!;
      const g = grad[r]!;
      const base = rows[r]! * k;
      for (let f = 0; f < k; f++) {
        const b = binOffset[f]! + bins[base + f]!;
        hg[b] = hg[b]! + g;
        hc[b] = hc[b]! + 1;
      }
    }
  };

  const findSplit = (leaf: number): SplitInfo | null => {
    const hg = histG[leaf]!;
    const hc = histC[leaf]!;
    const G = leafSumG[leaf]!;
    const C = leafCount[leaf]!;
    if (C < 2 * o.minDataInLeaf) return null;
    const parentScore = (G * G) / (C + lambda);
    let bestSplit: SplitInfo | null = null;
    for (let f = 0; f < k; f++) {
      let gl = 0;
      let cl = 0;
      const off = binOffset[f]!;
      const nb = numBins[f]!;
      for (let b = 0; b < nb - 1; b++) {
        gl += hg[off + b]!;
        cl += hc[off + b]!;
        if (cl < o.minDataInLeaf) continue;
        const cr = C - cl;
        if (cr < o.minDataInLeaf) break;
        const gr = G - gl;
        const gain = (gl * gl) / (cl + lambda) + (gr * gr) / (cr + lambda) - parentScore;
        if (gain > o.minGainToSplit && (bestSplit === null || gain > bestSplit.gain)) {
          bestSplit = { gain, feature: f, bin: b, sumGLeft: gl, countLeft: cl };
        }
      }
    }
    return bestSplit;
  };

  for (let round = 0; round < numRounds; round++) {
    for (let i = 0; i < n; i++) {
      grad[i] = pred[i]! - y[rows[i]!]!;
      order[i] = i;
    }
    const root = store.add();
    roots.push(root);
    let numLeaves = 1;
    leafStart[0] = 0;
    leafCount[0] = n;
    leafNode[0] = root;
    let g0 = 0;
    for (let i = 0; i < n; i++) g0 += grad[i]!;
    leafSumG[0] = g0;
    buildHist(0);
    leafSplit[0] = findSplit(0);
    while (numLeaves < maxLeaves) {
      let bestLeaf = -1;
      for (let l = 0; l < numLeaves; l++) {
        const s = leafSplit[l];
        if (s && (bestLeaf < 0 || s.gain > leafSplit[bestLeaf]!.gain)) bestLeaf = l;
      }
      if (bestLeaf < 0) break;
      const sp = leafSplit[bestLeaf]!;
      // Partition the leaf's rows: left (bin ≤ sp.bin) first, stable.
      const s = leafStart[bestLeaf]!;
      const c = leafCount[bestLeaf]!;
      let nl = 0;
      let nr = 0;
      for (let p = s; p < s + c; p++) {
        const r = order[p]!;
        if (bins[rows[r]! * k + sp.feature]! <= sp.bin) order[s + nl++] = r;
        else scratch[nr++] = r;
      }
      for (let q = 0; q < nr; q++) order[s + nl + q] = scratch[q]!;
      const node = leafNode[bestLeaf]!;
      const ln = store.add();
      const rn = store.add();
      store.feature[node] = sp.feature;
      store.threshold[node] = edges[sp.feature]![sp.bin]!;
      store.left[node] = ln;
      store.right[node] = rn;
      const newLeaf = numLeaves++;
      // Left child keeps the slot of the parent; right child takes the new slot.
      leafStart[newLeaf] = s + nl;
      leafCount[newLeaf] = nr;
      leafNode[newLeaf] = rn;
      leafSumG[newLeaf] = leafSumG[bestLeaf]! - sp.sumGLeft;
      leafCount[bestLeaf] = nl;
      leafNode[bestLeaf] = ln;
      leafSumG[bestLeaf] = sp.sumGLeft;
      // Histogram subtraction: build the smaller child, derive the larger from the parent.
      const small = nl <= nr ? bestLeaf : newLeaf;
      const large = small === bestLeaf ? newLeaf : bestLeaf;
      const parentG = histG[bestLeaf]!;
      const parentC = histC[bestLeaf]!;
      if (large === bestLeaf) {
        // Parent histogram is in the large child's slot: build small, then subtract in place.
        buildHist(small);
        const sg = histG[small]!;
        const sc = histC[small]!;
        for (let b = 0; b < totalBins; b++) {
          parentG[b] = parentG[b]! - sg[b]!;
          parentC[b] = parentC[b]! - sc[b]!;
        }
      } else {
        // Parent slot becomes the small child: copy parent into the large slot first.
        histG[large]!.set(parentG);
        histC[large]!.set(parentC);
        buildHist(small);
        const lg = histG[large]!;
        const lc = histC[large]!;
        const sg = histG[small]!;
        const sc = histC[small]!;
        for (let b = 0; b < totalBins; b++) {
          lg[b] = lg[b]! - sg[b]!;
          lc[b] = lc[b]! - sc[b]!;
        }
      }
      leafSplit[bestLeaf] = findSplit(bestLeaf);
      leafSplit[newLeaf] = findSplit(newLeaf);
    }
    // Leaf values and prediction updates.
    for (let l = 0; l < numLeaves; l++) {
      const v = (-leafSumG[l]! / (leafCount[l]! + lambda)) * o.learningRate;
      store.value[leafNode[l]!] = v;
      const s = leafStart[l]!;
      for (let p = s; p < s + leafCount[l]!; p++) pred[order[p]!] = pred[order[p]!]! + v;
    }
    if (valRows && valPred) {
      let l2 = 0;
      for (let i = 0; i < valRows.length; i++) {
        const r = valRows[i]!;
        let node = root;
        while (store.feature[node]! >= 0)
          node = x[r * k + store.feature[node]!]! <= store.threshold[node]! ? store.left[node]! : store.right[node]!;
        valPred[i] = valPred[i]! + store.value[node]!;
        l2 += (valPred[i]! - y[r]!) ** 2;
      }
      l2 /= valRows.length;
      curve.push(l2);
      if (!Number.isFinite(l2)) throw new FitError("GBDT: the held-out loss is not finite", {
        iteration: round,
        lastLoss: l2,
      });
      if (l2 < best) {
        best = l2;
        bestRound = round + 1;
        sinceBest = 0;
      } else if (o.earlyStoppingRounds > 0 && ++sinceBest >= o.earlyStoppingRounds) break;
    } else bestRound = round + 1;
  }
  return { store, roots: roots.slice(0, bestRound), initScore, curve, bestRound };
}

/**
 * Fits a GBDT regressor.
 * @param x (numRows × k) features, row-major; @param y targets
 * @param rng used only for the early-stopping split
 */
export function fitGbdt(
  x: Float64Array,
  y: Float64Array,
  k: number,
  options: Partial<GbdtOptions>,
  rng: Rng,
): GbdtModel {
  const o: GbdtOptions = { ...GBDT_DEFAULTS, ...options };
  const n = y.length;
  const edges: Float64Array[] = [];
  const bins = new Uint8Array(n * k);
  for (let f = 0; f < k; f++) {
    const col = new Float64Array(n);
    for (let i = 0; i < n; i++) col[i] = x[i * k + f]!;
    const e = binEdges(col, o.maxBin, o.minDataInBin);
    edges.push(e);
    for (let i = 0; i < n; i++) bins[i * k + f] = binOf(e, col[i]!);
  }
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  let rounds = o.numRounds;
  let curve: number[] = [];
  let result: ReturnType<typeof boost>;
  const numVal = Math.round(n * o.validationFraction);
  if (o.earlyStoppingRounds > 0 && numVal >= 1 && n - numVal >= 2 * o.minDataInLeaf) {
    const perm = rng.shuffle(Int32Array.from(all)) as Int32Array;
    const val = Int32Array.from(perm.subarray(0, numVal)).sort();
    const train = Int32Array.from(perm.subarray(numVal)).sort();
    // Bins come from all rows so the refit sees the same thresholds.
    const es = boost(x, y, k, train, val, o.numRounds, o, edges, bins);
    curve = es.curve;
    rounds = es.bestRound;
    result = o.refit ? boost(x, y, k, all, null, rounds, o, edges, bins) : es;
  } else {
    result = boost(x, y, k, all, null, o.numRounds, o, edges, bins);
  }
  return packModel(result.store, result.roots, result.initScore, k, rounds, curve);
}

function packModel(
  store: NodeStore,
  roots: number[],
  initScore: number,
  k: number,
  bestRound: number,
  curve: number[],
): GbdtModel {
  // Renumber nodes reachable from the kept roots into contiguous arrays (tree by tree).
  const map = new Map<number, number>();
  const keep: number[] = [];
  const visit = (root: number): void => {
    const stack = [root];
    while (stack.length) {
      const nd = stack.pop()!;
      map.set(nd, keep.length);
      keep.push(nd);
      if (store.feature[nd]! >= 0) stack.push(store.right[nd]!, store.left[nd]!);
    }
  };
  const treeRoots = new Int32Array(roots.length);
  roots.forEach((r, t) => {
    treeRoots[t] = keep.length;
    visit(r);
  });
  const m = keep.length;
  const feature = new Int32Array(m);
  const threshold = new Float64Array(m);
  const left = new Int32Array(m);
  const right = new Int32Array(m);
  const value = new Float64Array(m);
  keep.forEach((nd, i) => {
    feature[i] = store.feature[nd]!;
    threshold[i] = store.threshold[nd]!;
    left[i] = feature[i]! >= 0 ? map.get(store.left[nd]!)! : -1;
    right[i] = feature[i]! >= 0 ? map.get(store.right[nd]!)! : -1;
    value[i] = store.value[nd]!;
  });
  return {
    numFeatures: k,
    initScore,
    treeRoots,
    feature,
    threshold,
    left,
    right,
    value,
    bestRound,
    validationCurve: curve,
  };
}

/** Rows predicted per chunk: small enough that a chunk of features stays in L2 cache. */
const CHUNK_ROWS = 2048;

/**
 * Predicts (numRows × k) inputs. Tree-major inside cache-sized chunks of rows: each tree's nodes
 * stay hot while a chunk of rows walks it. No allocation in the loop.
 */
export function predictGbdt(
  model: GbdtModel,
  x: Float64Array,
  out: Float64Array = new Float64Array(x.length / model.numFeatures),
): Float64Array {
  const k = model.numFeatures;
  const n = x.length / k;
  const { treeRoots, feature, threshold, left, right, value } = model;
  const numTrees = treeRoots.length;
  out.fill(model.initScore, 0, n);
  for (let start = 0; start < n; start += CHUNK_ROWS) {
    const end = Math.min(n, start + CHUNK_ROWS);
    for (let t = 0; t < numTrees; t++) {
      const root = treeRoots[t]!;
      if (feature[root]! < 0) {
        const v = value[root]!;
        for (let i = start; i < end; i++) out[i] = out[i]! + v;
        continue;
      }
      for (let i = start; i < end; i++) {
        const base = i * k;
        let nd = root;
        let f = feature[nd]!;
        while (f >= 0) {
          nd = x[base + f]! <= threshold[nd]! ? left[nd]! : right[nd]!;
          f = feature[nd]!;
        }
        out[i] = out[i]! + value[nd]!;
      }
    }
  }
  return out;
}

/** JSON-safe form of a model (numbers round-trip exactly through JSON). */
export function gbdtToJSON(m: GbdtModel): Record<string, unknown> {
  return {
    numFeatures: m.numFeatures,
    initScore: m.initScore,
    bestRound: m.bestRound,
    treeRoots: Array.from(m.treeRoots),
    feature: Array.from(m.feature),
    threshold: Array.from(m.threshold),
    left: Array.from(m.left),
    right: Array.from(m.right),
    value: Array.from(m.value),
  };
}

/** Rebuilds a model from `gbdtToJSON`. */
export function gbdtFromJSON(j: Record<string, unknown>): GbdtModel {
  const arr = (key: string): number[] => {
    const v = j[key];
    if (!Array.isArray(v) || !v.every((e) => typeof e === "number"))
      throw new TypeError(`GBDT model: field ${key} must be an array of numbers`);
    return v as number[];
  };
  const feature = Int32Array.from(arr("feature"));
  const m = feature.length;
  const left = Int32Array.from(arr("left"));
  const right = Int32Array.from(arr("right"));
  const threshold = Float64Array.from(arr("threshold"));
  const value = Float64Array.from(arr("value"));
  const treeRoots = Int32Array.from(arr("treeRoots"));
  const numFeatures = j.numFeatures as number;
  if ([left, right, threshold, value].some((a) => a.length !== m))
    throw new TypeError("GBDT model: node arrays differ in length");
  for (let i = 0; i < m; i++) {
    if (feature[i]! >= numFeatures)
      throw new TypeError(`GBDT model: node ${i} splits on feature ${feature[i]} ≥ ${numFeatures}`);
    if (feature[i]! >= 0 && !(left[i]! > i && left[i]! < m && right[i]! > i && right[i]! < m))
      throw new TypeError(`GBDT model: node ${i} has children outside the tree`);
  }
  for (const r of treeRoots)
    if (!(r >= 0 && r < m)) throw new TypeError(`GBDT model: tree root ${r} outside the node arrays`);
  return {
    numFeatures,
    initScore: j.initScore as number,
    bestRound: (j.bestRound as number) ?? treeRoots.length,
    treeRoots,
    feature,
    threshold,
    left,
    right,
    value,
    validationCurve: [],
  };
}

/** Tree indices at which the early-exit search checks its bound (then every 400 trees). */
const STAGES = [0, 16, 32, 64, 128, 256, 400];

/**
 * Offers every row of `x` to `collector`, predicting only as far as needed: trees are summed in
 * stages, and a row whose partial sum plus the least the remaining trees can add already exceeds
 * the collector's threshold cannot enter the top k, so it is dropped (early exit, as in
 * Cambazoglu et al., "Early exit optimizations for additive machine learned ranking systems",
 * WSDM 2010). The kept set is exactly the one a full prediction would keep; rows are offered in
 * order, so ties resolve as with a full prediction.
 * @returns the number of (row, tree) evaluations done, for the benchmark's report
 */
export function offerGbdtTopK(
  model: GbdtModel,
  x: Float64Array,
  collector: { threshold(): number; offer(value: number, src: Float64Array, offset: number): void },
  scratch: GbdtScratch,
): number {
  const k = model.numFeatures;
  const n = x.length / k;
  const { treeRoots, feature, threshold, left, right, value } = model;
  const numTrees = treeRoots.length;
  const { partial, alive } = scratch.ensure(n);
  partial.fill(model.initScore, 0, n);
  let numAlive = n;
  for (let i = 0; i < n; i++) alive[i] = i;
  let work = 0;
  const minRest = scratch.suffixMin(model);
  let stage = 0;
  let t = 0;
  while (t < numTrees && numAlive > 0) {
    while (stage < STAGES.length && STAGES[stage]! <= t) stage++;
    const stop = Math.min(numTrees, stage < STAGES.length ? STAGES[stage]! : t + 400);
    work += numAlive * (stop - t);
    for (; t < stop; t++) {
      const root = treeRoots[t]!;
      for (let a = 0; a < numAlive; a++) {
        const i = alive[a]!;
        const base = i * k;
        let nd = root;
        let f = feature[nd]!;
        while (f >= 0) {
          nd = x[base + f]! <= threshold[nd]! ? left[nd]! : right[nd]!;
          f = feature[nd]!;
        }
        partial[i] = partial[i]! + value[nd]!;
      }
    }
    // A relative margin keeps the test conservative against rounding in the two summation orders.
    const thr = collector.threshold();
    const bound = thr - minRest[t]! + 1e-9 * (1 + Math.abs(thr));
    if (bound < Infinity) {
      let w = 0;
      for (let a = 0; a < numAlive; a++) {
        const i = alive[a]!;
        if (!(partial[i]! > bound)) alive[w++] = i;
      }
      numAlive = w;
    }
  }
  for (let a = 0; a < numAlive; a++) {
    const i = alive[a]!;
    collector.offer(partial[i]!, x, i * k);
  }
  return work;
}

/** Reusable buffers for `offerGbdtTopK`, and the per-model suffix sums of minimal leaf values. */
export class GbdtScratch {
  partial = new Float64Array(0);
  alive = new Int32Array(0);
  private cachedModel: GbdtModel | null = null;
  private cachedMin = new Float64Array(0);

  ensure(n: number): { partial: Float64Array; alive: Int32Array } {
    if (this.partial.length < n) {
      this.partial = new Float64Array(n);
      this.alive = new Int32Array(n);
    }
    return { partial: this.partial, alive: this.alive };
  }

  /** minRest[t] = Σ over trees u ≥ t of the smallest leaf value of tree u. */
  suffixMin(model: GbdtModel): Float64Array {
    if (this.cachedModel === model) return this.cachedMin;
    const numTrees = model.treeRoots.length;
    const out = new Float64Array(numTrees + 1);
    for (let t = numTrees - 1; t >= 0; t--) {
      const start = model.treeRoots[t]!;
      const end = t + 1 < numTrees ? model.treeRoots[t + 1]! : model.feature.length;
      let m = Infinity;
      for (let nd = start; nd < end; nd++) if (model.feature[nd]! < 0 && model.value[nd]! < m) m = model.value[nd]!;
      out[t] = out[t + 1]! + m;
    }
    this.cachedModel = model;
    this.cachedMin = out;
    return out;
  }
}
