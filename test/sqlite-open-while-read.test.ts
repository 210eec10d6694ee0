import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openSqliteKeys } from "../src/keys/sqlite-keys.ts";
import { silentLogger } from "../src/log.ts";
import { openLogFile } from "../src/observe/sqlite-request-log.ts";
import { openSqliteStore } from "../src/state/sqlite-store.ts";
import { tempDir } from "./support/gateway.ts";
import { LineReader } from "./support/process.ts";
import { requestRecord } from "./support/request-record.ts";

/*
 * levity's SQLite files opened while another process is reading one (`levity logs`, the monitor,
 * a backup, a test polling the log): the switch to WAL takes the file's lock, and without a busy
 * timeout in force before it the open failed at once ("database is locked"). The request log then
 * kept nothing until a restart; about one gateway start in thirty lost its log that way in CI.
 * Here the reader holds its lock in another process for 300 ms while levity opens the file.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Another process that opens `path`, holds a read lock on it, says "held", and lets go after `ms`. */
async function readerHolding(path: string, ms: number) {
  const script = `
    const { Database } = require("bun:sqlite");
    const db = new Database(${JSON.stringify(path)});
    db.exec("BEGIN");
    db.query("SELECT count(*) FROM sqlite_master").get();
    console.log("held");
    setTimeout(() => { db.exec("COMMIT"); db.close(); }, ${ms});
  `;
  const reader = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const lines = new LineReader(reader.stdout);
  await lines.waitFor(/held/);
  return reader;
}

const OPENERS = [
  [
    "the request log",
    (path: string) => {
      const log = openLogFile({ path, retentionMs: 86_400_000, maxBytes: 1e9, log: silentLogger });
      log.write([requestRecord("req_while_read")]);
      expect(log.query({}).map((row) => row.requestId)).toEqual(["req_while_read"]);
      log.close();
    },
  ],
  ["the state store", (path: string) => openSqliteStore(path).close()],
  ["the client keys", (path: string) => openSqliteKeys(path).keys.close()],
] as const;

describe.each(OPENERS)("%s, opened while another process reads its file", (_, open) => {
  test("waits for the reader's lock and opens, in WAL mode", async () => {
    const dir = tempDir("levity-sqlite-read-");
    dirs.push(dir);
    const path = join(dir, "file.db");
    new Database(path, { create: true }).close();
    const reader = await readerHolding(path, 300);
    open(path);
    await reader.exited;
    const db = new Database(path, { readonly: true });
    expect((db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe(
      "wal",
    );
    db.close();
  });
});
