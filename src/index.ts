// mixlab's public API: explicit named re-exports only.

export { createRng, rngFromState, Rng, type RngState } from "./rng/index.js";
export { MixError, InputError, FitError, UnsupportedError, type InputIssue } from "./errors.js";
export { normalize, isOnSimplex, smooth, softmax, repairMultiplicative, repairEuclidean, boxInfeasibility, entropy, l1Distance, klDivergence, ilr, ilrInverse, impliedEpochs, type Box } from "./core/simplex.js";
export { sampleGamma, sampleDirichlet, sampleDirichletMany } from "./core/dirichlet.js";
export { spearman, kendall, pearson, pairwiseAccuracy, mse, rSquared, rank, agreement, type AgreementReport } from "./core/stats.js";
export { lbfgs, minimizeOnSimplex, multiStart, smallestK, huber } from "./core/optimize.js";
export { resolveConstraints, type ConstraintSpec } from "./core/constraints.js";
export { readFrame, readFrameAsync, writeFrame, serializeFrame, parseFrame, formatOf, type Frame, type Cell, type TableFormat } from "./runs/frame.js";
export { buildRunsTable, joinFrames, applyLossPattern, resolveTarget, mixturesFrame, runWeights, type RunsTable, type RunsLayoutOptions, type Target } from "./runs/table.js";
export { fitRuns, crossValidate, fitInputOf, type FitRequest, type FitResult } from "./fit.js";
export { parseProportions, ProportionsSchema, PROPORTIONS_FORMAT, type Proportions } from "./export/proportions.js";
export { exportProportions, EXPORT_FORMATS, type ExportFormat } from "./export/formats.js";
export { laws } from "../mixers/index.js";
export type { Law, FittedLaw, FitInput, Recommendation, ResolvedConstraints, SavedLaw } from "../mixers/types.js";
export { designSwarm, DirichletSwarmOptionsSchema, roundToUnits, suggesters } from "../mixers/dirichlet/index.js";
export { createSampler, toTfDataset, formatPlanTable, Sampler, type SamplerOptions, type SamplerState, type Sample, type Example, type TokenBatch, type PlanRow, type ProportionsByName, type StageByName } from "./sampler/sampler.js";
export { Plan, apportion, sampleShares, FeistelPermutation, type PlanSpec, type StageSpec, type Stage, type Location } from "./sampler/plan.js";
export { openShard, openDomain, writeTokenShard, TokenShardSource, JsonlSource, ArrowSource, ParquetSource, ConcatSource, MemorySource, FileHandlePool, type DomainSource, type SourceRecord, type OpenOptions } from "./sampler/sources.js";
export { discoverCorpus, openCorpus, type Corpus, type CorpusLayout } from "./sampler/corpus.js";
export { byteTokenizer, type Tokenizer } from "./sampler/tokenizer.js";
export { suggestBayesOpt, createBayesOpt, BayesOptOptionsSchema, type Proposal, type BoData, type BayesOptSession } from "../mixers/bayesopt/index.js";
export { fitGp, predictGp, type Gp, type GpHyper } from "../mixers/bayesopt/gp.js";
export { expectedImprovement, logExpectedImprovement, lowerConfidenceBound } from "../mixers/bayesopt/acquisition.js";
export { VERSION } from "./version.js";
