/*
 * A client key as levity keeps it: a name, the SHA-256 of its secret, and the rules it is served
 * under. Keys made with `levity keys add` live in the state database; keys in gateway.yaml
 * (api_key, api_keys) are records too, read-only, rebuilt from the file on each load. The secret
 * itself is never kept: it is shown once when the key is made.
 */

/** What a key may do. Every field is optional: a key without limits may do anything. */
export interface KeyLimits {
  /** Globs (picomatch) of the model names a client may ask for; absent: every model. */
  models?: string[];
  /** Requests per minute, over a sliding 60-second window. */
  rpm?: number;
  /** Tokens (input + output, as the upstream reported) per minute, over a sliding 60-second window. */
  tpm?: number;
  /** Requests at once: a stream counts until its last byte. */
  concurrency?: number;
  /** Tokens per UTC day (resets at 00:00 UTC). */
  dailyTokens?: number;
  /** Spend in US dollars per UTC calendar month (resets on the 1st, 00:00 UTC). */
  monthlyUsd?: number;
  /** Epoch milliseconds after which the key is refused. */
  expiresAt?: number;
  /** Networks (CIDR, or single addresses) the key may be used from; absent: anywhere. */
  ips?: string[];
}

export type KeySource = "levity" | "gateway.yaml";

export interface KeyRecord extends KeyLimits {
  name: string;
  /** Where the key is defined: made with `levity keys add` (the state database), or in gateway.yaml (read-only here). */
  source: KeySource;
  /** Hex SHA-256 of the secret: how a presented secret finds its record. Never shown. */
  digest: string;
  /** Epoch ms; for gateway.yaml keys, when this levity loaded them. */
  createdAt: number;
  /** Epoch ms the key was revoked; a revoked key is refused with 401 and stays listed. */
  revokedAt?: number;
}

/** A change to a key's limits: a field set to null is removed (no limit). */
export type KeyChanges = { [field in keyof KeyLimits]?: KeyLimits[field] | null };

/** The record without its digest: what the admin API, the CLI and the monitor page show. */
export type KeyView = Omit<KeyRecord, "digest">;

export function viewOf(record: KeyRecord): KeyView {
  const { digest: _digest, ...view } = record;
  return view;
}
