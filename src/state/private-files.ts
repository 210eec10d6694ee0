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

/** Long enough to be past a start's first /healthz (about 100 ms on the benchmarks' machine). */
const FIRST_CHECKPOINT_MS = 100;

/**
 * A private SQLite database (preparePrivateDatabase), opened in WAL mode, with `schema` run. The
 * busy timeout comes first: the switch to WAL takes the file's lock, and a reader that held the
 * file at that moment (`levity logs`, the monitor, a backup) made the switch fail at once
 * ("database is locked"), which left the request log unopened until a restart.
 *
 * An empty file is made without flushing the disk: the switch to WAL goes through a rollback
 * journal and then writes the WAL's header, six flushes of 1-2 ms each on the benchmarks' machine,
 * all on the way to the first /healthz. Its first checkpoint, which flushes it, is run
 * FIRST_CHECKPOINT_MS later, when levity serves; a power cut before it can at worst leave the
 * new, empty file unreadable. From the schema on, commits and checkpoints flush as
 * synchronous = NORMAL has them.
 */
export function openPrivateDatabase(
  path: string,
  schema: string,
  options: { incrementalVacuum?: boolean } = {},
): Database {
  preparePrivateDatabase(path);
  const empty = statSync(path).size === 0;
  const db = new Database(path, { create: true, strict: true });
  try {
    // auto_vacuum is written into a new file's header by its first write, which the switch to WAL
    // is: set after it, it never took effect (the request log kept its trimmed pages from 0f46762
    // on). Only a new file gets it: on one that has it already, setting it again rewrites the
    // header, a commit and its flushes at every start.
    const vacuum = options.incrementalVacuum && empty ? " PRAGMA auto_vacuum = INCREMENTAL;" : "";
    db.exec(
      `PRAGMA busy_timeout = 2000; PRAGMA synchronous = ${empty ? "OFF" : "NORMAL"};${vacuum} PRAGMA journal_mode = WAL;`,
    );
    db.exec(schema);
    if (empty) db.exec("PRAGMA synchronous = NORMAL;");
  } catch (error) {
    db.close();
    throw error;
  }
  if (empty) {
    const timer = setTimeout(checkpointSoon, FIRST_CHECKPOINT_MS, db);
    (timer as { unref?: () => void }).unref?.();
  }
  return db;
}

/** A new file's first checkpoint; the database may be closed by then (the request log's first look is). */
function checkpointSoon(db: Database): void {
  try {
    db.exec("PRAGMA wal_checkpoint(PASSIVE);");
  } catch {
    // closed, which checkpointed it
  }
}
