import type { KeyChanges, KeyLimits, KeyRecord } from "../config/key-record.ts";

/*
 * Where the keys made with `levity keys add` are kept: the embedded SQLite store by default. An
 * interface, so that a shared store (issue 19) can hold them for many instances.
 */

export class KeyStoreError extends Error {
  constructor(
    /** 404: no such key; 409: the name is taken; 400: the change is not allowed. */
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = "KeyStoreError";
  }
}

export interface KeyStore {
  /** Every stored key, revoked ones included, by name. */
  list(): KeyRecord[];
  get(name: string): KeyRecord | undefined;
  /** The key whose secret has this hex SHA-256, revoked or not. */
  byDigest(digest: string): KeyRecord | undefined;
  /** Stores a new key; the name must be free (409 otherwise). */
  add(record: KeyRecord): void;
  /** Applies a change to a stored key's limits; 404 when there is none by that name. */
  update(name: string, changes: KeyChanges): KeyRecord;
  /** Marks the key revoked (idempotent: a second revoke keeps the first time); 404 when unknown. */
  revoke(name: string, at: number): KeyRecord;
  /** Keeps a key as another instance made or changed it (shared-keys.ts), replacing this one's copy. */
  put(record: KeyRecord): void;
  close(): void;
}

/** Applies a change to limits: a null removes the field. */
export function applyChanges(record: KeyRecord, changes: KeyChanges): KeyRecord {
  const next: KeyRecord = { ...record };
  for (const [field, value] of Object.entries(changes) as [keyof KeyLimits, unknown][]) {
    if (value === undefined) continue;
    if (value === null) delete next[field];
    else (next as unknown as Record<string, unknown>)[field] = value;
  }
  return next;
}

/** The same contract in memory: for hosts without SQLite, and for unit tests of the rules. */
export function memoryKeyStore(): KeyStore {
  const byName = new Map<string, KeyRecord>();
  const find = (name: string) => {
    const found = byName.get(name);
    if (!found) throw new KeyStoreError(404, `No key is named "${name}".`);
    return found;
  };
  return {
    list: () => [...byName.values()].map((r) => structuredClone(r)),
    get: (name) => {
      const found = byName.get(name);
      return found && structuredClone(found);
    },
    byDigest: (digest) => {
      for (const record of byName.values()) if (record.digest === digest) return record;
      return undefined;
    },
    add(record) {
      if (byName.has(record.name))
        throw new KeyStoreError(409, `A key named "${record.name}" already exists.`);
      byName.set(record.name, structuredClone(record));
    },
    update(name, changes) {
      const next = applyChanges(find(name), changes);
      byName.set(name, next);
      return structuredClone(next);
    },
    revoke(name, at) {
      const record = find(name);
      record.revokedAt ??= at;
      return structuredClone(record);
    },
    put: (record) => void byName.set(record.name, structuredClone(record)),
    close() {},
  };
}
