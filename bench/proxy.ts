// bench/proxy.ts — the proxy trainer's speed on this machine, as ratios measured in one run:
// tokens/s, ms/step and achieved GFLOP/s for the reference proxy (vocab 256, d 128, 2 layers,
// 4 heads, sequence 128, batch 16 ≈ 0.45M parameters) on each CPU backend (wasm; blas where the
// native addon and OpenBLAS load) against that backend's matmul-only ceiling, on one thread and
// data-parallel on every core; the aggregate of an ensemble trained in one batched step; and,
// when Debian's python3-torch is importable, PyTorch training the same model on 1 thread and on
// every core as the baseline (else it says so). MIXLAB_BACKEND=webgpu (or another) measures that
// backend alone, with ensembles of 8 and 32.
// Run: npm run bench:proxy   (not part of the test gate)

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { loadBlas, type Blas } from "../src/proxy/blas.js";
import { loadTf, type BackendName } from "../src/proxy/backend.js";
import { trainEnsemble } from "../src/proxy/train.js";
import { PRESETS, parameterCount } from "../src/proxy/model.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TRAIN = join(ROOT, "datasets", "corpus", "train");
const HELD = join(ROOT, "datasets", "corpus", "heldout");
const cfg = PRESETS.ref!;
const BATCH = 16;
const DOMAINS = ["code", "dictionary", "docs", "encyclopedia", "legal", "literature", "math", "speeches"];
const uniform = Object.fromEntries(DOMAINS.map((d) => [d, 1 / DOMAINS.length]));

/** Training FLOPs per token ≈ 6·(non-embedding params + head) + attention (12·L·T·d). */
function flopsPerToken(): number {
  const p = parameterCount(cfg);
  return 6 * p + 12 * cfg.nLayers * cfg.seqLen * cfg.dModel;
}

async function measure(
  tf: Awaited<ReturnType<typeof loadTf>>["tf"],
  backend: string,
  K: number,
  steps: number,
  threads = 1,
): Promise<{ tokensPerSecond: number; msPerStep: number }> {
  const times: number[] = [];
  await trainEnsemble({
    tf,
    backend,
    config: cfg,
    train: TRAIN,
    heldout: HELD,
    steps,
    batchSize: BATCH,
    evalWindows: 1,
    threads,
    members: Array.from({ length: K }, (_, k) => ({ proportions: uniform, seed: k })),
    logEvery: 1,
    onStep: () => times.push(performance.now()),
  });
  const warm = 3;
  const ms = (times[times.length - 1]! - times[warm - 1]!) / (times.length - warm);
  return { tokensPerSecond: (K * BATCH * cfg.seqLen) / (ms / 1000), msPerStep: ms };
}

type Tf = Awaited<ReturnType<typeof loadTf>>["tf"];

/** GFLOP/s of the step's largest product, (B·T × d) · (d × f), with tfjs or with the native BLAS. */
function ceilingOf(tf: Tf, blas: Blas | null): number {
  const [M, K, N] = [BATCH * cfg.seqLen, cfg.dModel, cfg.dFF];
  const reps = 30;
  let t0: number;
  if (blas) {
    const x = new Float32Array(M * K).fill(0.5);
    const w = new Float32Array(K * N).fill(0.25);
    const y = new Float32Array(M * N);
    for (let i = 0; i < 3; i++) blas.gemm(false, false, M, N, K, 1, x, 0, K, w, 0, N, 0, y, 0, N);
    t0 = performance.now();
    for (let i = 0; i < reps; i++) blas.gemm(false, false, M, N, K, 1, x, 0, K, w, 0, N, 0, y, 0, N);
  } else {
    const a = tf.randomNormal([M, K], 0, 1, "float32", 1);
    const b = tf.randomNormal([K, N], 0, 1, "float32", 2);
    for (let i = 0; i < 3; i++) tf.matMul(a, b).dispose();
    t0 = performance.now();
    for (let i = 0; i < reps; i++) {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    }
    a.dispose();
    b.dispose();
  }
  return (reps * 2 * M * N * K) / ((performance.now() - t0) / 1000) / 1e9;
}

async function main(): Promise<void> {
  // The CPU backends side by side (wasm always, blas where the addon and OpenBLAS load), or the
  // one backend MIXLAB_BACKEND names (a GPU backend: ensembles of 1, 8 and 32).
  const requested = process.env.MIXLAB_BACKEND as BackendName | undefined;
  const { blas, why: noBlas } = loadBlas();
  const names: BackendName[] =
    requested && requested !== "auto" ? [requested] : ["wasm", ...(blas ? (["blas"] as const) : [])];
  const fpt = flopsPerToken();
  const threads = Math.min(BATCH, Math.max(2, cpus().length));
  console.log(
    `mixlab proxy benchmark — reference proxy ${parameterCount(cfg).toLocaleString("en")} parameters,` +
      ` batch ${BATCH} × ${cfg.seqLen}, ${(fpt / 1e6).toFixed(2)} MFLOP per token;` +
      ` backends ${names.join(", ")}${blas ? "" : ` (blas: ${noBlas})`}`,
  );
  /**
   * One measurement: tokens/s of K proxies on `threads` threads, and the backend's ceiling-bound
   * tokens/s a thread.
   */
  const results: { backend: string; K: number; threads: number; tps: number; bound: number }[] = [];
  let last: { tf: Tf; backend: string } | null = null;
  for (const name of names) {
    const { tf, backend } = await loadTf(name, () => {});
    last = { tf, backend };
    const cpuBackend = backend === "wasm" || backend === "cpu" || backend === "blas";
    const ceiling = ceilingOf(tf, backend === "blas" ? blas : null);
    const bound = (ceiling * 1e9) / fpt;
    console.log(
      `\n${backend}: matmul ceiling ${ceiling.toFixed(1)} GFLOP/s` +
        ` (${BATCH * cfg.seqLen}×${cfg.dModel} · ${cfg.dModel}×${cfg.dFF})` +
        ` → at most ${Math.round(bound).toLocaleString("en")} tokens/s a thread`,
    );
    const runs: [number, number][] = cpuBackend ? [[1, 1], [1, threads]] : [[1, 1], [8, 1], [32, 1]];
    let single = 0;
    for (const [K, th] of runs) {
      const r = await measure(tf, backend, K, K === 1 ? 12 : 6, th);
      if (K === 1 && th === 1) single = r.tokensPerSecond;
      const what = K === 1 ? `one proxy, ${th} thread${th > 1 ? "s" : ""}` : `ensemble of ${K}`;
      const pct = (100 * r.tokensPerSecond * fpt) / 1e9 / ceiling / th;
      console.log(
        `  ${what.padEnd(20)} ${Math.round(r.tokensPerSecond).toLocaleString("en").padStart(7)} tokens/s` +
          `${K > 1 ? " (all members)" : ""}, ${r.msPerStep.toFixed(0)} ms/step,` +
          ` ${((r.tokensPerSecond * fpt) / 1e9).toFixed(2)} GFLOP/s` +
          ` (${pct.toFixed(0)}% of ${th > 1 ? `${th}× ` : ""}the ceiling)` +
          `${
            K === 1 && th > 1
              ? `, ${(r.tokensPerSecond / single).toFixed(2)}× one thread`
              : K > 1
                ? `, ${(r.tokensPerSecond / single).toFixed(2)}× one proxy`
                : ""
          }`,
      );
      results.push({ backend, K, threads: th, tps: r.tokensPerSecond, bound });
    }
  }
  if (last && names.every((n) => n === "wasm" || n === "blas" || n === "cpu")) {
    // Ensembles on the CPU: compute-bound, so they should not raise the aggregate (they are built for GPU backends).
    const { tf, backend } = last;
    const one = results.find((r) => r.backend === backend && r.K === 1 && r.threads === 1)!.tps;
    for (const th of [1, threads]) {
      const e = await measure(tf, backend, 4, 6, th);
      const what = `ensemble of 4, ${th} thread${th > 1 ? "s" : ""}`;
      console.log(
        `  ${what.padEnd(20)} ${Math.round(e.tokensPerSecond).toLocaleString("en").padStart(7)} tokens/s` +
          ` (all members), ${(e.tokensPerSecond / one).toFixed(2)}× one proxy on one thread`,
      );
      results.push({ backend, K: 4, threads: th, tps: e.tokensPerSecond, bound: 0 });
    }
    console.log(
      "  (CPU steps are compute-bound: an ensemble adds little on one thread;" +
        " it is built for dispatch-bound GPU backends)",
    );
  }
  // One proxy (K = 1) against PyTorch's one proxy; the ensembles' aggregate separately.
  const best = Math.max(...results.filter((r) => r.K === 1).map((r) => r.tps));
  const bestEnsemble = Math.max(0, ...results.filter((r) => r.K > 1).map((r) => r.tps));
  const oneThread = Math.max(...results.filter((r) => r.K === 1 && r.threads === 1).map((r) => r.tps));
  const bestBound = Math.max(...results.map((r) => r.bound));
  // PyTorch baseline.
  const py = "/usr/bin/python3";
  try {
    execFileSync(py, ["-c", "import torch"], { stdio: "ignore" });
  } catch {
    console.log(
      `\nPyTorch baseline: absent (install Debian's python3-torch to measure it side by side);` +
        ` STACK.md's figure on this kind of machine is about 20,800 tokens/s on one thread;` +
        ` best mixlab here ${Math.round(best).toLocaleString("en")}`,
    );
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "mixlab-torch-"));
  const script = join(dir, "bench.py");
  writeFileSync(
    script,
    [
      "import time, torch, torch.nn as nn, torch.nn.functional as F",
      "import sys; torch.manual_seed(0); torch.set_num_threads(int(sys.argv[1]))",
      `V, D, L, H, T, B, FF = ${cfg.vocab}, ${cfg.dModel}, ${cfg.nLayers}, ${cfg.nHeads},` +
        ` ${cfg.seqLen}, ${BATCH}, ${cfg.dFF}`,
      "class Block(nn.Module):",
      "    def __init__(s):",
      "        super().__init__(); s.l1=nn.LayerNorm(D); s.qkv=nn.Linear(D,3*D); s.proj=nn.Linear(D,D);" +
        " s.l2=nn.LayerNorm(D); s.fc=nn.Linear(D,FF); s.out=nn.Linear(FF,D)",
      "    def forward(s,x):",
      "        q,k,v=s.qkv(s.l1(x)).split(D,dim=-1); b,t,_=x.shape",
      "        q,k,v=[z.view(b,t,H,D//H).transpose(1,2) for z in (q,k,v)]",
      "        a=(q@k.transpose(-2,-1))/(D//H)**0.5;" +
        " a=a.masked_fill(torch.triu(torch.ones(t,t,dtype=torch.bool),1),float('-inf'))",
      "        y=(a.softmax(-1)@v).transpose(1,2).reshape(b,t,D)",
      "        x=x+s.proj(y); return x+s.out(F.gelu(s.fc(s.l2(x)),approximate='tanh'))",
      "class M(nn.Module):",
      "    def __init__(s):",
      "        super().__init__(); s.wte=nn.Embedding(V,D); s.wpe=nn.Embedding(T,D);" +
        " s.h=nn.ModuleList([Block() for _ in range(L)]); s.lnf=nn.LayerNorm(D)",
      "    def forward(s,x):",
      "        h=s.wte(x)+s.wpe(torch.arange(x.shape[1]))",
      "        for b in s.h: h=b(h)",
      "        return s.lnf(h)@s.wte.weight.T",
      "m=M(); opt=torch.optim.AdamW(m.parameters(),lr=3e-3,weight_decay=0.1)",
      "x=torch.randint(0,V,(B,T)); y=torch.randint(0,V,(B,T))",
      "def step():",
      "    opt.zero_grad(); loss=F.cross_entropy(m(x).view(-1,V),y.view(-1)); loss.backward();" +
        " torch.nn.utils.clip_grad_norm_(m.parameters(),1.0); opt.step()",
      "for _ in range(3): step()",
      "n=20; t=time.perf_counter()",
      "for _ in range(n): step()",
      "print(n*B*T/(time.perf_counter()-t))",
    ].join("\n"),
  );
  // The machine's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE settings slow OpenBLAS; unset them for the
  // baseline (as the workplace's notes advise), and say which BLAS PyTorch runs on: Debian's
  // python3-torch uses the system libblas, the slow reference one unless OpenBLAS is installed.
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  let blasPath = "unknown";
  try {
    blasPath = execFileSync("sh", ["-c", "readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3"], {
      encoding: "utf8",
    }).trim();
  } catch {
    // not Debian's layout
  }
  const torchRun = (th: number): number =>
    Number(execFileSync(py, [script, String(th)], { encoding: "utf8", env }).trim());
  const torch1 = torchRun(1);
  const torchN = torchRun(threads);
  const torchBest = Math.max(torch1, torchN);
  console.log(
    `\nPyTorch (Debian python3-torch, BLAS ${blasPath}${
      /openblas/.test(blasPath)
        ? ""
        : " — the reference BLAS: install libopenblas0-pthread for a fair baseline"
    }): ${Math.round(torch1).toLocaleString("en")} tokens/s on 1 thread,` +
      ` ${Math.round(torchN).toLocaleString("en")} on ${threads}` +
      ` (${((torch1 * fpt) / 1e9).toFixed(1)} GFLOP/s on one thread)`,
  );
  console.log(
    `mixlab / PyTorch: one proxy, best of each ${(best / torchBest).toFixed(2)}× (goal ≥ 0.5×);` +
      ` one thread each ${(oneThread / torch1).toFixed(2)}×;` +
      ` best ensemble aggregate ${(bestEnsemble / torchBest).toFixed(2)}×;` +
      ` a step at the best matmul ceiling would be ${(bestBound / torch1).toFixed(2)}× a thread`,
  );
  // This machine's speed drifts between minutes: alternate the two sides in short rounds and take
  // the median of the per-round ratios, so a slow minute on one side does not decide the ratio.
  if (!last) return;
  const rounds = 3;
  const bestName = names[names.length - 1]!;
  const { tf, backend } = await loadTf(bestName, () => {});
  const ratios: { best: number; one: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    const m1 = (await measure(tf, backend, 1, 8, 1)).tokensPerSecond;
    const mN = (await measure(tf, backend, 1, 8, threads)).tokensPerSecond;
    const p1 = torchRun(1);
    const pN = torchRun(threads);
    ratios.push({ best: Math.max(m1, mN) / Math.max(p1, pN), one: m1 / p1 });
    console.log(
      `  round ${r + 1}: mixlab (${backend}) ${Math.round(m1).toLocaleString("en")}` +
        ` / ${Math.round(mN).toLocaleString("en")} tokens/s on 1 / ${threads} threads,` +
        ` PyTorch ${Math.round(p1).toLocaleString("en")} / ${Math.round(pN).toLocaleString("en")}`,
    );
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `alternating rounds, median ratio: best of each ${median(ratios.map((x) => x.best)).toFixed(2)}× (goal ≥ 0.5×),` +
      ` one thread each ${median(ratios.map((x) => x.one)).toFixed(2)}×` +
      ` (rounds: ${ratios.map((x) => `${x.best.toFixed(2)}/${x.one.toFixed(2)}`).join(", ")})`,
  );
}

await main();
