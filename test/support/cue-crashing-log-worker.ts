/*
 * The request log's worker, made to stop when it is handed a batch holding the request id
 * "req_stop_the_writer", once in a test (the file named by LEVITY_TEST_CRASH_MARKER records that
 * it did): for the test of what a writer that stops while it holds records takes with it.
 */
import { existsSync, writeFileSync } from "node:fs";
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent<LogCall>) => void };
const serve = scope.onmessage;
const marker = process.env.LEVITY_TEST_CRASH_MARKER!;
scope.onmessage = (event) => {
  const call = event.data;
  if (call.op === "write" && call.records.includes("req_stop_the_writer") && !existsSync(marker)) {
    writeFileSync(marker, "stopped once");
    throw new Error("the test's writer stops here");
  }
  serve(event);
};
