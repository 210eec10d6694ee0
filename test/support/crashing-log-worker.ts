/*
 * The request log's worker, made to stop the first time it is given a batch in a process (the
 * file named by LEVITY_TEST_CRASH_MARKER records that it did): for the test of what the serving
 * thread does when its writer stops.
 */
import { existsSync, writeFileSync } from "node:fs";
import "../../src/observe/request-log-worker.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent) => void };
const serve = scope.onmessage;
const marker = process.env.LEVITY_TEST_CRASH_MARKER!;
scope.onmessage = (event) => {
  if (event.data.op === "write" && !existsSync(marker)) {
    writeFileSync(marker, "stopped once");
    throw new Error("the test's writer stops here");
  }
  serve(event);
};
