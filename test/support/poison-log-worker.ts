/*
 * The request log's worker, made to stop every time it is handed a batch holding a request id
 * that starts "req_poison", after opening its store as usual, and to write every other batch:
 * for the tests of a batch that stops every writer it is given to.
 */
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent<LogCall>) => void };
const serve = scope.onmessage;
scope.onmessage = (event) => {
  const call = event.data;
  if (call.op === "write" && call.records.includes('"req_poison'))
    throw new Error("the test's writer stops on this batch, every time");
  serve(event);
};
