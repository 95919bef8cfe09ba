// Builds mixlab's optional native BLAS addon (src/native/blas.c → dist/native/mixlab_blas.node)
// with the machine's C compiler and Node's own headers; nothing is downloaded and no BLAS is
// needed at build time (the addon finds one at run time). Optional: when there is no compiler or
// no headers it says so and exits 0, and the proxy trainer uses tfjs's wasm matmuls instead.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src", "native", "blas.c");
const sources = [src, join(root, "src", "native", "kernels.c")];
const out = join(root, "dist", "native", "mixlab_blas.node");
const headers = [join(dirname(process.execPath), "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"].find((d) => existsSync(join(d, "node_api.h")));
if (existsSync(out) && sources.every((f) => statSync(out).mtimeMs >= statSync(f).mtimeMs)) process.exit(0);
if (!headers) {
  console.error("mixlab: native BLAS addon not built (no node_api.h found); the proxy trainer will use tfjs's wasm matmuls");
  process.exit(0);
}
const cc = process.env.CC ?? "cc";
mkdirSync(dirname(out), { recursive: true });
try {
  execFileSync(cc, ["-O3", "-shared", "-std=c11", "-fPIC", "-Wall", "-DNODE_GYP_MODULE_NAME=mixlab_blas", `-I${headers}`, src, "-o", out, "-ldl", "-lm"], { stdio: ["ignore", "inherit", "inherit"] });
} catch (e) {
  rmSync(out, { force: true }); // never leave an older build to be loaded in its place
  console.error(`mixlab: native BLAS addon not built (${cc} failed: ${e.message.split("\n")[0]}); the proxy trainer will use tfjs's wasm matmuls`);
}
