/*
 * The request log's worker, made to take batches and a close without ever answering them, as a
 * writer stuck on its disk would: for the test of how long a close waits for it, and what it says.
 */
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent<LogCall>) => void };
const serve = scope.onmessage;
scope.onmessage = (event) => {
  if (event.data.op === "write" || event.data.op === "close") return;
  serve(event);
};
