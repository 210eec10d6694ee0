import { Database } from "bun:sqlite";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The request log as a reader outside the gateway sees it: straight from its SQLite file. */
export function readRequestDb(dataDir: string): { rows: any[]; integrity: string } {
  const path = join(dataDir, "requests.db");
  if (!existsSync(path)) return { rows: [], integrity: "missing" };
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
