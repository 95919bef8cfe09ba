// The bad-input suite: every command given a broken file, flag or value must exit 2 (1 for
// failures that are not the input's fault) with one message that names the culprit (the flag,
// the file, the row/column or the field), print no stack trace, and write no output file.
// Cases run in-process through main() (fast); a handful run through the built bin to prove the
// real process exits with the same code.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { ROOT, tmp } from "../helpers.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const CORPUS = join(ROOT, "datasets", "corpus");
const TRAIN = join(CORPUS, "train");

/** Runs the CLI in-process; returns the exit code and what it printed. */
async function cli(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = "";
  let stdout = "";
  const err = vi
    .spyOn(process.stderr, "write")
    .mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  const out = vi
    .spyOn(process.stdout, "write")
    .mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  process.exitCode = undefined;
  try {
    await main(["node", "mixlab", ...args]);
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stderr, stdout };
}

let D = "";
const p = (name: string): string => join(D, name);
const DOMAINS = ["web", "code", "math"];

/** A small valid runs table: 16 mixtures over three domains with a loss per domain. */
function runsCsv(): string {
  const rows = ["run_id,w.web,w.code,w.math,loss.web,loss.code,loss.math"];
  for (let i = 0; i < 16; i++) {
    const w = [((i % 4) + 1) / 10, (Math.floor(i / 4) + 1) / 10];
    w.push(Number((1 - w[0]! - w[1]!).toFixed(4)));
    rows.push(
      `r${i},${w.join(",")},${(3 - w[0]!).toFixed(4)},` +
        `${(2.5 - w[1]! * 0.8).toFixed(4)},${(2 - w[2]! * 0.5).toFixed(4)}`,
    );
  }
  return `${rows.join("\n")}\n`;
}

const FIT = (runs = p("runs.csv")): string[] => [
  "fit", runs, "--method", "regmix-linear", "--target", "loss.web", "--cv-folds", "0",
];
const SUGGEST = ["suggest", "--domains", "web,code,math", "--n", "4"];

beforeAll(async () => {
  D = tmp();
  writeFileSync(p("runs.csv"), runsCsv());
  mkdirSync(p("adir"));
  const laws: [string, string[]][] = [
    ["regmix-linear", []],
    ["regmix", ["--candidates", "2000", "--top-k", "8"]],
    ["dml", ["--options", '{"numStarts": 1}']],
    ["loglinear", []],
    ["bimix", []],
    ["bayesopt", ["--options", '{"numCandidates": 64, "restarts": 0}']],
    ["uniform", []],
  ];
  for (const [m, extra] of laws) {
    const r = await cli([
      "fit", p("runs.csv"), "--method", m,
      "--target", m === "dml" || m === "loglinear" || m === "bimix" ? "mean:loss.web,loss.code,loss.math" : "loss.web",
      "--cv-folds", "0", "--save-model", p(`law-${m}.json`), "-o", p(`p-${m}.json`), ...extra,
    ]);
    if (r.code !== 0) throw new Error(`fixture ${m}: ${r.stderr}`);
  }
  writeFileSync(p("mix.csv"), "w.web,w.code,w.math\n0.2,0.3,0.5\n0.6,0.2,0.2\n");
  writeFileSync(p("mix2.csv"), "w.web,w.code\n0.5,0.5\n");
  writeFileSync(p("mix4.csv"), "w.web,w.code,w.math,w.extra\n0.25,0.25,0.25,0.25\n");
  writeFileSync(p("notjson.json"), "{ not json");
  writeFileSync(p("empty.csv"), "");
  writeFileSync(p("header.csv"), "run_id,w.web,w.code,loss.web\n");
  writeFileSync(p("sum.csv"), "run_id,w.web,w.code,loss.web\na,0.55,0.56,3\nb,0.5,0.5,3\n");
  writeFileSync(p("neg.csv"), "run_id,w.web,w.code,loss.web\na,-0.5,1.5,3\nb,0.5,0.5,3\n");
  writeFileSync(p("dupid.csv"), "run_id,w.web,w.code,loss.web\na,0.5,0.5,3\na,0.4,0.6,3\n");
  writeFileSync(p("text.csv"), "run_id,w.web,w.code,loss.web\na,0.5,0.5,high\nb,0.4,0.6,3\n");
  writeFileSync(p("nofid.csv"), readFileSync(p("runs.csv")));
  writeFileSync(p("runs.txt"), readFileSync(p("runs.csv")));
  const prop = (doc: Record<string, unknown>, name: string) => writeFileSync(p(name), JSON.stringify(doc));
  prop({ format: "mixlab.proportions/v1", domains: { web: 0.5, code: 0.5 } }, "ok.json");
  prop({ format: "mixlab.proportions/v2", domains: { web: 0.5, code: 0.5 } }, "badformat.json");
  prop({ format: "mixlab.proportions/v1", domains: { web: 0.5, code: 0.6 } }, "badsum.json");
  prop({ format: "mixlab.proportions/v1", domains: { web: -0.5, code: 1.5 } }, "negp.json");
  prop({ format: "mixlab.proportions/v1", domains: { web: 0.5, code: 0.5 }, order: ["web", "math"] }, "badorder.json");
  prop({ format: "mixlab.proportions/v1", domains: { web: 0.5, code: 0.5 }, colour: "red" }, "extra.json");
  prop(
    {
      format: "mixlab.proportions/v1",
      domains: { web: 0.5, code: 0.5 },
      stages: [{ untilTokens: -1, domains: { web: 1 } }],
    },
    "badstage.json",
  );
  prop({ format: "mixlab.proportions/v1", domains: { "my web": 0.5, code: 0.5 } }, "space.json");
  prop({ format: "mixlab.proportions/v1", domains: { web: "half", code: 0.5 } }, "strp.json");
  prop({ domains: { web: 0.5, code: 0.5 } }, "noformat.json");
  prop({ format: "mixlab.proportions/v1", domains: { code: 0.5, legal: 0.5 } }, "corpus-ok.json");
  prop({ format: "mixlab.proportions/v1", domains: { nosuch: 1 } }, "corpus-unknown.json");
  // Saved laws with one thing broken each.
  const law = (m: string) => JSON.parse(readFileSync(p(`law-${m}.json`), "utf8"));
  const tamper = (m: string, name: string, f: (l: any) => void) => {
    const l = law(m);
    f(l);
    writeFileSync(p(name), JSON.stringify(l));
  };
  tamper("regmix", "t-regmix-nomodel.json", (l) => delete l.params.model);
  tamper("regmix", "t-regmix-left.json", (l) => (l.params.model.feature[0] = 7));
  tamper("regmix", "t-regmix-str.json", (l) => (l.params.model.threshold[0] = "x"));
  tamper("regmix", "t-regmix-features.json", (l) => (l.params.model.numFeatures = 5));
  tamper("regmix", "t-regmix-prior.json", (l) => l.params.prior.pop());
  tamper("regmix", "t-regmix-opts.json", (l) => (l.params.options.topK = -3));
  tamper("regmix", "t-regmix-extra.json", (l) => (l.params.surprise = 1));
  tamper("regmix-linear", "t-linear-coef.json", (l) => delete l.params.coefficients.code);
  tamper("regmix-linear", "t-linear-intercept.json", (l) => (l.params.intercept = "one"));
  tamper("dml", "t-dml-c.json", (l) => (l.params.components[0].c = -1));
  tamper("dml", "t-dml-t.json", (l) => delete l.params.components[0].t.math);
  tamper("loglinear", "t-loglinear.json", (l) => delete l.params.components);
  tamper("bimix", "t-bimix.json", (l) => (l.params.components[0].domain = "elsewhere"));
  tamper("bimix", "t-bimix-amount.json", (l) => (l.params.targetAmount = 0));
  tamper("bayesopt", "t-bo-x.json", (l) => l.params.x.pop());
  tamper("bayesopt", "t-bo-hyper.json", (l) => delete l.params.hyper.noiseVariance);
  tamper("uniform", "t-uniform.json", (l) => delete l.params.proportions.code);
  tamper("uniform", "t-uniform-sum.json", (l) => (l.params.proportions.code = 0.9));
  tamper("regmix", "t-method.json", (l) => (l.method = "nosuch"));
  tamper("regmix", "t-format.json", (l) => (l.format = "mixlab.law/v0"));
  tamper("regmix", "t-domains.json", (l) => delete l.domains);
  tamper("regmix", "t-dupdomains.json", (l) => (l.domains = ["web", "web", "math"]));
  writeFileSync(p("one-done.csv"), "run_id,w.web,w.code,loss.web\na,0.5,0.5,3\nb,0.4,0.6,\n");
  writeFileSync(
    p("state-bad.json"),
    JSON.stringify({ format: "mixlab.sampler-state/v1", planSha256: "zz", consumed: -1, appended: [] }),
  );
});

interface Case {
  /** argv after `mixlab` */
  readonly args: string[];
  /** Expected exit code (2 unless stated). */
  readonly code?: number;
  /** What the message must contain (names the culprit). */
  readonly names: RegExp;
  /** Files that must not exist afterwards (no partial output). */
  readonly absent?: string[];
}

const cases = (): Record<string, Case> => ({
  // --- the program ---------------------------------------------------------------------------
  "unknown command": { args: ["nosuch"], names: /unknown command 'nosuch'/ },
  "unknown global option": { args: ["--nosuch"], names: /unknown option '--nosuch'/ },
  "unknown option of fit": { args: [...FIT(), "--nosuch"], names: /unknown option '--nosuch'/ },
  // --- fit: files ----------------------------------------------------------------------------
  "fit: runs file missing": { args: FIT(p("none.csv")), names: /none\.csv: expected a readable file, got ENOENT/ },
  "fit: runs is a folder": { args: FIT(p("adir")), names: /adir/ },
  "fit: runs extension unknown": { args: FIT(p("runs.txt")), names: /runs\.txt.*\.csv/ },
  "fit: runs file empty": { args: FIT(p("empty.csv")), names: /empty\.csv/ },
  "fit: runs header only": {
    args: ["fit", p("header.csv"), "--method", "regmix-linear", "--target", "loss.web"],
    names: /header\.csv/,
  },
  "fit: rows not summing to 1": {
    args: ["fit", p("sum.csv"), "--method", "uniform", "--target", "loss.web"],
    names: /sum\.csv: row 1 \(line 2\): expected the proportions to sum to 1/,
  },
  "fit: a negative proportion": {
    args: ["fit", p("neg.csv"), "--method", "uniform", "--target", "loss.web"],
    names: /neg\.csv: 2 problems:\n {2}row 1 \(line 2\), column "w\.web": expected a number in \[0, 1\], got -0\.5/,
  },
  "fit: duplicate run ids": {
    args: ["fit", p("dupid.csv"), "--method", "uniform", "--target", "loss.web"],
    names: /dupid\.csv: row 2 \(line 3\), column "run_id": expected unique run ids/,
  },
  "fit: a text target": {
    args: ["fit", p("text.csv"), "--method", "uniform", "--target", "loss.web"],
    names: /text\.csv.*row 1.*loss\.web.*"high"/,
  },
  "fit: --losses missing file": {
    args: [...FIT(), "--losses", p("none.csv"), "--join-on", "run_id"],
    names: /none\.csv: expected a readable file, got ENOENT/,
  },
  "fit: --losses without --join-on": {
    args: [...FIT(), "--losses", p("runs.csv")],
    names: /--losses: expected --join-on/,
  },
  "fit: --join-on without --losses": { args: [...FIT(), "--join-on", "run_id"], names: /--join-on: expected --losses/ },
  "fit: --join-on unknown column": {
    args: [...FIT(), "--losses", p("runs.csv"), "--join-on", "nosuch"],
    names: /nosuch/,
  },
  "fit: --weights-prefix matches nothing": { args: [...FIT(), "--weights-prefix", "share."], names: /share\./ },
  "fit: --weights unknown column": { args: [...FIT(), "--weights", "w.web,w.nosuch"], names: /w\.nosuch/ },
  "fit: --sum-tolerance 0": {
    args: [...FIT(), "--sum-tolerance", "0"],
    names: /--sum-tolerance <x>' argument '0' is invalid\. expected a number > 0/,
  },
  "fit: --sum-tolerance text": {
    args: [...FIT(), "--sum-tolerance", "tight"],
    names: /--sum-tolerance <x>' argument 'tight' is invalid/,
  },
  // --- fit: method, target, options ----------------------------------------------------------
  "fit: --target missing": {
    args: ["fit", p("runs.csv"), "--method", "uniform"],
    names: /required option '-t, --target <spec>' not specified/,
  },
  "fit: unknown method": {
    args: ["fit", p("runs.csv"), "--method", "nosuch", "--target", "loss.web"],
    names: /--method: expected auto or one of regmix, .*got "nosuch"/,
  },
  "fit: unknown target column": {
    args: ["fit", p("runs.csv"), "--method", "uniform", "--target", "loss.nosuch"],
    names: /loss\.nosuch/,
  },
  "fit: target is a proportion column": {
    args: ["fit", p("runs.csv"), "--method", "regmix-linear", "--target", "run_id"],
    names: /run_id/,
  },
  "fit: mean: target with an unknown column": {
    args: ["fit", p("runs.csv"), "--method", "dml", "--target", "mean:loss.web,loss.nosuch"],
    names: /loss\.nosuch/,
  },
  "fit: --options not JSON": {
    args: [...FIT(), "--options", "{numCandidates: 5}"],
    names: /--options <json>' argument .* is invalid\. expected a JSON object, got invalid JSON/,
  },
  "fit: --options an array": {
    args: [...FIT(), "--options", "[1,2]"],
    names: /--options <json>' argument '\[1,2\]' is invalid\. expected a JSON object/,
  },
  "fit: --options unknown key": {
    args: [...FIT(), "--options", '{"nosuch": 1}'],
    names: /options of regmix-linear: options: expected one of "[a-zA-Z]+"(, "[a-zA-Z]+")*, got "nosuch"/,
  },
  "fit: --options out of range": {
    args: ["fit", p("runs.csv"), "--method", "regmix", "--target", "loss.web", "--options", '{"numCandidates": 0}'],
    names: /options of regmix: numCandidates: /,
  },
  "fit: --options wrong type": {
    args: [
      "fit", p("runs.csv"), "--method", "temperature", "--target", "loss.web", "--tokens", "web=1,code=1,math=1",
      "--options", '{"temperature": "hot"}',
    ],
    names: /options of temperature: temperature: /,
  },
  "fit: temperature below 1": {
    args: [
      "fit", p("runs.csv"), "--method", "temperature", "--target", "loss.web", "--tokens", "web=1,code=1,math=1",
      "--options", '{"temperature": 0.5}',
    ],
    names: /options of temperature: temperature: .*1/,
  },
  "fit: --candidates 0": {
    args: [...FIT(), "--candidates", "0"],
    names: /--candidates <n>' argument '0' is invalid\. expected an integer ≥ 1/,
  },
  "fit: --candidates 1.5": {
    args: [...FIT(), "--candidates", "1.5"],
    names: /--candidates <n>' argument '1\.5' is invalid/,
  },
  "fit: --top-k 0": { args: [...FIT(), "--top-k", "0"], names: /--top-k <n>' argument '0' is invalid/ },
  "fit: --top-k above --candidates": {
    args: ["fit", p("runs.csv"), "--method", "regmix", "--target", "loss.web", "--candidates", "100", "--top-k", "500"],
    names: /topK \(--top-k\): expected at most numCandidates \(--candidates, 100\), got 500/,
  },
  "fit: --top-k above --options numCandidates": {
    args: [
      "fit", p("runs.csv"), "--method", "regmix", "--target", "loss.web", "--options", '{"numCandidates": 50}',
      "--top-k", "60",
    ],
    names: /topK \(--top-k\): expected at most numCandidates/,
  },
  "fit: --candidates disagrees with --options": {
    args: [
      "fit", p("runs.csv"), "--method", "regmix", "--target", "loss.web", "--options", '{"numCandidates": 50}',
      "--candidates", "60",
    ],
    names: /--candidates: expected the same value as --options numCandidates \(50\), got 60/,
  },
  "fit: --seed negative": {
    args: [...FIT(), "--seed", "-1"],
    names: /--seed <n>' argument '-1' is invalid\. expected an integer in \[0, 4294967295\]/,
  },
  "fit: --seed fractional": { args: [...FIT(), "--seed", "1.5"], names: /--seed <n>' argument '1\.5' is invalid/ },
  "fit: --seed too large": {
    args: [...FIT(), "--seed", "4294967296"],
    names: /--seed <n>' argument '4294967296' is invalid/,
  },
  "fit: --seed text": { args: [...FIT(), "--seed", "abc"], names: /--seed <n>' argument 'abc' is invalid/ },
  "fit: --cv-folds 1": {
    args: [...FIT().slice(0, -2), "--cv-folds", "1"],
    names: /--cv-folds: expected 0 \(no cross-validation\) or at least 2 folds, got 1/,
  },
  "fit: --cv-folds above half the runs": {
    args: [...FIT().slice(0, -2), "--cv-folds", "9"],
    names: /--cv-folds: expected at most 8 folds for 16 runs/,
  },
  "fit: --cv-folds negative": {
    args: [...FIT().slice(0, -2), "--cv-folds", "-2"],
    names: /--cv-folds <k>' argument '-2' is invalid/,
  },
  "fit: --cv-folds fractional": {
    args: [...FIT().slice(0, -2), "--cv-folds", "2.5"],
    names: /--cv-folds <k>' argument '2\.5' is invalid/,
  },
  // --- fit: tokens, prior, constraints -------------------------------------------------------
  "fit: --tokens negative": {
    args: [...FIT(), "--tokens", "web=-1,code=2,math=3"],
    names: /--tokens <map>' argument .* is invalid\. web: expected a token count ≥ 0, got -1/,
  },
  "fit: --tokens all zero": {
    args: [...FIT(), "--tokens", "web=0,code=0,math=0"],
    names: /--tokens <map>' argument .* is invalid\. expected at least one domain with a token count > 0, got all zero/,
  },
  "fit: --tokens not a number": {
    args: [...FIT(), "--tokens", "web=lots,code=2,math=3"],
    names: /--tokens <map>' argument .* is invalid\. web: expected a number, got "lots"/,
  },
  "fit: --tokens without =": {
    args: [...FIT(), "--tokens", "web"],
    names: /--tokens <map>' argument 'web' is invalid\. expected domain=value pairs/,
  },
  "fit: --tokens a domain twice": {
    args: [...FIT(), "--tokens", "web=1,web=2,code=1,math=1"],
    names: /expected each domain once, got "web" twice/,
  },
  "fit: --tokens unknown domain": {
    args: [...FIT(), "--tokens", "web=1,code=1,math=1,nosuch=1"],
    names: /--tokens: expected one of the domains \(web, code, math\), got "nosuch"/,
  },
  "fit: --tokens missing a domain": {
    args: [...FIT(), "--tokens", "web=1,code=1"],
    names: /--tokens: expected a value for domain "math", got none/,
  },
  "fit: --tokens infinite": {
    args: [...FIT(), "--tokens", "web=1e999,code=1,math=1"],
    names: /web: expected a number, got "1e999"/,
  },
  "fit: --prior negative": {
    args: [...FIT(), "--prior", "web=-0.2,code=0.6,math=0.6"],
    names: /--prior <map>' argument .* is invalid\. web: expected a prior share ≥ 0, got -0\.2/,
  },
  "fit: --prior all zero": {
    args: [...FIT(), "--prior", "web=0,code=0,math=0"],
    names: /--prior <map>' argument .* is invalid\. expected at least one domain with a prior share > 0/,
  },
  "fit: --prior unknown domain": {
    args: [...FIT(), "--prior", "web=1,code=1,nosuch=1"],
    names: /--prior: expected one of the domains \(web, code, math\), got "nosuch"/,
  },
  "fit: --min-share above 1": {
    args: [...FIT(), "--min-share", "1.5"],
    names: /--min-share <x\|map>' argument '1\.5' is invalid\. expected a share in \[0, 1\]/,
  },
  "fit: --min-share negative": {
    args: [...FIT(), "--min-share", "-0.1"],
    names: /--min-share <x\|map>' argument '-0\.1' is invalid/,
  },
  "fit: --min-share summing above 1": {
    args: [...FIT(), "--min-share", "0.5"],
    names: /constraints: expected constraints that some mixture satisfies/,
  },
  "fit: --min-share unknown domain": {
    args: [...FIT(), "--min-share", "nosuch=0.1"],
    names: /--min-share: expected domains among web, code, math, got unknown "nosuch"/,
  },
  "fit: --min-share map value above 1": {
    args: [...FIT(), "--min-share", "web=2"],
    names: /--min-share: web: expected a share in \[0, 1\], got 2/,
  },
  "fit: --max-share too small": {
    args: [...FIT(), "--max-share", "0.2"],
    names: /constraints: expected constraints that some mixture satisfies/,
  },
  "fit: --max-share below --min-share": {
    args: [...FIT(), "--max-share", "web=0.1", "--min-share", "web=0.2"],
    names: /constraints: .*"web"/,
  },
  "fit: --max-epochs 0": {
    args: [...FIT(), "--max-epochs", "0"],
    names: /--max-epochs <e>' argument '0' is invalid\. expected a number > 0/,
  },
  "fit: --max-epochs without --tokens": {
    args: [...FIT(), "--max-epochs", "2", "--budget", "1e9"],
    names: /--max-epochs: expected --tokens/,
  },
  "fit: --max-epochs without --budget": {
    args: [...FIT(), "--max-epochs", "2", "--tokens", "web=1e9,code=1e9,math=1e9"],
    names: /--max-epochs: expected --budget/,
  },
  "fit: epoch caps no mixture meets": {
    args: [...FIT(), "--max-epochs", "1", "--budget", "1e10", "--tokens", "web=1e9,code=1e9,math=1e9"],
    names: /constraints: expected constraints that some mixture satisfies, got none/,
  },
  "fit: --budget 0": {
    args: [...FIT(), "--budget", "0"],
    names: /--budget <tokens>' argument '0' is invalid\. expected a number > 0/,
  },
  "fit: --budget text": { args: [...FIT(), "--budget", "big"], names: /--budget <tokens>' argument 'big' is invalid/ },
  "fit: natural without --tokens": {
    args: ["fit", p("runs.csv"), "--method", "natural", "--target", "loss.web"],
    names: /natural: expected token counts per domain/,
  },
  "fit: unimax without --budget": {
    args: ["fit", p("runs.csv"), "--method", "unimax", "--target", "loss.web", "--tokens", "web=1e9,code=1e9,math=1e9"],
    names: /options of unimax: budgetTokens: /,
  },
  "fit: unimax with a budget the corpus cannot meet": {
    args: [
      "fit", p("runs.csv"), "--method", "unimax", "--target", "loss.web", "--tokens", "web=1e9,code=1e9,math=1e9",
      "--budget", "1e12",
    ],
    names: /unimax: budgetTokens \(--budget\): expected at most 1\.20000e\+10 tokens \(4 epochs of every domain's tokens\), got 1000000000000/,
  },
  "fit: unimax --budget disagrees with --options": {
    args: [
      "fit", p("runs.csv"), "--method", "unimax", "--target", "loss.web", "--tokens", "web=1e9,code=1e9,math=1e9",
      "--budget", "1e9", "--options", '{"budgetTokens": 2e9}',
    ],
    names: /--budget: expected the same value as --options budgetTokens/,
  },
  "fit: --fidelity-costs without a fidelity column": {
    args: ["fit", p("runs.csv"), "--method", "bayesopt", "--target", "loss.web", "--fidelity-costs", "a=1"],
    names: /--fidelity-costs: expected a "fidelity" column/,
  },
  "fit: --fidelity-costs zero": {
    args: [...FIT(), "--fidelity-costs", "a=0"],
    names: /--fidelity-costs <map>' argument 'a=0' is invalid\. a: expected a cost > 0, got 0/,
  },
  // --- fit: outputs --------------------------------------------------------------------------
  "fit: -o into a missing folder": {
    args: [...FIT(), "-o", p("nodir/p.json")],
    names: /--out: .*nodir\/p\.json: expected a writable file in an existing folder, got no folder/,
    absent: ["nodir"],
  },
  "fit: -o is a folder": {
    args: [...FIT(), "-o", p("adir")],
    names: /--out: .*adir: expected a writable file in an existing folder, got a folder/,
  },
  "fit: --save-model into a missing folder, -o not written": {
    args: [...FIT(), "-o", p("fit-out.json"), "--save-model", p("nodir/law.json")],
    names: /--save-model: .*nodir\/law\.json: expected a writable file/,
    absent: ["fit-out.json"],
  },
  "fit: -o and --save-model the same file": {
    args: [...FIT(), "-o", p("same.json"), "--save-model", p("same.json")],
    names: /--save-model: .*same\.json: expected a different file from --out/,
    absent: ["same.json"],
  },
  "fit: -o over the runs table": {
    args: [...FIT(), "-o", p("runs.csv")],
    names: /--out: .*runs\.csv: expected a different file from the input .*runs\.csv, got the same path/,
  },
  "fit: --save-model over the runs table": {
    args: [...FIT(), "--save-model", p("runs.csv")],
    names: /--save-model: .*runs\.csv: expected a different file from the input/,
  },
  "predict: -o over the mixtures": {
    args: ["predict", p("law-regmix.json"), p("mix.csv"), "-o", p("mix.csv")],
    names: /--out: .*mix\.csv: expected a different file from the input .*mix\.csv/,
  },
  "predict: -o over the model": {
    args: ["predict", p("law-regmix.json"), p("mix.csv"), "-o", p("law-regmix.json")],
    names: /--out: .*law-regmix\.json: expected a different file from the input/,
  },
  "suggest: -o over the runs table": {
    args: ["suggest", p("runs.csv"), "--method", "bayesopt", "--target", "loss.web", "--n", "1", "-o", p("runs.csv")],
    names: /--out: .*runs\.csv: expected a different file from the input/,
  },
  "export: --path-prefix for a format without paths": {
    args: ["export", p("ok.json"), "--format", "hf", "--path-prefix", "/data/"],
    names: /--path-prefix: expected a format with data paths \(megatron, streaming, olmo\), got --format hf/,
  },
  "export: --max-epochs for a format other than olmo": {
    args: ["export", p("ok.json"), "--format", "megatron", "--max-epochs", "2"],
    names: /--max-epochs: expected --format olmo \(its max_repetition_ratio\), got --format megatron/,
  },
  "fit: --budget without --max-epochs": {
    args: [...FIT(), "--budget", "1e9"],
    names: /--budget: expected --max-epochs with it/,
  },
  "export: --phase with --static": {
    args: ["export", p("ok.json"), "--format", "megatron", "--phase", "1", "--static"],
    names:
      /--phase: expected either --phase or --static \(one stage, or the static answer\), got --phase 1 with --static/,
  },
  "export: -o over the input": {
    args: ["export", p("ok.json"), "-o", p("ok.json")],
    names: /--out: .*ok\.json: expected a different file from the input/,
  },
  "fit: -o with an empty path": {
    args: [...FIT(), "-o", ""],
    names: /--out: : expected a writable file in an existing folder, got an empty path/,
  },
  // --- predict -------------------------------------------------------------------------------
  "predict: model missing": {
    args: ["predict", p("none.json"), p("mix.csv")],
    names: /none\.json: expected a readable file, got ENOENT/,
  },
  "predict: model not JSON": {
    args: ["predict", p("notjson.json"), p("mix.csv")],
    names: /notjson\.json: expected a saved law \(JSON\)/,
  },
  "predict: model is a folder": {
    args: ["predict", p("adir"), p("mix.csv")],
    names: /adir: expected a readable file, got EISDIR/,
  },
  "predict: model wrong format": {
    args: ["predict", p("t-format.json"), p("mix.csv")],
    names: /t-format\.json: format: /,
  },
  "predict: model unknown method": {
    args: ["predict", p("t-method.json"), p("mix.csv")],
    names: /t-method\.json: method: expected one of .*got "nosuch"/,
  },
  "predict: model without domains": {
    args: ["predict", p("t-domains.json"), p("mix.csv")],
    names: /t-domains\.json: domains: /,
  },
  "predict: model with a domain twice": {
    args: ["predict", p("t-dupdomains.json"), p("mix.csv")],
    names: /t-dupdomains\.json: domains: expected unique names, got "web" twice/,
  },
  "predict: regmix law without its model": {
    args: ["predict", p("t-regmix-nomodel.json"), p("mix.csv")],
    names: /t-regmix-nomodel\.json: params\.model: /,
  },
  "predict: regmix law with tree links out of range": {
    args: ["predict", p("t-regmix-left.json"), p("mix.csv")],
    names: /t-regmix-left\.json: params\.model: expected a valid saved value, got one that fails: GBDT model: node 0 splits on feature 7 ≥ 3/,
  },
  "predict: regmix law with a text threshold": {
    args: ["predict", p("t-regmix-str.json"), p("mix.csv")],
    names: /t-regmix-str\.json: params\.model\.threshold\.0: /,
  },
  "predict: regmix law over other domains": {
    args: ["predict", p("t-regmix-features.json"), p("mix.csv")],
    names: /t-regmix-features\.json: params\.model\.numFeatures: expected a model over 3 domains, got 5 features/,
  },
  "predict: regmix law with a short prior": {
    args: ["predict", p("t-regmix-prior.json"), p("mix.csv")],
    names: /t-regmix-prior\.json: params\.prior: expected 3 shares \(one per domain\), got 2/,
  },
  "predict: regmix law with bad options": {
    args: ["predict", p("t-regmix-opts.json"), p("mix.csv")],
    names: /t-regmix-opts\.json: params\.options\.topK: /,
  },
  "predict: regmix law with an unknown field": {
    args: ["predict", p("t-regmix-extra.json"), p("mix.csv")],
    names: /t-regmix-extra\.json: params: expected no field "surprise"/,
  },
  "predict: linear law without a coefficient": {
    args: ["predict", p("t-linear-coef.json"), p("mix.csv")],
    names: /t-linear-coef\.json: params\.coefficients\.code: expected a coefficient for this domain, got none/,
  },
  "predict: linear law with a text intercept": {
    args: ["predict", p("t-linear-intercept.json"), p("mix.csv")],
    names: /t-linear-intercept\.json: params\.intercept: /,
  },
  "predict: dml law with a negative floor": {
    args: ["predict", p("t-dml-c.json"), p("mix.csv")],
    names: /t-dml-c\.json: params\.components\.0\.c: /,
  },
  "predict: dml law without a coefficient": {
    args: ["predict", p("t-dml-t.json"), p("mix.csv")],
    names: /t-dml-t\.json: params\.components\.0\.t\.math: expected a coefficient for domain "math", got none/,
  },
  "predict: loglinear law without components": {
    args: ["predict", p("t-loglinear.json"), p("mix.csv")],
    names: /t-loglinear\.json: params\.components: /,
  },
  "predict: bimix law with a foreign domain": {
    args: ["predict", p("t-bimix.json"), p("mix.csv")],
    names: /t-bimix\.json: params\.components\.0\.domain: expected one of the model's domains \(web, code, math\), got "elsewhere"/,
  },
  "predict: bimix law with a zero target amount": {
    args: ["predict", p("t-bimix-amount.json"), p("mix.csv")],
    names: /t-bimix-amount\.json: params\.targetAmount: /,
  },
  "predict: bayesopt law with a short x": {
    args: ["predict", p("t-bo-x.json"), p("mix.csv")],
    names: /t-bo-x\.json: params\.x: expected 48 numbers \(16 runs over 3 domains\), got 47/,
  },
  "predict: bayesopt law without noise variance": {
    args: ["predict", p("t-bo-hyper.json"), p("mix.csv")],
    names: /t-bo-hyper\.json: params\.hyper\.noiseVariance: /,
  },
  "predict: static law without a domain": {
    args: ["predict", p("t-uniform.json"), p("mix.csv")],
    names: /t-uniform\.json: params\.proportions\.code: expected a proportion for this domain, got none/,
  },
  "predict: static law not summing to 1": {
    args: ["predict", p("t-uniform-sum.json"), p("mix.csv")],
    names: /t-uniform-sum\.json: params\.proportions: expected proportions summing to 1/,
  },
  "predict: mixtures missing": {
    args: ["predict", p("law-regmix.json"), p("none.csv")],
    names: /none\.csv: expected a readable file, got ENOENT/,
  },
  "predict: mixtures lack a domain": {
    args: ["predict", p("law-regmix.json"), p("mix2.csv")],
    names: /mix2\.csv: domain "math": expected a proportion column for this domain of the model, got none/,
  },
  "predict: mixtures have an extra domain": {
    args: ["predict", p("law-regmix.json"), p("mix4.csv")],
    names: /mix4\.csv: domain "extra": expected only the model's domains/,
  },
  "predict: mixtures not summing": { args: ["predict", p("law-regmix.json"), p("sum.csv")], names: /sum\.csv/ },
  "predict: -o into a missing folder": {
    args: ["predict", p("law-regmix.json"), p("mix.csv"), "-o", p("nodir/x.csv")],
    names: /--out: .*nodir\/x\.csv: expected a writable file/,
  },
  "predict: -o with an unknown extension": {
    args: ["predict", p("law-regmix.json"), p("mix.csv"), "-o", p("x.xlsx")],
    names: /--out: expected a file ending in \.csv, \.jsonl, \.arrow or \.parquet, got "\.xlsx"/,
    absent: ["x.xlsx"],
  },
  "predict: -o is a folder": {
    args: ["predict", p("law-regmix.json"), p("mix.csv"), "-o", p("adir")],
    names: /--out: .*adir: expected a writable file in an existing folder, got a folder/,
  },
  "predict: model argument missing": { args: ["predict"], names: /missing required argument 'model'/ },
  "predict: mixtures argument missing": {
    args: ["predict", p("law-regmix.json")],
    names: /missing required argument 'mixtures'/,
  },
  // --- suggest -------------------------------------------------------------------------------
  "suggest: --n missing": {
    args: ["suggest", "--domains", "a,b"],
    names: /required option '-n, --n <k>' not specified/,
  },
  "suggest: --n 0": {
    args: ["suggest", "--domains", "a,b", "--n", "0"],
    names: /--n <k>' argument '0' is invalid\. expected an integer ≥ 1/,
  },
  "suggest: --n negative": {
    args: ["suggest", "--domains", "a,b", "--n", "-3"],
    names: /--n <k>' argument '-3' is invalid/,
  },
  "suggest: --n fractional": {
    args: ["suggest", "--domains", "a,b", "--n", "2.5"],
    names: /--n <k>' argument '2\.5' is invalid/,
  },
  "suggest: --n 1e9": {
    args: ["suggest", "--domains", "a,b", "--n", "1e9"],
    names: /--n: expected at most 10000 mixtures for dirichlet in one call, got 1000000000/,
  },
  "suggest: bayesopt --n 100000": {
    args: ["suggest", p("runs.csv"), "--method", "bayesopt", "--target", "loss.web", "--n", "100000"],
    names: /--n: expected at most 256 mixtures for bayesopt in one call, got 100000/,
  },
  "suggest: --n more than distinct mixtures exist": {
    args: ["suggest", "--domains", "a,b", "--n", "6000"],
    names: /--n: expected at most \d+ distinct mixtures from this design, got a request for 6000/,
  },
  "suggest: unknown method": {
    args: [...SUGGEST, "--method", "nosuch"],
    names: /--method: expected one of dirichlet, bayesopt, got "nosuch"/,
  },
  "suggest: dirichlet without --domains": {
    args: ["suggest", "--n", "3"],
    names: /--domains: expected the domain names \(a,b,c\) or a runs table/,
  },
  "suggest: --domains twice the same": {
    args: ["suggest", "--domains", "a,b,a", "--n", "3"],
    names: /--domains: expected unique names, got "a" twice/,
  },
  "suggest: one domain": {
    args: ["suggest", "--domains", "a", "--n", "3"],
    names: /--domains: expected at least 2 domains, got 1/,
  },
  "suggest: --domains empty": {
    args: ["suggest", "--domains", ",", "--n", "3"],
    names: /--domains <a,b,c>' argument ',' is invalid\. expected a comma-separated list/,
  },
  "suggest: runs table and --domains": {
    args: ["suggest", p("runs.csv"), "--domains", "a,b", "--n", "3"],
    names: /--domains: expected either a runs table or --domains, got both/,
  },
  "suggest: --min-share impossible": {
    args: [...SUGGEST, "--min-share", "0.5"],
    names: /constraints: expected constraints that some mixture satisfies/,
  },
  "suggest: --max-share impossible": {
    args: [...SUGGEST, "--max-share", "0.3"],
    names: /constraints: expected constraints that some mixture satisfies/,
  },
  "suggest: --max-share below --min-share": {
    args: [...SUGGEST, "--min-share", "web=0.4", "--max-share", "web=0.3"],
    names: /constraints: .*"web"/,
  },
  "suggest: --max-share unknown domain": {
    args: [...SUGGEST, "--max-share", "nosuch=0.5"],
    names: /--max-share: expected domains among web, code, math, got unknown "nosuch"/,
  },
  "suggest: --max-share above 1": {
    args: [...SUGGEST, "--max-share", "1.2"],
    names: /--max-share <x\|map>' argument '1\.2' is invalid/,
  },
  "suggest: --tokens negative": {
    args: [...SUGGEST, "--tokens", "web=-1,code=1,math=1"],
    names: /--tokens <map>' argument .* is invalid\. web: expected a token count ≥ 0, got -1/,
  },
  "suggest: --tokens all zero": {
    args: [...SUGGEST, "--tokens", "web=0,code=0,math=0"],
    names: /--tokens <map>' argument .* is invalid\. expected at least one domain with a token count > 0/,
  },
  "suggest: --tokens unknown domain": {
    args: [...SUGGEST, "--tokens", "web=1,code=1,math=1,nosuch=1"],
    names: /--tokens: expected one of the domains \(web, code, math\), got "nosuch"/,
  },
  "suggest: --tokens missing a domain": {
    args: [...SUGGEST, "--tokens", "web=1,code=1"],
    names: /--tokens: expected a value for domain "math", got none/,
  },
  "suggest: --prior negative": {
    args: [...SUGGEST, "--prior", "web=-1,code=1,math=1"],
    names: /--prior <map>' argument .* is invalid\. web: expected a prior share ≥ 0, got -1/,
  },
  "suggest: --prior all zero": {
    args: [...SUGGEST, "--prior", "web=0,code=0,math=0"],
    names: /--prior <map>' argument .* is invalid\. expected at least one domain with a prior share > 0/,
  },
  "suggest: --prior missing a domain": {
    args: [...SUGGEST, "--prior", "web=1,code=1"],
    names: /--prior: expected a value for domain "math", got none/,
  },
  "suggest: --max-epochs without --tokens": {
    args: [...SUGGEST, "--max-epochs", "2", "--budget", "1e9"],
    names: /--max-epochs: expected --tokens/,
  },
  "suggest: --max-epochs without --budget": {
    args: [...SUGGEST, "--max-epochs", "2", "--tokens", "web=1e9,code=1e9,math=1e9"],
    names: /--max-epochs: expected --budget/,
  },
  "suggest: --budget without --max-epochs": {
    args: [...SUGGEST, "--budget", "1e9"],
    names: /--budget: expected --max-epochs with it/,
  },
  "suggest: epoch caps no mixture meets": {
    args: [...SUGGEST, "--max-epochs", "1", "--budget", "1e10", "--tokens", "web=1e9,code=1e9,math=1e9"],
    names: /constraints: expected constraints that some mixture satisfies, got none/,
  },
  "suggest: --options unknown key": {
    args: [...SUGGEST, "--options", '{"nosuch": 1}'],
    names: /options of dirichlet: options: expected one of "[a-zA-Z]+"(, "[a-zA-Z]+")*, got "nosuch"/,
  },
  "suggest: --options out of range": {
    args: [...SUGGEST, "--options", '{"priorTemperature": 2}'],
    names: /options of dirichlet: priorTemperature: /,
  },
  "suggest: --options concentrations crossed": {
    args: [...SUGGEST, "--options", '{"minConcentration": 6}'],
    names: /options of dirichlet: minConcentration: expected at most maxConcentration \(5\), got 6/,
  },
  "suggest: --options not JSON": {
    args: [...SUGGEST, "--options", "{"],
    names: /--options <json>' argument '\{' is invalid/,
  },
  "suggest: --seed negative": { args: [...SUGGEST, "--seed", "-1"], names: /--seed <n>' argument '-1' is invalid/ },
  "suggest: -o into a missing folder": {
    args: [...SUGGEST, "-o", p("nodir/s.csv")],
    names: /--out: .*nodir\/s\.csv: expected a writable file in an existing folder/,
  },
  "suggest: -o with an unknown extension": {
    args: [...SUGGEST, "-o", p("s.xlsx")],
    names: /--out: expected a file ending in \.csv, \.jsonl, \.arrow or \.parquet, got "\.xlsx"/,
    absent: ["s.xlsx"],
  },
  "suggest: bayesopt without a runs table": {
    args: ["suggest", "--method", "bayesopt", "--target", "loss.web", "--n", "2", "--domains", "a,b"],
    names: /suggest: expected a runs table for --method bayesopt/,
  },
  "suggest: bayesopt without --target": {
    args: ["suggest", p("runs.csv"), "--method", "bayesopt", "--n", "2"],
    names: /--target: expected the column to minimise for --method bayesopt/,
  },
  "suggest: bayesopt unknown target": {
    args: ["suggest", p("runs.csv"), "--method", "bayesopt", "--target", "loss.nosuch", "--n", "2"],
    names: /loss\.nosuch/,
  },
  "suggest: bayesopt runs file missing": {
    args: ["suggest", p("none.csv"), "--method", "bayesopt", "--target", "loss.web", "--n", "2"],
    names: /none\.csv: expected a readable file, got ENOENT/,
  },
  "suggest: bayesopt with one finished run": {
    args: ["suggest", p("one-done.csv"), "--method", "bayesopt", "--target", "loss.web", "--n", "2"],
    names: /one-done\.csv: target: expected at least 2 finished runs \(rows with a target\), got 1; start with a swarm/,
  },
  "suggest: bayesopt bad option": {
    args: [
      "suggest", p("runs.csv"), "--method", "bayesopt", "--target", "loss.web", "--n", "2", "--options",
      '{"acquisition": "ucb"}',
    ],
    names: /options of bayesopt: acquisition: /,
  },
  "suggest: bayesopt --fidelity-costs without a fidelity column": {
    args: [
      "suggest", p("runs.csv"), "--method", "bayesopt", "--target", "loss.web", "--n", "2", "--fidelity-costs",
      "small=1",
    ],
    names: /--fidelity-costs: expected a "fidelity" column/,
  },
  "suggest: --fidelity-costs with dirichlet": {
    args: [...SUGGEST, "--fidelity-costs", "small=1"],
    names: /--fidelity-costs: expected a multi-fidelity method \(bayesopt\), got --method dirichlet/,
  },
  "suggest: --target with dirichlet": {
    args: [...SUGGEST, "--target", "loss.web"],
    names: /--target: expected no target for --method dirichlet/,
  },
  // --- export --------------------------------------------------------------------------------
  "export: file missing": {
    args: ["export", p("none.json")],
    names: /none\.json: expected a readable file, got ENOENT/,
  },
  "export: not JSON": { args: ["export", p("notjson.json")], names: /notjson\.json: expected JSON, got invalid JSON/ },
  "export: wrong format": { args: ["export", p("badformat.json")], names: /badformat\.json: format: / },
  "export: no format field": { args: ["export", p("noformat.json")], names: /noformat\.json: format: / },
  "export: not summing to 1": {
    args: ["export", p("badsum.json")],
    names: /badsum\.json: domains: expected proportions summing to 1 \(± 1e-6\), got 1\.1/,
  },
  "export: a negative proportion": { args: ["export", p("negp.json")], names: /negp\.json: domains\.web: / },
  "export: a text proportion": { args: ["export", p("strp.json")], names: /strp\.json: domains\.web: / },
  "export: order names other domains": {
    args: ["export", p("badorder.json")],
    names: /badorder\.json: order: expected the same domains as `domains`/,
  },
  "export: unknown field": { args: ["export", p("extra.json")], names: /extra\.json: .*colour/ },
  "export: a negative stage end": {
    args: ["export", p("badstage.json")],
    names: /badstage\.json: stages\.0\.untilTokens: /,
  },
  "export: unknown --format": {
    args: ["export", p("ok.json"), "--format", "csv"],
    names: /--format: expected one of json, megatron, hf, streaming, olmo, levanter, got "csv"/,
  },
  "export: --max-epochs 0": {
    args: ["export", p("ok.json"), "--format", "olmo", "--max-epochs", "0"],
    names: /--max-epochs <e>' argument '0' is invalid/,
  },
  "export: megatron with a space in --path-prefix": {
    args: ["export", p("ok.json"), "--format", "megatron", "--path-prefix", "/data/my corpus/"],
    names: /megatron: 2 problems:\n {2}domain "web": expected a data path without whitespace \(Megatron splits its blend on whitespace\), got "\/data\/my corpus\/web"; the --path-prefix has whitespace/,
  },
  "export: megatron with a space in a domain name": {
    args: ["export", p("space.json"), "--format", "megatron"],
    names: /megatron: domain "my web": expected a data path without whitespace \(Megatron splits its blend on whitespace\), got "my web_text_document"/,
  },
  "export: -o into a missing folder": {
    args: ["export", p("ok.json"), "-o", p("nodir/e.json")],
    names: /--out: .*nodir\/e\.json: expected a writable file in an existing folder/,
  },
  "export: -o is a folder": {
    args: ["export", p("ok.json"), "-o", p("adir")],
    names: /--out: .*adir: expected a writable file in an existing folder, got a folder/,
  },
  "export: argument missing": { args: ["export"], names: /missing required argument 'proportions'/ },
  // --- sample (flag layer; the sampler is another branch's) ----------------------------------
  "sample: --corpus missing": {
    args: ["sample", "--proportions", p("corpus-ok.json")],
    names: /required option '--corpus <dir>' not specified/,
  },
  "sample: --proportions missing": {
    args: ["sample", "--corpus", TRAIN],
    names: /required option '--proportions <file>' not specified/,
  },
  "sample: proportions file missing": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("none.json")],
    names: /none\.json: expected a readable file, got ENOENT/,
  },
  "sample: proportions not JSON": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("notjson.json")],
    names: /notjson\.json: expected JSON/,
  },
  "sample: proportions not summing": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("badsum.json")],
    names: /badsum\.json: domains: expected proportions summing to 1/,
  },
  "sample: --n negative": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--n", "-1"],
    names: /--n <k>' argument '-1' is invalid\. expected an integer ≥ 0/,
  },
  "sample: --world 0": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--world", "0"],
    names: /--world <w>' argument '0' is invalid/,
  },
  "sample: --rank negative": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--rank", "-1"],
    names: /--rank <r>' argument '-1' is invalid/,
  },
  "sample: --block-size 0": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--block-size", "0"],
    names: /--block-size <b>' argument '0' is invalid/,
  },
  "sample: --unit unknown": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--unit", "bytes"],
    names: /--unit: expected tokens or samples, got "bytes"/,
  },
  "sample: --order unknown": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--order", "random"],
    names: /--order: expected shuffle or smooth, got "random"/,
  },
  "sample: --on-exceed unknown": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--on-exceed", "ignore"],
    names: /--on-exceed: expected error or redistribute, got "ignore"/,
  },
  "sample: --max-epochs 0": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--max-epochs", "0"],
    names: /--max-epochs <e>' argument '0' is invalid/,
  },
  "sample: --budget-samples 0": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--budget-samples", "0"],
    names: /--budget-samples <n>' argument '0' is invalid/,
  },
  "sample: --budget-tokens negative": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--budget-tokens", "-5"],
    names: /--budget-tokens <n>' argument '-5' is invalid/,
  },
  "sample: two budgets": {
    args: [
      "sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"),
      "--budget-samples", "100", "--budget-tokens", "1000",
    ],
    names: /--budget-samples, --budget-tokens: expected one budget, got both \(100 samples and 1000 tokens\)/,
  },
  "sample: --max-epochs without a budget": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--max-epochs", "2"],
    names: /--max-epochs: expected --budget-samples or --budget-tokens with it/,
  },
  "sample: --seed text": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--seed", "x"],
    names: /--seed <n>' argument 'x' is invalid/,
  },
  "sample: --state-in missing": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--state-in", p("none.json")],
    names: /none\.json: expected a sampler state \(JSON\), got ENOENT/,
  },
  "sample: --state-in not a state": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--state-in", p("state-bad.json")],
    names: /state-bad\.json: 2 problems:\n {2}planSha256: /,
  },
  "sample: --state-out into a missing folder": {
    args: ["sample", "--corpus", TRAIN, "--proportions", p("corpus-ok.json"), "--state-out", p("nodir/s.json")],
    names: /--state-out: .*nodir\/s\.json: expected a writable file in an existing folder/,
  },
  "sample: corpus folder missing": {
    args: ["sample", "--corpus", p("nocorpus"), "--proportions", p("corpus-ok.json")],
    names: /nocorpus/,
  },
  // --- train (flag layer) --------------------------------------------------------------------
  "train: --steps 0": {
    args: ["train", "--weights", "code=1", "--steps", "0"],
    names: /--steps <n>' argument '0' is invalid\. expected an integer ≥ 1/,
  },
  "train: --batch-size 0": {
    args: ["train", "--weights", "code=1", "--batch-size", "0"],
    names: /--batch-size <n>' argument '0' is invalid/,
  },
  "train: --lr 0": {
    args: ["train", "--weights", "code=1", "--lr", "0"],
    names: /--lr <x>' argument '0' is invalid\. expected a number > 0/,
  },
  "train: --lr text": {
    args: ["train", "--weights", "code=1", "--lr", "fast"],
    names: /--lr <x>' argument 'fast' is invalid/,
  },
  "train: --seed negative": {
    args: ["train", "--weights", "code=1", "--seed", "-2"],
    names: /--seed <n>' argument '-2' is invalid/,
  },
  "train: --threads 0": {
    args: ["train", "--weights", "code=1", "--threads", "0"],
    names: /--threads <n>' argument '0' is invalid/,
  },
  "train: --eval-every 0": {
    args: ["train", "--weights", "code=1", "--eval-every", "0"],
    names: /--eval-every <n>' argument '0' is invalid/,
  },
  "train: unknown --model": {
    args: ["train", "--weights", "code=1", "--model", "huge"],
    names: /--model: expected one of .*got "huge"/,
  },
  "train: --mixture and --weights": {
    args: ["train", "--weights", "code=1", "--mixture", p("corpus-ok.json")],
    names: /--mixture: expected exactly one of --mixture or --weights/,
  },
  "train: neither --mixture nor --weights": {
    args: ["train"],
    names: /--mixture: expected exactly one of --mixture or --weights/,
  },
  "train: --weights negative": {
    args: ["train", "--weights", "code=-1,legal=2"],
    names: /--weights: expected shares ≥ 0 with a positive sum/,
  },
  "train: --weights all zero": {
    args: ["train", "--weights", "code=0,legal=0"],
    names: /--weights: expected shares ≥ 0 with a positive sum/,
  },
  "train: --weights malformed": {
    args: ["train", "--weights", "code"],
    names: /--weights <map>' argument 'code' is invalid/,
  },
  "train: --mixture missing": {
    args: ["train", "--mixture", p("none.json")],
    names: /none\.json: expected a readable file, got ENOENT/,
  },
  "train: --mixture not summing": {
    args: ["train", "--mixture", p("badsum.json")],
    names: /badsum\.json: domains: expected proportions summing to 1/,
  },
  "train: --corpus without train/ and heldout/": {
    args: ["train", "--weights", "code=1", "--corpus", p("adir")],
    names: /--corpus: expected a built corpus folder with train\/ and heldout\//,
  },
  // --- sweep (flag layer) --------------------------------------------------------------------
  "sweep: --runs missing": { args: ["sweep", "--n", "2"], names: /required option '--runs <file>' not specified/ },
  "sweep: --n 0": { args: ["sweep", "--n", "0", "--runs", p("r.csv")], names: /--n <k>' argument '0' is invalid/ },
  "sweep: --workers 0": {
    args: ["sweep", "--n", "2", "--workers", "0", "--runs", p("r.csv")],
    names: /--workers <w>' argument '0' is invalid/,
  },
  "sweep: --ensemble 0": {
    args: ["sweep", "--n", "2", "--ensemble", "0", "--runs", p("r.csv")],
    names: /--ensemble <k>' argument '0' is invalid/,
  },
  "sweep: --mixtures and --n": {
    args: ["sweep", "--n", "2", "--mixtures", p("mix.csv"), "--runs", p("r.csv")],
    names: /--mixtures: expected exactly one of --mixtures or --n/,
  },
  "sweep: neither --mixtures nor --n": {
    args: ["sweep", "--runs", p("r.csv")],
    names: /--mixtures: expected exactly one of --mixtures or --n/,
  },
  "sweep: unknown --model": {
    args: ["sweep", "--n", "2", "--model", "huge", "--runs", p("r.csv")],
    names: /--model: expected one of .*got "huge"/,
  },
  "sweep: --steps text": {
    args: ["sweep", "--n", "2", "--steps", "many", "--runs", p("r.csv")],
    names: /--steps <n>' argument 'many' is invalid/,
  },
  "sweep: --corpus without train/ and heldout/": {
    args: ["sweep", "--n", "2", "--corpus", p("adir"), "--runs", p("r.csv")],
    names: /--corpus: expected a built corpus folder/,
  },
  "sweep: --mixtures file missing": {
    args: ["sweep", "--mixtures", p("none.csv"), "--runs", p("r.csv")],
    names: /none\.csv: expected a readable file, got ENOENT/,
  },
  "sweep: --mixtures over unknown domains": {
    args: ["sweep", "--mixtures", p("mix.csv"), "--runs", p("r.csv")],
    names: /mix\.csv: expected domains of the corpus \(code, .*\), got unknown web/,
  },
  // --- datasets ------------------------------------------------------------------------------
  "datasets: unknown subcommand": { args: ["datasets", "nosuch"], names: /unknown command 'nosuch'/ },
  "datasets list: folder missing": { args: ["datasets", "list", p("nocorpus")], names: /nocorpus/ },
  "datasets stats: folder missing": { args: ["datasets", "stats", p("nocorpus")], names: /nocorpus/ },
  "datasets stats: tokenizer not installed": {
    args: ["datasets", "stats", CORPUS, "--tokenizer", "no-such-tokenizer-pkg"],
    names: /--tokenizer: expected an installed npm package with an encode\(text\) export, got "no-such-tokenizer-pkg"/,
  },
  "datasets build: --out is a file": {
    args: ["datasets", "build", "--out", p("runs.csv"), "--domains", "legal"],
    names: /--out: expected a folder \(made when missing\), got the file ".*runs\.csv"/,
  },
  "datasets build: --cache is a file": {
    args: ["datasets", "build", "--out", p("built"), "--cache", p("runs.csv"), "--domains", "legal"],
    names: /--cache: expected a folder \(made when missing\), got the file ".*runs\.csv"/,
    absent: ["built"],
  },
  "datasets build: unknown domain": {
    args: ["datasets", "build", "--out", p("built"), "--domains", "nosuch"],
    names: /--domains: expected some of .*got unknown nosuch/,
  },
  "datasets list: unknown --split": {
    args: ["datasets", "list", CORPUS, "--split", "test"],
    names: /--split <s>' argument 'test' is invalid\. expected train or heldout, got "test"/,
  },
  "datasets stats: unknown --split": {
    args: ["datasets", "stats", CORPUS, "--split", "valid"],
    names: /--split <s>' argument 'valid' is invalid\. expected train or heldout/,
  },
  "datasets list: a file, not a folder": {
    args: ["datasets", "list", p("runs.csv")],
    names: /runs\.csv: expected a corpus directory, got ENOTDIR/,
  },
  "datasets build: --max-mb 0": {
    args: ["datasets", "build", "--max-mb", "0"],
    names: /--max-mb <n>' argument '0' is invalid/,
  },
  "datasets build: --seed text": {
    args: ["datasets", "build", "--seed", "x"],
    names: /--seed <n>' argument 'x' is invalid/,
  },
  "datasets build: --domains empty": {
    args: ["datasets", "build", "--domains", ","],
    names: /--domains <a,b>' argument ',' is invalid/,
  },
  // --- demo ----------------------------------------------------------------------------------
  "demo: --seed negative": { args: ["demo", "--seed", "-1"], names: /--seed <n>' argument '-1' is invalid/ },
  "demo: --seed text": { args: ["demo", "--seed", "zero"], names: /--seed <n>' argument 'zero' is invalid/ },
  "demo: unknown option": { args: ["demo", "--fast"], names: /unknown option '--fast'/ },
  "demo: --corpus not a built corpus": {
    args: ["demo", "--corpus", p("adir")],
    names: /--corpus: expected a built corpus folder \(manifest\.json, train\/, heldout\/: mixlab datasets build\), got ".*adir" without manifest\.json, train, heldout/,
  },
  "demo: --corpus missing": {
    args: ["demo", "--corpus", p("nocorpus")],
    names: /--corpus: expected a built corpus folder .*nocorpus/,
  },
  "demo: --backend unknown": {
    args: ["demo", "--backend", "quantum"],
    names: /--backend: expected one of auto, tensorflow, webgpu, blas, wasm, cpu, got "quantum"/,
  },
  "demo: --out is a file": {
    args: ["demo", "--quick", "--corpus", CORPUS, "--out", p("runs.csv")],
    names: /--out: expected a folder \(made when missing\), got the file ".*runs\.csv"/,
  },
  "report: -o onto its runs table": {
    args: ["report", p("runs.csv"), "-o", p("runs.csv")],
    names: /--out: .*runs\.csv: expected a different file from the input .*runs\.csv, got the same path/,
  },
  "report: --law and --method": {
    args: ["report", p("runs.csv"), "--law", p("law.json"), "--method", "dml"],
    names: /--law: expected either --law or --method, got both/,
  },
  "report: --method unknown": {
    args: ["report", p("runs.csv"), "--method", "regmx", "-o", p("r.html")],
    names: /--method: expected one of regmix, .*got "regmx"/,
    absent: ["r.html"],
  },
  "report: --proportions missing": {
    args: ["report", p("runs.csv"), "--proportions", p("nope.json"), "-o", p("r.html")],
    names: /--proportions: expected a readable file, got ".*nope\.json" \(ENOENT\)/,
    absent: ["r.html"],
  },
  "report: --target missing column": {
    args: ["report", p("runs.csv"), "--target", "loss.nosuch", "-o", p("r.html")],
    names: /--target: expected a column "loss\.nosuch" in .*runs\.csv, got no such column/,
    absent: ["r.html"],
  },
  "train: --backend unknown": {
    args: ["train", "--weights", "code=1", "--corpus", CORPUS, "--backend", "quantum"],
    names: /--backend: expected one of auto, tensorflow, webgpu, blas, wasm, cpu, got "quantum"/,
  },
  "sweep: --backend unknown": {
    args: ["sweep", "--n", "1", "--corpus", CORPUS, "--backend", "quantum", "--runs", p("r.csv")],
    names: /--backend: expected one of auto, tensorflow, webgpu, blas, wasm, cpu, got "quantum"/,
  },
});

describe("bad input, in-process", () => {
  const all = cases();
  it("covers at least 150 cases across every command", () => {
    expect(Object.keys(all).length).toBeGreaterThanOrEqual(150);
    const commands = new Set(Object.values(all).map((c) => c.args[0]));
    for (const c of ["fit", "predict", "suggest", "export", "sample", "train", "sweep", "datasets", "demo"]) {
      expect(commands.has(c), c).toBe(true);
    }
  });
  it.each(Object.keys(all))("%s", async (name) => {
    const c = cases()[name]!;
    const r = await cli(c.args);
    expect(r.stderr).toMatch(c.names);
    expect(r.code, r.stderr).toBe(c.code ?? 2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).toMatch(/^error: /);
    for (const f of c.absent ?? []) expect(existsSync(p(f)), f).toBe(false);
  });
});

describe("odd but valid input is accepted", () => {
  it("a byte-order mark before a saved law or a proportions file", async () => {
    writeFileSync(p("bom-law.json"), `\ufeff${readFileSync(p("law-regmix.json"), "utf8")}`);
    const pr = await cli(["predict", p("bom-law.json"), p("mix.csv")]);
    expect(pr.stderr).not.toMatch(/error/);
    expect(pr.code).toBe(0);
    writeFileSync(p("bom-p.json"), `\ufeff${readFileSync(p("ok.json"), "utf8")}`);
    const ex = await cli(["export", p("bom-p.json"), "--format", "megatron"]);
    expect(ex.code).toBe(0);
    expect(ex.stdout).toBe("0.5 web_text_document 0.5 code_text_document\n");
  });
});

describe("bad input, through the built bin", () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, "dist", "src", "cli", "main.js"))) {
      execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
    }
  });
  const bin = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, TMPDIR: D } });
  it.each([
    ["fit", () => [...FIT(), "-o", p("nodir/p.json")], /--out: /],
    ["predict", () => ["predict", p("t-regmix-left.json"), p("mix.csv")], /t-regmix-left\.json: params\.model: /],
    ["suggest", () => ["suggest", "--domains", "a,b", "--n", "1e9"], /--n: expected at most 10000/],
    [
      "export",
      () => ["export", p("ok.json"), "--format", "megatron", "--path-prefix", "/my data/"],
      /without whitespace/,
    ],
    ["train", () => ["train", "--weights", "code=1", "--steps", "0"], /--steps <n>/],
  ] as const)("%s exits 2 without a stack", (_, args, names) => {
    const r = bin(args());
    expect(r.stderr).toMatch(names);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
  it("SIGINT at any moment of fit leaves either the whole output or nothing, and no temporary file", async () => {
    const { spawn } = await import("node:child_process");
    const { readdirSync, rmSync } = await import("node:fs");
    for (const delay of [200, 700, 1500, 3000]) {
      const out = p(`sig-${delay}.json`);
      const child = spawn(
        process.execPath,
        [BIN, ...FIT(), "--method", "regmix", "-o", out, "--save-model", p(`sig-${delay}-law.json`)],
        { stdio: "ignore", env: { ...process.env, TMPDIR: D } },
      );
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGINT");
      await new Promise((r) => child.on("exit", r));
      expect(readdirSync(D).filter((f) => f.endsWith(".tmp")), `after ${delay} ms`).toEqual([]);
      if (existsSync(out)) expect(() => JSON.parse(readFileSync(out, "utf8"))).not.toThrow();
      rmSync(out, { force: true });
    }
  }, 60_000);

  it("--verbose adds the stack to an input error", () => {
    const r = bin(["--verbose", "export", p("none.json")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^\s+at /m);
  });
});

afterAll(() => {
  process.exitCode = undefined;
});
