import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { RequestRecord } from "../src/observe/record.ts";
import { openSqliteRequestLog } from "../src/observe/request-log-thread.ts";
import { RequestLogUnavailable, type RequestLog } from "../src/observe/request-log.ts";
import { tempDir } from "./support/gateway.ts";
import { waitUntil } from "./support/wait.ts";
import { requestRecord } from "./support/request-record.ts";

/*
 * The request log's writer thread when it fails: a writer that stops is started again and given
 * what it had not written; a file the writer cannot open refuses reads at once instead of
 * leaving them waiting, and lets go of what it is handed.
 */

const WORKER = new URL("../src/observe/request-log-worker.ts", import.meta.url);
const CRASHING_WORKER = new URL("./support/crashing-log-worker.ts", import.meta.url);
const COUNTED_WORKER = new URL("./support/counted-log-worker.ts", import.meta.url);
const UNANSWERING_WORKER = new URL("./support/unanswering-log-worker.ts", import.meta.url);
const POISON_WORKER = new URL("./support/poison-log-worker.ts", import.meta.url);
const EXITING_WORKER = new URL("./support/exiting-log-worker.ts", import.meta.url);
const CHATTY_WORKER = new URL("./support/chatty-crashing-log-worker.ts", import.meta.url);
const UNOPENING_WORKER = new URL("./support/unopening-log-worker.ts", import.meta.url);

/** The request ids in the log's file, in order. */
function storedIds(path: string): string[] {
  const file = new Database(path, { readonly: true });
  try {
    return file
      .query<{ request_id: string }, []>("SELECT request_id FROM requests ORDER BY request_id")
      .all()
      .map((row) => row.request_id);
  } finally {
    file.close();
  }
}

function record(n: number): RequestRecord {
  return requestRecord(`req_thread_${n}`);
}

const opened: RequestLog[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((log) => log.close()));
});

function open(
  path: string,
  worker: URL,
  errors: string[],
  more: Partial<Parameters<typeof openSqliteRequestLog>[0]> = {},
): RequestLog {
  const log = openSqliteRequestLog({
    path,
    flushMs: 10,
    retentionMs: 86_400_000,
    maxBytes: 1e9,
    worker,
    log: { info() {}, warn() {}, error: (message) => errors.push(message) },
    ...more,
  });
  opened.push(log);
  return log;
}

describe("the request log's writer thread", () => {
  test("a writer that stops is started again and writes what it had been given", async () => {
    const dir = tempDir("levity-log-thread-");
    process.env.LEVITY_TEST_CRASH_MARKER = join(dir, "stopped");
    const errors: string[] = [];
    const log = open(join(dir, "requests.db"), CRASHING_WORKER, errors);
    for (let n = 0; n < 5; n++) log.add(record(n));
    log.flush();
    await waitUntil("the five records written by the next writer", async () => {
      const rows = await Promise.resolve(log.query({})).catch((error) => {
        if (error instanceof RequestLogUnavailable) return [];
        throw error;
      });
      return rows.length === 5;
    });
    expect(errors.join("\n")).toContain("its writer stopped");
    expect(log.stats()).toMatchObject({ records: 5, pending: 0 });
    delete process.env.LEVITY_TEST_CRASH_MARKER;
  });

  test("a writer that stops while closing is followed by another, which writes what it had", async () => {
    const dir = tempDir("levity-log-thread-");
    process.env.LEVITY_TEST_CRASH_MARKER = join(dir, "stopped");
    const errors: string[] = [];
    const path = join(dir, "requests.db");
    try {
      const log = open(path, CRASHING_WORKER, errors);
      for (let n = 0; n < 3; n++) log.add(record(n));
      // The batch goes to the writer at the close, and stops it.
      await log.close();
    } finally {
      delete process.env.LEVITY_TEST_CRASH_MARKER;
    }
    expect(existsSync(join(dir, "stopped"))).toBe(true);
    expect(errors.join("\n")).toContain(
      "its writer stopped while closing (3 records not yet written); starting another",
    );
    expect(storedIds(path)).toEqual([0, 1, 2].map((n) => `req_thread_${n}`));
  });

  test("what a writer said before it stopped is heard: a batch it wrote is not written again", async () => {
    const dir = tempDir("levity-log-thread-");
    const path = join(dir, "requests.db");
    process.env.LEVITY_TEST_CRASH_MARKER = join(dir, "stopped");
    const errors: string[] = [];
    try {
      const log = open(path, CHATTY_WORKER, errors);
      // It writes this batch, says so after 20,000 other replies, and stops.
      log.add(requestRecord("req_chatty_0"));
      log.flush();
      await waitUntil("the writer stopped", () =>
        errors.some((line) => line.includes("its writer stopped")),
      );
      log.add(record(0));
      log.flush();
      await waitUntil("the next writer wrote", () => log.stats().records >= 2);
      await log.close();
    } finally {
      delete process.env.LEVITY_TEST_CRASH_MARKER;
    }
    expect(storedIds(path)).toEqual(["req_chatty_0", "req_thread_0"]);
  });

  test("a writer that exits, with no error, is started again and writes what it had been given", async () => {
    const dir = tempDir("levity-log-thread-");
    process.env.LEVITY_TEST_CRASH_MARKER = join(dir, "exited");
    const errors: string[] = [];
    try {
      const log = open(join(dir, "requests.db"), EXITING_WORKER, errors);
      for (let n = 0; n < 4; n++) log.add(record(n));
      log.flush();
      await waitUntil(
        "the four records written by the next writer",
        () => log.stats().records === 4,
      );
    } finally {
      delete process.env.LEVITY_TEST_CRASH_MARKER;
    }
    expect(existsSync(join(dir, "exited"))).toBe(true);
    expect(errors.join("\n")).toContain("its writer stopped (it exited)");
  });

  test("a batch that stops every writer is dropped and said; the batch queued behind it is written", async () => {
    const dir = tempDir("levity-log-thread-");
    const path = join(dir, "requests.db");
    const errors: string[] = [];
    const log = open(path, POISON_WORKER, errors);
    log.add(requestRecord("req_poison_0"));
    log.flush();
    // Handed over behind it, before the writer has read either: it stops each writer first.
    log.add(record(0));
    log.add(record(1));
    log.flush();
    await waitUntil("the batch behind it written", () => log.stats().records === 2);
    await log.close();
    expect(storedIds(path)).toEqual(["req_thread_0", "req_thread_1"]);
    expect(errors.filter((line) => line.includes("stopped the writer twice"))).toEqual([
      "request log: 1 records were dropped: writing them stopped the writer twice",
    ]);
  });

  test("a close waits for a writer that does not answer only so long, and says what it lost", async () => {
    const dir = tempDir("levity-log-thread-");
    const warnings: string[] = [];
    const log = openSqliteRequestLog({
      path: join(dir, "requests.db"),
      flushMs: 10,
      retentionMs: 86_400_000,
      maxBytes: 1e9,
      worker: UNANSWERING_WORKER,
      log: { info() {}, warn: (message) => warnings.push(message), error() {} },
      closeWaitMs: 300,
    });
    log.add(record(0));
    log.add(record(1));
    const started = performance.now();
    await log.close();
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(warnings).toEqual([
      "request log: its writer had not finished after 0.3 s; the 2 records it had not written are lost",
    ]);
  });

  test("a writer that stops soon after its start is started again ever more slowly, whatever it wrote; one that ran a while at once", async () => {
    const dir = tempDir("levity-log-thread-");
    const errors: string[] = [];
    const log = open(join(dir, "requests.db"), POISON_WORKER, errors, { restartStableMs: 1000 });
    const delays = () =>
      errors.flatMap((line) => /starting it again in (\d+) ms/.exec(line)?.[1] ?? []);
    const droppedTimes = () => errors.filter((line) => line.includes("stopped the writer twice"));
    log.add(requestRecord("req_poison_0"));
    log.flush();
    // Two stops on the same batch, each soon after its writer opened: the second drops it.
    await waitUntil("the first poison dropped", () => droppedTimes().length === 1);
    expect(delays()).toEqual(["100", "200"]);
    // The third writer writes a record, then stops, soon after its start: writing is no reset.
    log.add(record(0));
    log.flush();
    await waitUntil("the third writer wrote", () => log.stats().records === 1);
    log.add(requestRecord("req_poison_1"));
    log.flush();
    await waitUntil("the second poison dropped", () => droppedTimes().length === 2);
    expect(delays()).toEqual(["100", "200", "400", "800"]);
    // The fifth runs, idle, past restartStableMs (time itself is what is tested here).
    await Bun.sleep(1100);
    log.add(requestRecord("req_poison_2"));
    log.flush();
    await waitUntil("the fifth writer stopped", () => delays().length === 5);
    expect(delays()).toEqual(["100", "200", "400", "800", "100"]);
  }, 15_000);

  test("a writer that stops as it opens blames no batch: the one waiting is kept, not dropped", async () => {
    const dir = tempDir("levity-log-thread-");
    const errors: string[] = [];
    const log = open(join(dir, "requests.db"), UNOPENING_WORKER, errors);
    log.add(record(0));
    log.flush();
    await waitUntil("three writers stopped", () => errors.length >= 3);
    expect(errors.filter((line) => line.includes("dropped"))).toEqual([]);
    expect(log.stats().pending).toBe(1);
  });

  test("a file the writer cannot open: reads are refused at once, and what is handed over is let go", async () => {
    const dir = tempDir("levity-log-thread-");
    const path = join(dir, "requests.db");
    const errors: string[] = [];
    const log = open(path, WORKER, errors);
    // The serving thread opened the file; before its writer does, a directory takes its place.
    rmSync(path, { force: true });
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    mkdirSync(path);
    for (let n = 0; n < 3; n++) log.add(record(n));
    log.flush();
    await waitUntil("the writer says it cannot open the file", () =>
      errors.some((e) => e.includes("could not be opened")),
    );
    await expect(Promise.resolve(log.query({}))).rejects.toBeInstanceOf(RequestLogUnavailable);
    await waitUntil("the handed records let go", () => log.stats().pending === 0);
    const started = performance.now();
    await log.close();
    expect(performance.now() - started).toBeLessThan(5000);
  });

  /** A file holding three records, written by a log opened and closed before. */
  async function fileWithThree(dir: string): Promise<string> {
    const path = join(dir, "requests.db");
    const first = open(path, WORKER, []);
    for (let n = 0; n < 3; n++) first.add(record(n));
    await first.close();
    return path;
  }

  test("the writer starts with the first record, not before; the file's count is known at once", async () => {
    const dir = tempDir("levity-log-thread-");
    const path = await fileWithThree(dir);
    const starts = join(dir, "starts");
    process.env.LEVITY_TEST_WORKER_STARTS = starts;
    try {
      const idle = open(path, COUNTED_WORKER, []);
      expect(idle.stats()).toEqual({ records: 3, bytes: expect.any(Number), pending: 0 });
      // A writer started at open would have been asked to close, and answered, by now.
      await idle.close();
      expect(existsSync(starts)).toBe(false);

      const used = open(path, COUNTED_WORKER, []);
      used.add(record(3));
      used.flush();
      const rows = await used.query({});
      expect(rows).toHaveLength(4);
      expect(readFileSync(starts, "utf8")).toBe("started\n");
    } finally {
      delete process.env.LEVITY_TEST_WORKER_STARTS;
    }
  });

  /**
   * The batches the writer is given for `records`, added one a turn of the event loop (as
   * requests finish) under a flush timer no test waits for, once `written` of them are in the
   * file; and the log, still open.
   */
  async function batchesFor(
    records: RequestRecord[],
    written: number,
  ): Promise<{ batches: string; log: RequestLog }> {
    const dir = tempDir("levity-log-thread-");
    const batches = join(dir, "batches");
    process.env.LEVITY_TEST_WORKER_STARTS = join(dir, "starts");
    process.env.LEVITY_TEST_WORKER_BATCHES = batches;
    try {
      const log = open(join(dir, "requests.db"), COUNTED_WORKER, [], { flushMs: 600_000 });
      for (const one of records) {
        log.add(one);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitUntil(`${written} records written`, () => log.stats().records === written);
      return { batches: readFileSync(batches, "utf8"), log };
    } finally {
      delete process.env.LEVITY_TEST_WORKER_STARTS;
      delete process.env.LEVITY_TEST_WORKER_BATCHES;
    }
  }

  test("records go to the writer 1,000 at a time as they come, without waiting for the flush timer", async () => {
    // Added one a turn, a smaller batch would be handed over as soon as it was full.
    const plain = Array.from({ length: 2000 }, (_, n) => record(n));
    expect((await batchesFor(plain, 2000)).batches).toBe("1000\n1000\n");
  });

  test("records that keep bodies go to the writer once their bodies come to 8 MB, before 1,000 of them", async () => {
    // 60,000 characters each way: the 70th record brings the batch's bodies to 8.4 million.
    const body = "x".repeat(60_000);
    const kept = Array.from({ length: 150 }, (_, n) => ({
      ...record(n),
      requestBody: body,
      responseBody: body,
    }));
    const { batches, log } = await batchesFor(kept, 140);
    expect(batches).toBe("70\n70\n");
    // The other ten wait for the timer, or the close.
    expect(log.stats().pending).toBe(10);
  });

  test("an idle log starts its writer when its oldest record passes retention, and that trims the file", async () => {
    const dir = tempDir("levity-log-thread-");
    const path = join(dir, "requests.db");
    const retentionMs = 10_000;
    // Within retention when the log opens (its start-up trim keeps them), past it 1.5 s later.
    const first = open(path, WORKER, []);
    for (let n = 0; n < 3; n++) first.add({ ...record(n), time: Date.now() - retentionMs + 1500 });
    await first.close();
    const starts = join(dir, "starts");
    process.env.LEVITY_TEST_WORKER_STARTS = starts;
    try {
      const idle = open(path, COUNTED_WORKER, [], { retentionMs, retentionCheckMs: 20 });
      expect(idle.stats().records).toBe(3);
      expect(existsSync(starts)).toBe(false);
      await waitUntil("the three records trimmed", () => idle.stats().records === 0);
      expect(readFileSync(starts, "utf8")).toBe("started\n");
      expect(await idle.query({})).toEqual([]);
    } finally {
      delete process.env.LEVITY_TEST_WORKER_STARTS;
    }
  });
});
