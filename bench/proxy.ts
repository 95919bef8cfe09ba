// bench/proxy.ts — the proxy trainer's speed on this machine, as ratios measured in one run:
// tokens/s, ms/step and achieved GFLOP/s for the reference proxy (vocab 256, d 128, 2 layers,
// 4 heads, sequence 128, batch 16 ≈ 0.45M parameters) against a matmul-only ceiling; the
// aggregate of an ensemble of K proxies trained in one batched step; and, when Debian's
// python3-torch is importable, PyTorch training the same model as the baseline (else it says so).
// Run: npm run bench:proxy   (not part of the test gate)

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
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

async function measure(tf: Awaited<ReturnType<typeof loadTf>>["tf"], backend: string, K: number, steps: number): Promise<{ tokensPerSecond: number; msPerStep: number }> {
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
    members: Array.from({ length: K }, (_, k) => ({ proportions: uniform, seed: k })),
    logEvery: 1,
    onStep: () => times.push(performance.now()),
  });
  const warm = 3;
  const ms = (times[times.length - 1]! - times[warm - 1]!) / (times.length - warm);
  return { tokensPerSecond: (K * BATCH * cfg.seqLen) / (ms / 1000), msPerStep: ms };
}

async function main(): Promise<void> {
  const backendName = (process.env.MIXLAB_BACKEND ?? "auto") as BackendName;
  const { tf, backend } = await loadTf(backendName);
  console.log(`mixlab proxy benchmark — backend ${backend}; reference proxy ${parameterCount(cfg).toLocaleString("en")} parameters, batch ${BATCH} × ${cfg.seqLen}`);
  // Matmul ceiling: the model's largest matmul shapes, many times.
  const a = tf.randomNormal([BATCH * cfg.seqLen, cfg.dModel], 0, 1, "float32", 1);
  const b = tf.randomNormal([cfg.dModel, cfg.dFF], 0, 1, "float32", 2);
  for (let i = 0; i < 3; i++) tf.matMul(a, b).dispose();
  let t0 = performance.now();
  const reps = 30;
  for (let i = 0; i < reps; i++) {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }
  const ceiling = (reps * 2 * BATCH * cfg.seqLen * cfg.dModel * cfg.dFF) / ((performance.now() - t0) / 1000) / 1e9;
  a.dispose();
  b.dispose();
  console.log(`matmul ceiling (${BATCH * cfg.seqLen}×${cfg.dModel} · ${cfg.dModel}×${cfg.dFF}): ${ceiling.toFixed(1)} GFLOP/s`);
  const fpt = flopsPerToken();
  const rows: [string, number, number][] = [];
  for (const K of [1, 2, 4]) {
    const r = await measure(tf, backend, K, K === 1 ? 12 : 8);
    rows.push([`K = ${K}`, r.tokensPerSecond, r.msPerStep]);
    console.log(`${K === 1 ? "one proxy " : `ensemble of ${K}`}: ${Math.round(r.tokensPerSecond).toLocaleString("en")} tokens/s${K > 1 ? " (all members)" : ""}, ${r.msPerStep.toFixed(0)} ms/step, ${((r.tokensPerSecond * fpt) / 1e9).toFixed(2)} GFLOP/s (${((100 * r.tokensPerSecond * fpt) / 1e9 / ceiling).toFixed(0)}% of the matmul ceiling)`);
  }
  const single = rows[0]![1];
  console.log(`ensemble speed-up over one proxy (aggregate tokens/s): K=2 ${(rows[1]![1] / single).toFixed(2)}×, K=4 ${(rows[2]![1] / single).toFixed(2)}× (wasm: compute-bound, and its batched matMul is split per member; the ensemble's gain is on dispatch-bound GPU backends)`);
  // PyTorch baseline.
  const py = "/usr/bin/python3";
  try {
    execFileSync(py, ["-c", "import torch"], { stdio: "ignore" });
  } catch {
    console.log("PyTorch baseline: absent (install Debian's python3-torch to measure it side by side); STACK.md's figure on this kind of machine is about 20,800 tokens/s on one thread");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "mixlab-torch-"));
  const script = join(dir, "bench.py");
  writeFileSync(
    script,
    [
      "import time, torch, torch.nn as nn, torch.nn.functional as F",
      "torch.manual_seed(0); torch.set_num_threads(1)",
      `V, D, L, H, T, B, FF = ${cfg.vocab}, ${cfg.dModel}, ${cfg.nLayers}, ${cfg.nHeads}, ${cfg.seqLen}, ${BATCH}, ${cfg.dFF}`,
      "class Block(nn.Module):",
      "    def __init__(s):",
      "        super().__init__(); s.l1=nn.LayerNorm(D); s.qkv=nn.Linear(D,3*D); s.proj=nn.Linear(D,D); s.l2=nn.LayerNorm(D); s.fc=nn.Linear(D,FF); s.out=nn.Linear(FF,D)",
      "    def forward(s,x):",
      "        q,k,v=s.qkv(s.l1(x)).split(D,dim=-1); b,t,_=x.shape",
      "        q,k,v=[z.view(b,t,H,D//H).transpose(1,2) for z in (q,k,v)]",
      "        a=(q@k.transpose(-2,-1))/(D//H)**0.5; a=a.masked_fill(torch.triu(torch.ones(t,t,dtype=torch.bool),1),float('-inf'))",
      "        y=(a.softmax(-1)@v).transpose(1,2).reshape(b,t,D)",
      "        x=x+s.proj(y); return x+s.out(F.gelu(s.fc(s.l2(x)),approximate='tanh'))",
      "class M(nn.Module):",
      "    def __init__(s):",
      "        super().__init__(); s.wte=nn.Embedding(V,D); s.wpe=nn.Embedding(T,D); s.h=nn.ModuleList([Block() for _ in range(L)]); s.lnf=nn.LayerNorm(D)",
      "    def forward(s,x):",
      "        h=s.wte(x)+s.wpe(torch.arange(x.shape[1]))",
      "        for b in s.h: h=b(h)",
      "        return s.lnf(h)@s.wte.weight.T",
      "m=M(); opt=torch.optim.AdamW(m.parameters(),lr=3e-3,weight_decay=0.1)",
      "x=torch.randint(0,V,(B,T)); y=torch.randint(0,V,(B,T))",
      "def step():",
      "    opt.zero_grad(); loss=F.cross_entropy(m(x).view(-1,V),y.view(-1)); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(),1.0); opt.step()",
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
  let blas = "unknown";
  try {
    blas = execFileSync("sh", ["-c", "readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3"], { encoding: "utf8" }).trim();
  } catch {
    // not Debian's layout
  }
  const torchTps = Number(execFileSync(py, [script], { encoding: "utf8", env }).trim());
  console.log(`PyTorch (Debian python3-torch 1.13, 1 thread, BLAS ${blas}${/openblas/.test(blas) ? "" : " — the reference BLAS: install libopenblas0-pthread for a fair baseline"}): ${Math.round(torchTps).toLocaleString("en")} tokens/s → mixlab one proxy ${(single / torchTps).toFixed(2)}× (goal ≥ 0.5×), ensemble of 4 ${(rows[2]![1] / torchTps).toFixed(2)}×`);
}

await main();
