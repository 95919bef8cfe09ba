// A batch-making thread that stops (exit code 3) when asked to make exactly 7 batches, or after 400 ms
// of work (exit code 5) when asked for exactly 9: the serve tests use it to check that sessions go on on
// the server's thread, and that a session deleted meanwhile answers 409. Loads the built worker.
import { parentPort } from "node:worker_threads";
await import("../../dist/src/serve/maker.js");
parentPort.on("message", (req) => {
  if (req.op === "make" && req.count === 7) process.exit(3);
  if (req.op === "make" && req.count === 9) {
    const end = Date.now() + 400;
    while (Date.now() < end); // busy: the request waits on this thread
    process.exit(5);
  }
});
