/*
 * The request log's worker, made to stop every time it is asked to open its store, before it
 * answers anything: for the test that a writer which cannot start is not taken to have stopped
 * on the batch waiting for it.
 */
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent<LogCall>) => void };
const serve = scope.onmessage;
scope.onmessage = (event) => {
  if (event.data.op === "open") throw new Error("the test's writer stops as it opens, every time");
  serve(event);
};
