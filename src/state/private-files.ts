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
