import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";

/*
 * levity's files hold conversations, logged prompts and account state: they are its user's
 * alone, whatever the umask. The data directory it creates is 0700 and each database 0600;
 * SQLite gives a database's -wal and -shm files the database's own mode, and those an older
 * levity left readable are made private too.
 */

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

/** Makes `path` ready to open as a private SQLite database: its directory, the file itself, its WAL and shared-memory files. */
export function preparePrivateDatabase(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  if (!existsSync(path)) closeSync(openSync(path, "a", PRIVATE_FILE));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, PRIVATE_FILE);
  }
}

/**
 * A private SQLite database (preparePrivateDatabase), opened in WAL mode, with `schema` run. The
 * busy timeout comes first: the switch to WAL takes the file's lock, and a reader that held the
 * file at that moment (`levity logs`, the monitor, a backup) made the switch fail at once
 * ("database is locked"), which left the request log unopened until a restart.
 *
 * An empty file is created without flushing the disk: the switch to WAL goes through a rollback
 * journal and then writes the WAL's header, six flushes of 1-2 ms each on the benchmarks' machine,
 * all on the way to the first /healthz. A crash there can lose only a file that held nothing.
 * From the schema on, commits and checkpoints flush as synchronous = NORMAL has them.
 */
export function openPrivateDatabase(
  path: string,
  schema: string,
  options: { incrementalVacuum?: boolean } = {},
): Database {
  preparePrivateDatabase(path);
  const empty = statSync(path).size === 0;
  const db = new Database(path, { create: true, strict: true });
  // auto_vacuum is written into a new file's header by its first write, which the switch to WAL
  // is: set after it, it never took effect (the request log kept its trimmed pages from 0f46762
  // on). On a file that has tables it changes nothing.
  db.exec(
    `PRAGMA busy_timeout = 2000; PRAGMA synchronous = ${empty ? "OFF" : "NORMAL"};${options.incrementalVacuum ? " PRAGMA auto_vacuum = INCREMENTAL;" : ""} PRAGMA journal_mode = WAL;`,
  );
  db.exec(schema);
  if (empty) db.exec("PRAGMA synchronous = NORMAL;");
  return db;
}
