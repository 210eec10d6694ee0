/*
 * The request log's worker, made to write the batch it was given, say so at the end of 20,000
 * other replies, and then stop, the first time it is given a batch holding a request id that
 * starts "req_chatty" in a test (a file named by LEVITY_TEST_CRASH_MARKER records that it did):
 * for the test that the replies a writer posted before it stopped are not lost with it.
 */
import { existsSync, writeFileSync } from "node:fs";
import "../../src/observe/request-log-worker.ts";
import type { LogCall } from "../../src/observe/request-log-protocol.ts";

const scope = globalThis as unknown as {
  onmessage: (event: MessageEvent<LogCall>) => void;
  postMessage(message: unknown): void;
};
const serve = scope.onmessage;
const post = scope.postMessage.bind(scope);
const marker = process.env.LEVITY_TEST_CRASH_MARKER!;
scope.onmessage = (event) => {
  const call = event.data;
  if (call.op !== "write" || !call.records.includes('"req_chatty') || existsSync(marker)) {
    serve(event);
    return;
  }
  writeFileSync(marker, "stopped once");
  // The write's own replies are held back, to be the last of a burst.
  const held: unknown[] = [];
  scope.postMessage = (message) => held.push(message);
  try {
    serve(event);
  } finally {
    scope.postMessage = post;
  }
  for (let n = 0; n < 20_000; n++) post({ kind: "log", level: "info", message: "chatter" });
  for (const message of held) post(message);
  throw new Error("the test's writer stops here, after writing its batch");
};
