import { Database } from "bun:sqlite";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The request log as a reader outside the gateway sees it: straight from its SQLite file. A reader
 * that opens the file just as the gateway's writer thread opens it (SQLITE_BUSY, or
 * SQLITE_BUSY_RECOVERY while the write-ahead log's index is rebuilt) tries again, as any SQLite
 * reader must, for up to 200 ms. Not through SQLite's busy timeout: a test's gateway may run in
 * this very thread, and a second's wait inside SQLite would stop it.
 */
export function readRequestDb(dataDir: string): { rows: any[]; integrity: string } {
  const path = join(dataDir, "requests.db");
  if (!existsSync(path)) return { rows: [], integrity: "missing" };
  for (let attempt = 1; ; attempt++) {
    try {
      return readOnce(path);
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      if (!code.startsWith("SQLITE_BUSY") || attempt === 40) throw error;
      Bun.sleepSync(5);
    }
  }
}

function readOnce(path: string): { rows: any[]; integrity: string } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.query("SELECT * FROM requests ORDER BY seq").all();
    const integrity = (db.query("PRAGMA integrity_check").get() as { integrity_check: string })
      .integrity_check;
    return { rows, integrity };
  } finally {
    db.close();
  }
}

/** Every byte of the log's files (database and write-ahead log), to search for what must never be there. */
export function requestDbBytes(dataDir: string): string {
  return ["requests.db", "requests.db-wal"]
    .map((name) => join(dataDir, name))
    .filter((path) => existsSync(path))
    .map((path) => readFileSync(path).toString("latin1"))
    .join("");
}
