#!/usr/bin/env node
// The mixlab command: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
import { main } from "../dist/src/cli/main.js";

// `mixlab … | head` closes stdout early: stop quietly instead of crashing on EPIPE.
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});
await main(process.argv);
