import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { join } from "node:path";
import { openPostgresLogThread } from "../src/observe/request-log-thread.ts";
import type { RequestLog } from "../src/observe/request-log.ts";
import { tempDir } from "./support/gateway.ts";
import { postgresAvailable, TestPostgres } from "./support/postgres.ts";
import { requestRecord } from "./support/request-record.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * The request log on PostgreSQL as the serving thread holds it: records go to the log's worker
 * as one string a batch, and the worker, not the serving thread, turns them into rows and speaks
 * to the server (issue 20: that work took the serving thread up to 17 µs a request). A close
 * writes what was just added; a worker that stops is started again and its batch written once.
 */

const READY = postgresAvailable("postgres-log-thread.test.ts");
const WORKER = new URL("../src/observe/request-log-worker.ts", import.meta.url);
const CRASHING_WORKER = new URL("./support/crashing-log-worker.ts", import.meta.url);
const CUE_CRASHING_WORKER = new URL("./support/cue-crashing-log-worker.ts", import.meta.url);
const POISON_WORKER = new URL("./support/poison-log-worker.ts", import.meta.url);

let pg: TestPostgres;
let admin: SQL;
let databases = 0;

beforeAll(async () => {
  if (!READY) return;
  pg = new TestPostgres();
  await pg.start();
  admin = new SQL(pg.url, { max: 1 });
}, 60_000);
afterAll(async () => {
  if (!READY) return;
  await admin.close({ timeout: 0 });
  await pg.stop();
}, 30_000);

/** A database of its own for one test, and a client on it for the test's own reads. */
async function freshDatabase(): Promise<{ url: string; db: SQL }> {
  const name = `thread_${++databases}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = pg.url.replace(/\/levity$/, `/${name}`);
  return { url, db: new SQL(url, { max: 1 }) };
}

/** `work` on a database of its own, whose client is closed after it whatever happens. */
async function withDatabase(work: (url: string, db: SQL) => Promise<void>): Promise<void> {
  const { url, db } = await freshDatabase();
  try {
    await work(url, db);
  } finally {
    await db.close({ timeout: 0 });
  }
}

interface OpenOptions {
  worker?: URL;
  errors?: string[];
  warnings?: string[];
  flushMs?: number;
  heldMaxChars?: number;
  bufferRecords?: number;
}

function open(url: string, options: OpenOptions = {}): RequestLog {
  const { errors = [], warnings = [] } = options;
  return openPostgresLogThread({
    url,
    flushMs: options.flushMs ?? 20,
    retentionMs: 86_400_000,
    timeoutMs: 2000,
    bufferRecords: options.bufferRecords ?? 10_000,
    instance: () => "host-a:4141",
    log: {
      info() {},
      warn: (message) => warnings.push(message),
      error: (message) => errors.push(message),
    },
    worker: options.worker ?? WORKER,
    heldMaxChars: options.heldMaxChars,
  });
}

async function storedIds(db: SQL): Promise<string[]> {
  const rows = await db`SELECT request_id FROM levity_requests ORDER BY request_id`.catch(() => []);
  return rows.map((row: { request_id: string }) => row.request_id);
}

describe("a PostgreSQL request log its worker cannot open", () => {
  test("reads as down, refuses reads at once, and counts what it is handed as dropped", async () => {
    const errors: string[] = [];
    // A URL Bun's client refuses as it is made (a port past 65535): the worker's open fails.
    const log = open("postgres://levity@127.0.0.1:99999/levity", { errors });
    try {
      await waitUntil("the worker said it could not open the log", () => errors.length > 0);
      expect(errors.join("\n")).toContain("could not be opened");
      for (let n = 0; n < 4; n++) log.add(requestRecord(`req_pg_unopened_${n}`));
      log.flush();
      await waitUntil("the records let go of", () => log.stats().pending === 0);
      expect(log.stats()).toMatchObject({ store: "postgres", up: false, dropped: 4 });
      await expect(Promise.resolve(log.query({}))).rejects.toThrow("could not be opened");
    } finally {
      await log.close();
    }
  });
});

describe.skipIf(!READY)("the request log on PostgreSQL, from its worker", () => {
  test("the serving thread makes no connection: the worker writes each record, with the instance sent", async () => {
    const { url, db } = await freshDatabase();
    // Bun.SQL counted on this thread only: the worker has its own globals.
    const bun = Bun as unknown as { SQL: typeof SQL };
    const original = bun.SQL;
    let madeHere = 0;
    bun.SQL = class extends original {
      constructor(...args: ConstructorParameters<typeof SQL>) {
        madeHere++;
        super(...args);
      }
    } as typeof SQL;
    try {
      const log = open(url);
      for (let n = 0; n < 3; n++) log.add(requestRecord(`req_pg_thread_${n}`));
      await waitUntil("three rows", async () => (await storedIds(db)).length === 3);
      const rows = await db`SELECT DISTINCT instance FROM levity_requests`;
      expect(rows).toEqual([{ instance: "host-a:4141" }]);
      // A read goes through the worker too, and sees every record added before it.
      log.add(requestRecord("req_pg_thread_3"));
      expect((await log.query({})).map((r) => r.requestId).sort()).toEqual([
        "req_pg_thread_0",
        "req_pg_thread_1",
        "req_pg_thread_2",
        "req_pg_thread_3",
      ]);
      // The worker's figures reach this thread: its count of records, refreshed at most every
      // 5 s when asked for (stats() asks at most once a second).
      await waitUntil("the worker's count of records", () => log.stats().records === 4, 15_000);
      expect(log.stats()).toMatchObject({ store: "postgres", up: true, pending: 0, dropped: 0 });
      await log.close();
      expect(madeHere).toBe(0);
    } finally {
      bun.SQL = original;
      await db.close({ timeout: 0 });
    }
  }, 30_000);

  test("a batch handed over while the last one is being written follows it, not a flush_ms later", async () => {
    await withDatabase(async (url, db) => {
      // flush_ms of a minute: only a flush can have written either record within the wait.
      const log = open(url, { flushMs: 60_000 });
      log.add(requestRecord("req_pg_first"));
      log.flush();
      // The worker is still bringing the schema up to date for the first when this one comes.
      log.add(requestRecord("req_pg_second"));
      log.flush();
      await waitUntil("both rows", async () => (await storedIds(db)).length === 2);
      await log.close();
    });
  }, 30_000);

  test("a close writes what was added just before it", async () => {
    await withDatabase(async (url, db) => {
      const log = open(url);
      const ids = Array.from(
        { length: 1200 },
        (_, n) => `req_pg_close_${String(n).padStart(4, "0")}`,
      );
      for (const id of ids) log.add(requestRecord(id));
      await log.close();
      expect(await storedIds(db)).toEqual(ids);
    });
  }, 30_000);

  test("a stop just after the start says nothing of the start-up trim it cut short", async () => {
    // The start-up trim runs beside the first write: a close right after it ended that trim's
    // connection, which was said as a failure ("trimming the request log failed") at every such stop.
    for (let round = 0; round < 5; round++)
      await withDatabase(async (url, db) => {
        const warnings: string[] = [];
        const errors: string[] = [];
        const log = open(url, { warnings, errors });
        log.add(requestRecord(`req_pg_quick_stop_${round}`));
        await log.close();
        expect(await storedIds(db)).toEqual([`req_pg_quick_stop_${round}`]);
        expect([...warnings, ...errors]).toEqual([]);
      });
  }, 60_000);

  test("a worker that stops is started again, and the batch it had is written once", async () => {
    const { url, db } = await freshDatabase();
    process.env.LEVITY_TEST_CRASH_MARKER = join(tempDir("levity-pg-thread-"), "stopped");
    const errors: string[] = [];
    try {
      const log = open(url, { worker: CRASHING_WORKER, errors });
      const ids = Array.from({ length: 5 }, (_, n) => `req_pg_crash_${n}`);
      for (const id of ids) log.add(requestRecord(id));
      log.flush();
      await waitUntil("the five records written by the next worker", async () => {
        return (await storedIds(db)).length === 5;
      });
      expect(await storedIds(db)).toEqual(ids);
      expect(errors.join("\n")).toContain("its writer stopped");
      await log.close();
    } finally {
      delete process.env.LEVITY_TEST_CRASH_MARKER;
      await db.close({ timeout: 0 });
    }
  }, 30_000);

  /**
   * With PostgreSQL killed, four records held by the worker, then `cues` batches that each stop
   * the writer in turn; PostgreSQL started again. The log, its errors, and the ids sent.
   */
  async function stoppedDuringOutage(
    db: SQL,
    url: string,
    cues: number,
    more: { heldMaxChars?: number } = {},
  ): Promise<{ log: RequestLog; errors: string[]; sent: string[] }> {
    process.env.LEVITY_TEST_CRASH_MARKER = join(tempDir("levity-pg-thread-"), "stopped");
    const errors: string[] = [];
    const warnings: string[] = [];
    /** Each writer says so once it finds PostgreSQL away. */
    const writersAway = () => warnings.filter((w) => w.includes("does not answer")).length;
    let away = false;
    try {
      const log = open(url, { worker: CUE_CRASHING_WORKER, errors, warnings, ...more });
      const before = ["req_pg_before_0", "req_pg_before_1", "req_pg_before_2"];
      for (const id of before) log.add(requestRecord(id));
      await waitUntil("the first three rows", async () => (await storedIds(db)).length === 3);
      await pg.kill();
      away = true;
      const during = ["req_pg_during_0", "req_pg_during_1", "req_pg_during_2", "req_pg_during_3"];
      for (const id of during) log.add(requestRecord(id));
      log.flush();
      await waitUntil("the worker to hold the four", () => {
        const stats = log.stats();
        return writersAway() === 1 && stats.up === false && stats.pending === 4;
      });
      const cueIds = Array.from({ length: cues }, (_, n) => `req_stop_the_writer_${n}`);
      for (const [n, id] of cueIds.entries()) {
        // It stops while it holds them in its buffer; the next one is given what it had.
        log.add(requestRecord(id));
        log.flush();
        await waitUntil(
          `the writer to stop (${n + 1})`,
          () => errors.filter((e) => e.includes("its writer stopped")).length === n + 1,
        );
        // The next writer, given all the last one had, finds PostgreSQL away in its turn.
        await waitUntil(`writer ${n + 2} to find PostgreSQL away`, () => writersAway() === n + 2);
      }
      await pg.start();
      away = false;
      return { log, errors, sent: [...before, ...during, ...cueIds] };
    } finally {
      if (away) await pg.start();
      delete process.env.LEVITY_TEST_CRASH_MARKER;
    }
  }

  test("writers that stop while PostgreSQL is away take no record with them: all are written once it is back", async () => {
    await withDatabase(async (url, db) => {
      // Three in a row: a batch the writer had taken is not what stopped it, and is kept.
      const { log, sent } = await stoppedDuringOutage(db, url, 3);
      await waitUntil("every row", async () => (await storedIds(db)).length === 10, 15_000);
      expect(await storedIds(db)).toEqual(sent.sort());
      await waitUntil("nothing pending", () => log.stats().pending === 0);
      expect(log.stats().dropped).toBe(0);
      await log.close();
    });
  }, 60_000);

  test("a batch that stops the writer while a read waits on PostgreSQL is what is blamed, not the read", async () => {
    await withDatabase(async (url, db) => {
      const errors: string[] = [];
      const log = open(url, { worker: POISON_WORKER, errors });
      log.add(requestRecord("req_pg_read_before"));
      await waitUntil("the first row", async () => (await storedIds(db)).length === 1);
      // The read waits on the server while the poison, sent after it, stops the writer.
      const reading = Promise.resolve(log.query({})).catch((error: Error) => error);
      log.add(requestRecord("req_poison_during_read"));
      log.flush();
      expect(String(await reading)).toContain("writer stopped");
      // Blamed at the first stop as at the second: dropped after two.
      await waitUntil("the poison dropped", () =>
        errors.some((line) => line.includes("stopped the writer twice")),
      );
      expect(errors.filter((line) => line.includes("its writer stopped ("))).toHaveLength(2);
      await log.close();
    });
  }, 30_000);

  test("records dropped at the buffer's bound are not given to the next writer: counted once, never written", async () => {
    await withDatabase(async (url, db) => {
      process.env.LEVITY_TEST_CRASH_MARKER = join(tempDir("levity-pg-thread-"), "stopped");
      const errors: string[] = [];
      let away = false;
      try {
        const log = open(url, { worker: CUE_CRASHING_WORKER, errors, bufferRecords: 2 });
        const before = ["req_pg_bound_before_0", "req_pg_bound_before_1"];
        for (const id of before) log.add(requestRecord(id));
        await waitUntil("the first rows", async () => (await storedIds(db)).length === 2);
        await pg.kill();
        away = true;
        const during = [0, 1, 2, 3].map((n) => `req_pg_bound_during_${n}`);
        for (const id of during) log.add(requestRecord(id));
        log.flush();
        await waitUntil("two held and two dropped", () => {
          const stats = log.stats();
          return stats.dropped === 2 && stats.pending === 2;
        });
        // The writer stops while it holds two; the next is given those two, not the two dropped,
        // and drops the cue itself, its buffer being full.
        log.add(requestRecord("req_stop_the_writer_bound"));
        log.flush();
        await waitUntil("the writer stopped", () =>
          errors.some((line) => line.includes("its writer stopped")),
        );
        await waitUntil("the next holding two, with the cue dropped", () => {
          const stats = log.stats();
          return stats.dropped === 3 && stats.pending === 2;
        });
        await pg.start();
        away = false;
        await waitUntil("the held rows", async () => (await storedIds(db)).length === 4, 15_000);
        await waitUntil("nothing pending", () => log.stats().pending === 0);
        expect(await storedIds(db)).toEqual([...before, during[0]!, during[1]!].sort());
        expect(log.stats().dropped).toBe(3);
        await log.close();
      } finally {
        if (away) await pg.start();
        delete process.env.LEVITY_TEST_CRASH_MARKER;
      }
    });
  }, 60_000);

  test("past what the serving thread keeps, a writer that stops takes what it held: said and counted", async () => {
    await withDatabase(async (url, db) => {
      // Nothing kept once the writer has taken it: the four of the outage go with the writer.
      const { log, errors, sent } = await stoppedDuringOutage(db, url, 1, { heldMaxChars: 1 });
      await waitUntil("the cue's row", async () => (await storedIds(db)).length === 4, 15_000);
      expect(await storedIds(db)).toEqual(
        sent.filter((id) => !id.startsWith("req_pg_during")).sort(),
      );
      expect(errors.join("\n")).toContain("4 records the stopped writer held were lost");
      await waitUntil("nothing pending", () => log.stats().pending === 0);
      expect(log.stats().dropped).toBe(4);
      await log.close();
    });
  }, 60_000);
});
