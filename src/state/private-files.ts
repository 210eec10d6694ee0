import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
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
 * A private SQLite database (preparePrivateDatabase), opened in WAL mode. The busy timeout comes
 * first: the switch to WAL takes the file's lock, and a reader that held the file at that moment
 * (`levity logs`, the monitor, a backup) made the switch fail at once ("database is locked"),
 * which left the request log unopened until a restart.
 */
export function openPrivateDatabase(path: string): Database {
  preparePrivateDatabase(path);
  const db = new Database(path, { create: true, strict: true });
  db.exec("PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  return db;
}
