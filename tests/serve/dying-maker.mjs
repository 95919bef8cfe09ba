// A batch-making thread that stops (exit code 3) when asked to make exactly 7 batches: the serve
// tests use it to check that sessions go on on the server's thread. Loads the built worker.
import { parentPort } from "node:worker_threads";
await import("../../dist/src/serve/maker.js");
parentPort.on("message", (req) => {
  if (req.op === "make" && req.count === 7) process.exit(3);
});
