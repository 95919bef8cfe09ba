// `mixlab train --online` end to end (built bin, wasm backend, embedded corpus): the row records
// the method and realised shares, -o writes the schedule, the static answer and the trajectory,
// a run killed with SIGKILL resumes from its checkpoint to the same final losses, every method
// runs (DoReMi's rounds, Skill-It's graph), bad input exits 2 before training, and the schedule
// exports to the formats that hold one. Also runs the README's training-loop example.
import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tmp } from "../helpers.js";
import { readFrameAsync } from "../../src/runs/frame.js";
import { parseProportions } from "../../src/export/proportions.js";

const BIN = join(ROOT, "bin", "mixlab.js");
const CORPUS = join(ROOT, "datasets", "corpus");
const env = (cwd: string) => ({ ...process.env, TMPDIR: cwd });
const run = (args: string[], cwd: string) =>
  spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: env(cwd) });
const common = ["--corpus", CORPUS, "--backend", "wasm", "--batch-size", "8", "--seed", "3"];

describe("mixlab train --online", () => {
  it("odm: row, schedule, trajectory; killed with SIGKILL and resumed, the same final losses", async () => {
    const dir = tmp();
    try {
      const args = ["train", "--online", "odm", ...common, "--steps", "12", "--eval-every", "4"];
      const a = run([...args, "-o", "a.json", "--runs", "runs.csv"], dir);
      expect(a.stderr).toMatch(/steered by odm/);
      expect(a.status).toBe(0);
      expect(a.stderr).toMatch(/next: mixlab report runs\.csv --proportions a\.json /);
      const doc = parseProportions(readFileSync(join(dir, "a.json"), "utf8"), "a.json");
      expect(doc.method).toBe("odm");
      expect(doc.online!.method).toBe("odm");
      expect(doc.online!.options).toMatchObject({ totalSteps: 12 });
      expect(doc.online!.trajectory.map((p) => p.step)).toEqual(Array.from({ length: 13 }, (_, i) => i));
      expect(doc.online!.trajectory[4]!.evalLoss).toBeDefined();
      expect(doc.online!.trajectory[12]!.tokens).toBe(doc.stages!.at(-1)!.untilTokens);
      for (const st of doc.stages!) expect(Object.values(st.domains).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);
      const f = await readFrameAsync(join(dir, "runs.csv"));
      expect(f.cells.get("online_method")).toEqual(["odm"]);
      const shares = doc.orderedDomains.map((d) => f.cells.get(`w.${d}`)![0] as number);
      expect(shares.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);

      // The same run with a checkpoint every 2 steps, killed once the first checkpoint exists.
      const ck = join(dir, "run.ckpt");
      const killedArgs = [
        ...args, "--checkpoint", ck, "--checkpoint-every", "2", "-o", "b.json", "--runs", "runs2.csv",
      ];
      const child = spawn(process.execPath, [BIN, ...killedArgs], { cwd: dir, env: env(dir), stdio: "ignore" });
      const exit = new Promise<{ code: number | null; signal: string | null }>((res) =>
        child.on("exit", (code, signal) => res({ code, signal })),
      );
      while (!existsSync(ck) && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      child.kill("SIGKILL");
      expect(await exit).toEqual({ code: null, signal: "SIGKILL" });
      expect(existsSync(join(dir, "b.json"))).toBe(false);
      const b = run(killedArgs, dir);
      expect(b.status).toBe(0);
      expect(b.stderr).toMatch(/resumed from the checkpoint at step \d+/);
      const g = await readFrameAsync(join(dir, "runs2.csv"));
      expect(g.numRows).toBe(1);
      expect(g.cells.get("run_id")).toEqual(f.cells.get("run_id"));
      for (const d of doc.orderedDomains) expect(g.cells.get(`loss.${d}`)![0]).toBe(f.cells.get(`loss.${d}`)![0]);
      // The same run appended again to the first table is recognised, not written twice.
      const again = run([...args, "--runs", "runs.csv"], dir);
      expect(again.status).toBe(0);
      expect(again.stderr).toMatch(/is already in runs\.csv; not written twice/);
      const docB = parseProportions(readFileSync(join(dir, "b.json"), "utf8"), "b.json");
      expect(docB.online!.trajectory).toEqual(doc.online!.trajectory);
      expect(docB.stages).toEqual(doc.stages);
      expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);

      // The schedule in the exporters.
      const mg = run(["export", "a.json", "--format", "megatron"], dir);
      if (doc.stages!.length > 1) {
        expect(mg.status).toBe(2);
        expect(mg.stderr).toMatch(/--format: megatron: expected a format that holds a schedule/);
        const ph = run(["export", "a.json", "--format", "megatron", "--phase", "1"], dir);
        expect(ph.status).toBe(0);
        expect(ph.stdout).toMatch(/_text_document/);
        const ol = run(["export", "a.json", "--format", "olmo"], dir);
        expect(JSON.parse(ol.stdout).stages).toHaveLength(doc.stages!.length);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it("aioli, skillit (graph from single-domain runs) and doremi (2 rounds) run end to end", async () => {
    const dir = tmp();
    try {
      const ai = run(
        [
          "train", "--online", "aioli", ...common, "--steps", "12",
          "--online-options", '{"roundSteps":12,"lpRounds":1,"lpSteps":1}', "-o", "ai.json",
        ],
        dir,
      );
      expect(ai.stderr).toMatch(/steered by aioli/);
      expect(ai.status).toBe(0);
      const aiDoc = parseProportions(readFileSync(join(dir, "ai.json"), "utf8"), "ai.json");
      // The probes count: 8 single-step probes, each a stage of its own mixture.
      expect(aiDoc.stages!.length).toBeGreaterThanOrEqual(8);
      const sk = run(
        ["train", "--online", "skillit", ...common, "--steps", "6", "--graph-steps", "2", "-o", "sk.json"],
        dir,
      );
      expect(sk.status).toBe(0);
      const skDoc = parseProportions(readFileSync(join(dir, "sk.json"), "utf8"), "sk.json");
      expect((skDoc.details!.graph as number[][]).length).toBe(8);
      const dr = run(["train", "--online", "doremi", ...common, "--steps", "4", "--rounds", "2", "-o", "dr.json"], dir);
      expect(dr.status).toBe(0);
      const drDoc = parseProportions(readFileSync(join(dir, "dr.json"), "utf8"), "dr.json");
      const rounds = drDoc.details!.rounds as { reference: Record<string, number>; average: Record<string, number> }[];
      expect(rounds).toHaveLength(2);
      expect(rounds[1]!.reference).toEqual(rounds[0]!.average);
      expect(drDoc.domains).toEqual(rounds[1]!.average);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it("bad input exits 2 before any training", () => {
    const dir = tmp();
    try {
      const cases: [string[], RegExp][] = [
        [["--online", "nosuch"], /online mixer: expected one of "odm", .*got "nosuch"/],
        [["--online", "odm", "--online-options", '{"nosuch":1}'], /nosuch/],
        [["--online", "odm", "-o", "missing/dir/x.json"], /-o: missing\/dir\/x\.json: expected a writable file in an existing folder, got no folder "missing\/dir" \(ENOENT\)/],
        [
          ["--online", "odm", "--runs", "r.csv", "-o", "r.csv"],
          /-o: r\.csv: expected a different file from the input r\.csv, got the same path/,
        ],
        [
          ["--online", "odm", "--rounds", "2"],
          /--rounds: expected --rounds only with doremi \(iterated DoReMi\), got --online odm/,
        ],
        [["--online", "odm", "--weights", "code=1"], /--weights: expected no mixture with --online odm/],
        [
          ["--online", "odm", "--checkpoint-every", "3"],
          /--checkpoint-every: expected --checkpoint FILE with it, got none/,
        ],
      ];
      for (const [flags, msg] of cases) {
        const r = run(["train", ...common, "--steps", "3", ...flags], dir);
        expect(r.status, flags.join(" ")).toBe(2);
        expect(r.stderr).toMatch(msg);
        expect(r.stderr).not.toMatch(/step 1:|at .*\.js:\d+/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("the README's training-loop example (examples/online-training.ts)", () => {
  it("is quoted in the README verbatim, trains, " +
    "and resumes from its checkpoint to the same mixture and loss", async () => {
    const source = readFileSync(join(ROOT, "examples", "online-training.ts"), "utf8");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const body = source.slice(source.indexOf("import { existsSync"));
    expect(readme).toContain(body.replace('from "../src/index.js"; // from "mixlab" in your code', 'from "mixlab";'));
    const { trainWithOdm } = await import("../../examples/online-training.js");
    const dir = tmp();
    try {
      const corpus = join(ROOT, "datasets", "corpus", "train");
      const whole = await trainWithOdm({
        corpus,
        steps: 24,
        batchSize: 8,
        seqLen: 32,
        checkpoint: join(dir, "a.json"),
      });
      const first = await trainWithOdm({
        corpus,
        steps: 24,
        batchSize: 8,
        seqLen: 32,
        checkpoint: join(dir, "b.json"),
        stopAfter: 19,
      });
      expect(first.proportions).not.toEqual(whole.proportions);
      const resumed = await trainWithOdm({
        corpus,
        steps: 24,
        batchSize: 8,
        seqLen: 32,
        checkpoint: join(dir, "b.json"),
      });
      // tfjs's Adam rebuilds its β-power accumulators on setWeights, so equal to float rounding
      // (the proxy trainer's resume is exact).
      for (const d of Object.keys(whole.proportions)) {
        expect(resumed.proportions[d]!).toBeCloseTo(whole.proportions[d]!, 6);
      }
      expect(resumed.loss).toBeCloseTo(whole.loss, 4);
      expect(Object.values(whole.proportions).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
