#!/usr/bin/env node
// The mixlab command: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
import { main } from "../dist/src/cli/main.js";
await main(process.argv);
