import { openPrivateDatabase } from "../state/private-files.ts";
import type { KeyCounters } from "./admission.ts";
import { type CounterStore, counterText, countersFrom } from "./counter-store.ts";
import { applyChanges, type KeyStore, KeyStoreError } from "./key-store.ts";
import type { KeyRecord } from "../config/key-record.ts";

/**
 * Keys made with `levity keys add` and every key's counters, in the state database (levity.db,
 * WAL) beside stored responses and account health. A secret is never written: only its digest.
 */
export function openSqliteKeys(path: string): { keys: KeyStore; counters: CounterStore } {
  const db = openPrivateDatabase(
    path,
    `
    CREATE TABLE IF NOT EXISTS client_keys (
      name TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS key_counters (
      name TEXT PRIMARY KEY, counters TEXT NOT NULL, updated_at INTEGER NOT NULL);
  `,
  );
  const insert = db.prepare(
    "INSERT INTO client_keys (name, digest, record) VALUES ($name, $digest, $record)",
  );
  const put = db.prepare(
    "INSERT OR REPLACE INTO client_keys (name, digest, record) VALUES ($name, $digest, $record)",
  );
  const replace = db.prepare("UPDATE client_keys SET record = $record WHERE name = $name");
  const all = db.prepare<Row, []>("SELECT digest, record FROM client_keys ORDER BY name");
  const one = db.prepare<Row, { name: string }>(
    "SELECT digest, record FROM client_keys WHERE name = $name",
  );
  const byDigest = db.prepare<Row, { digest: string }>(
    "SELECT digest, record FROM client_keys WHERE digest = $digest",
  );
  const upsertCounters = db.prepare(
    "INSERT OR REPLACE INTO key_counters (name, counters, updated_at) VALUES ($name, $counters, $at)",
  );
  const allCounters = db.prepare<{ name: string; counters: string }, []>(
    "SELECT name, counters FROM key_counters",
  );
  const parse = (row: Row | null) => (row ? fromRow(row) : undefined);
  const find = (name: string): KeyRecord => {
    const found = parse(one.get({ name }));
    if (!found) throw new KeyStoreError(404, `No key is named "${name}".`);
    return found;
  };
  const saveCounters = db.transaction((entries: [string, KeyCounters][]) => {
    const at = Date.now();
    // In flight is this process's own: requests do not survive it.
    for (const [name, counters] of entries)
      upsertCounters.run({ name, counters: counterText(counters), at });
  });
  let closed = false;
  return {
    keys: {
      list: () => all.all().map(fromRow),
      get: (name) => parse(one.get({ name })),
      byDigest: (digest) => parse(byDigest.get({ digest })),
      add(record) {
        if (one.get({ name: record.name }))
          throw new KeyStoreError(409, `A key named "${record.name}" already exists.`);
        insert.run({ name: record.name, digest: record.digest, record: recordText(record) });
      },
      update(name, changes) {
        const next = applyChanges(find(name), changes);
        replace.run({ name, record: recordText(next) });
        return next;
      },
      revoke(name, at) {
        const record = find(name);
        if (record.revokedAt !== undefined) return record;
        const next = { ...record, revokedAt: at };
        replace.run({ name, record: recordText(next) });
        return next;
      },
      put(record) {
        put.run({ name: record.name, digest: record.digest, record: JSON.stringify(record) });
      },
      close() {
        if (!closed) db.close();
        closed = true;
      },
    },
    counters: {
      load: () => new Map(allCounters.all().map((row) => [row.name, countersFrom(row.counters)])),
      save: (entries) => {
        if (!closed && entries.length > 0) saveCounters(entries);
      },
      close() {},
    },
  };
}

interface Row {
  digest: string;
  record: string;
}

/** The record as stored: the digest is its own column and only there, so nothing else need hold it. */
function recordText(record: KeyRecord): string {
  const { digest: _digest, ...rest } = record;
  return JSON.stringify(rest);
}

function fromRow(row: Row): KeyRecord {
  return { ...(JSON.parse(row.record) as Omit<KeyRecord, "digest">), digest: row.digest };
}
