/*
 * The request log's worker, noting in the file named by LEVITY_TEST_WORKER_STARTS each time one
 * starts: for the test that a gateway starts its writer with the first record, not before.
 */
import { appendFileSync } from "node:fs";
import "../../src/observe/request-log-worker.ts";

appendFileSync(process.env.LEVITY_TEST_WORKER_STARTS!, "started\n");
