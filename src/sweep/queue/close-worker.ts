// Closing a BullMQ worker without hanging. BullMQ's gentle close (let the jobs in progress finish and record
// their outcome) begins by disconnecting the worker's blocking connection and waiting for it to end; ioredis
// never ends a connection told to disconnect while it waits to reconnect (redis/ioredis#1247). A gentle close
// begun while Redis was away therefore waited for ever, and BullMQ's timers kept `mixlab worker` running after
// it had said it stopped. Here the gentle close begins only once that connection is back.

import type { Worker } from "bullmq";

/** How to close a worker. */
export interface CloseWorkerOptions {
  /** Jobs the worker has taken whose outcome BullMQ has not yet recorded in Redis. */
  readonly inHand: ReadonlySet<string>;
  /** Settles when waiting must end (a second signal, Redis given up): the worker then closes at once. */
  readonly now: Promise<void>;
}

/**
 * Closes a BullMQ worker. While Redis is there, it closes gently: the jobs in hand finish and are recorded.
 * While Redis is away, it waits for it when jobs are in hand, and closes at once when none are. Once `now`
 * settles, it closes at once: a job still in progress keeps its lock until that expires, and stalled-job
 * detection hands it to another worker. Resolves about 1 s after `now` settles at the latest.
 */
export async function closeWorker(w: Worker, o: CloseWorkerOptions): Promise<void> {
  let now = false;
  const nowSettled = o.now.then(() => {
    now = true;
  });
  while (!now) {
    const blocking = await Promise.race([w.getBackend().blockingClient, delay(POLL_MS)]);
    if (blocking && SETTLED.has(blocking.status)) {
      await Promise.race([w.close(), nowSettled]);
      if (!now) return;
    } else if (o.inHand.size > 0) {
      await Promise.race([delay(POLL_MS), nowSettled]);
      continue;
    }
    break;
  }
  await Promise.race([w.close(true), delay(1_000)]);
}

/** States of the blocking connection in which a disconnect ends it at once ("wait": never connected). */
const SETTLED = new Set(["ready", "end", "wait"]);
const POLL_MS = 200;

function delay(ms: number): Promise<undefined> {
  return new Promise((r) => setTimeout(() => r(undefined), ms).unref());
}
