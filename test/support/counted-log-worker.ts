/*
 * The request log's worker, noting in the file named by LEVITY_TEST_WORKER_STARTS each time one
 * starts (for the test that a gateway starts its writer with the first record, not before) and,
 * when LEVITY_TEST_WORKER_BATCHES names a file, the number of records in each batch it is given.
 */
import { appendFileSync } from "node:fs";
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

appendFileSync(process.env.LEVITY_TEST_WORKER_STARTS!, "started\n");

const batches = process.env.LEVITY_TEST_WORKER_BATCHES;
if (batches) {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<LogCall>) => void) | null;
  };
  const handle = scope.onmessage!;
  scope.onmessage = (event) => {
    const call = event.data;
    if (call.op === "write")
      appendFileSync(batches, `${(JSON.parse(call.records) as unknown[]).length}\n`);
    handle(event);
  };
}
