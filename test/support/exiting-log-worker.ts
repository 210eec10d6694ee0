/*
 * The request log's worker, made to exit (as process.exit in it would: no error event, only its
 * close) the first time it is given a batch in a test, which the file named by
 * LEVITY_TEST_CRASH_MARKER records: for the test that such a writer is started again too.
 */
import { existsSync, writeFileSync } from "node:fs";
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as { onmessage: (event: MessageEvent<LogCall>) => void };
const serve = scope.onmessage;
const marker = process.env.LEVITY_TEST_CRASH_MARKER!;
scope.onmessage = (event) => {
  if (event.data.op === "write" && !existsSync(marker)) {
    writeFileSync(marker, "exited once");
    process.exit(1);
  }
  serve(event);
};
