/*
 * The request log's worker, made to stop every time it is given a batch, after opening its store
 * as usual: for the test that a writer which keeps stopping is started again ever more slowly.
 */
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent<LogCall>) => void };
const serve = scope.onmessage;
scope.onmessage = (event) => {
  if (event.data.op === "write") throw new Error("the test's writer stops here, every time");
  serve(event);
};
