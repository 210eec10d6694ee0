/*
 * The request log's worker, made to stop when it is handed a batch holding a request id that
 * starts "req_stop_the_writer", once for each such id in a test (a file named by
 * LEVITY_TEST_CRASH_MARKER and the id records that it did): for the tests of what a writer that
 * stops while it holds records takes with it.
 */
import { existsSync, writeFileSync } from "node:fs";
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent<LogCall>) => void };
const serve = scope.onmessage;
const marker = process.env.LEVITY_TEST_CRASH_MARKER!;
scope.onmessage = (event) => {
  const call = event.data;
  const cue = call.op === "write" ? /req_stop_the_writer\w*/.exec(call.records)?.[0] : undefined;
  if (cue && !existsSync(`${marker}-${cue}`)) {
    writeFileSync(`${marker}-${cue}`, "stopped once");
    throw new Error("the test's writer stops here");
  }
  serve(event);
};
