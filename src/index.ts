// mixlab's public API: explicit named re-exports only.

export { createRng, rngFromState, Rng, type RngState } from "./rng/index.js";
export { MixError, InputError, FitError, UnsupportedError, type InputIssue } from "./errors.js";
export {
  normalize,
  isOnSimplex,
  smooth,
  softmax,
  repairMultiplicative,
  repairEuclidean,
  boxInfeasibility,
  entropy,
  l1Distance,
  klDivergence,
  ilr,
  ilrInverse,
  impliedEpochs,
  type Box,
} from "./core/simplex.js";
export { sampleGamma, sampleDirichlet, sampleDirichletMany } from "./core/dirichlet.js";
export {
  spearman,
  kendall,
  pearson,
  pairwiseAccuracy,
  mse,
  rSquared,
  rank,
  agreement,
  type AgreementReport,
} from "./core/stats.js";
export { lbfgs, minimizeOnSimplex, multiStart, smallestK, huber } from "./core/optimize.js";
export { resolveConstraints, type ConstraintSpec } from "./core/constraints.js";
export {
  readFrame,
  readFrameAsync,
  writeFrame,
  serializeFrame,
  parseFrame,
  formatOf,
  type Frame,
  type Cell,
  type TableFormat,
} from "./runs/frame.js";
export {
  buildRunsTable,
  failedRunsNote,
  withoutFailedRuns,
  type FailedRuns,
  joinFrames,
  applyLossPattern,
  resolveTarget,
  mixturesFrame,
  runWeights,
  type RunsTable,
  type RunsLayoutOptions,
  type Target,
} from "./runs/table.js";
export {
  fitRuns,
  crossValidate,
  fitInputOf,
  AUTO,
  RISK_DEFAULT,
  type FitRequest,
  type FitResult,
  type Risk,
  type AutoSelection,
  type Uncertainty,
} from "./fit.js";
export { selectionReport, chooseByCriterion, CRITERION, type SelectionReport, type Choice } from "./core/selection.js";
export { supportDiagnostics, type Diagnostic as SupportDiagnostic, type SupportInput } from "./core/diagnostics.js";
export { createWorld, optimumOf, worldTarget, WORLD_FORMS, type World, type WorldForm } from "./core/worlds.js";
export { dcpt, DcptOptionsSchema } from "../mixers/dcpt/index.js";
export { EnsembleOptionsSchema } from "../mixers/ensemble/index.js";
export { parseProportions, ProportionsSchema, PROPORTIONS_FORMAT, type Proportions } from "./export/proportions.js";
export { exportProportions, EXPORT_FORMATS, type ExportFormat } from "./export/formats.js";
export { laws, suggesters } from "../mixers/index.js";
export type {
  Law,
  FittedLaw,
  FitInput,
  Recommendation,
  ResolvedConstraints,
  SavedLaw,
  Suggester,
  SuggestInput,
  Suggestion,
} from "../mixers/types.js";
export {
  designSwarm,
  DirichletSwarmOptionsSchema,
  roundToUnits,
  dirichletSwarm,
  MAX_SWARM_SIZE,
} from "../mixers/dirichlet/index.js";
export { bayesoptSuggester, MAX_BAYESOPT_BATCH } from "../mixers/bayesopt/suggester.js";
export { checkOutputPath, checkOutputPaths, writeOutputFile, writeOutputFiles } from "./io/output.js";
export {
  createSampler,
  toTfDataset,
  formatPlanTable,
  parseSamplerState,
  SamplerStateSchema,
  Sampler,
  type SamplerOptions,
  type SamplerState,
  type Sample,
  type Example,
  type TokenBatch,
  type PlanRow,
  type ProportionsByName,
  type StageByName,
  type SamplerMixer,
  type MixerStateLike,
  type MixerFactory,
} from "./sampler/sampler.js";
export {
  Plan,
  apportion,
  sampleShares,
  FeistelPermutation,
  type PlanSpec,
  type StageSpec,
  type Stage,
  type Location,
} from "./sampler/plan.js";
export {
  openShard,
  openDomain,
  SOURCE_FORMATS,
  writeTokenShard,
  TokenShardSource,
  JsonlSource,
  ArrowSource,
  ParquetSource,
  ConcatSource,
  MemorySource,
  FileHandlePool,
  SyncFdPool,
  type SourceFormat,
  type DomainSource,
  type SourceRecord,
  type OpenOptions,
} from "./sampler/sources.js";
export { discoverCorpus, openCorpus, type Corpus, type CorpusLayout } from "./sampler/corpus.js";
export { byteTokenizer, type Tokenizer } from "./sampler/tokenizer.js";
export {
  suggestBayesOpt,
  createBayesOpt,
  BayesOptOptionsSchema,
  type Proposal,
  type BoData,
  type BayesOptSession,
} from "../mixers/bayesopt/index.js";
export { fitGp, predictGp, type Gp, type GpHyper } from "../mixers/bayesopt/gp.js";
export { expectedImprovement, logExpectedImprovement, lowerConfidenceBound } from "../mixers/bayesopt/acquisition.js";
export { loadTf, probeBackend, BACKENDS, type BackendName } from "./proxy/backend.js";
export { loadBlas, type Blas } from "./proxy/blas.js";
export {
  PRESETS,
  parameterCount,
  createModel,
  createEnsemble,
  tokenLosses,
  type ProxyConfig,
  type ProxyModel,
  type Kernels,
} from "./proxy/model.js";
export {
  trainProxy,
  trainEnsemble,
  learningRate,
  type TrainOptions,
  type RunResult,
  type Member,
} from "./proxy/train.js";
export {
  trainOnline,
  trainWithMethod,
  domainStats,
  naturalShares,
  skillsGraph,
  type OnlineTrainOptions,
  type OnlineRunResult,
  type TrajectoryPoint,
  type UsedStage,
  type MethodRunOptions,
  type MethodRunResult,
  type CreateMixer,
} from "./proxy/online.js";
export { chooseEnsemble } from "./proxy/ensemble-size.js";
export { runSweep, type SweepOptions, type SweepSummary } from "./sweep/sweep.js";
export { runWorker, type WorkerOptions, type WorkerQueueOptions, type WorkerSummary } from "./sweep/queue/worker.js";
export { type SweepQueueOptions } from "./sweep/queue/coordinator.js";
export { parseQueueUrl, queueNameFor, QueueError, type QueueTarget } from "./sweep/queue/url.js";
export {
  planSweep,
  runKey,
  resolveSettings,
  settingsCells,
  otherSettings,
  type RunSettings,
  type RunSettingsInput,
  type RunSpec,
  type SweepPlan,
} from "./sweep/plan.js";
export { runLocalPool, SweepInterrupted, type LocalPoolOptions, type ChunkOutcome } from "./sweep/pool.js";
export { corpusSha256 } from "./sweep/corpus-hash.js";
export { trainChunk, type ChunkJob } from "./sweep/train-chunk.js";
export {
  appendRuns,
  withTableLock,
  claimRun,
  releaseClaim,
  clearDeadClaims,
  runIdsOf,
  LockError,
  type AppendResult,
  type Claim,
  type Holder,
  type LockOptions,
} from "./runs/store.js";
export { checkRunsOutput } from "./runs/check.js";
export { VERSION } from "./version.js";
export { onlineMixers, createOnlineMixer, type CreateOnlineMixerOptions } from "../mixers/online.js";
export { mergeDomainStats, type RankDomainStats, type MergedDomainStats } from "../mixers/common/domain-stats.js";
export type { MixerEvent, OnlineMixer, OnlineMixerState, OnlineMixerInit, OnlineMixerFamily } from "../mixers/types.js";
export type { DoReMiMixer } from "../mixers/doremi/index.js";
export type { AioliMixer } from "../mixers/aioli/index.js";
export {
  buildReport,
  reportHtml,
  writeReportFile,
  renderSvg,
  countMarks,
  parseReportProportions,
  domainColors,
  fitSpec,
  recommendationSpec,
  weightsOverTokensSpec,
  lossesOverTokensSpec,
} from "./report/index.js";
export type {
  Report,
  ReportOptions,
  ReportSection,
  ReportFigure,
  ReportProportions,
  OnlineRun,
  Diagnostic,
  VegaLiteSpec,
  MixtureSeries,
  FitPlot,
  RecommendationPlot,
} from "./report/index.js";
