import type { AccountRecord, StateStore } from "../state/store.ts";
import { type Health, restore } from "./health.ts";

/*
 * Accounts' health across restarts, through the state store: cooldowns with their expiry and
 * disables with their reason, each under the digest of the key it belongs to, so a restart
 * neither forgets a cooldown nor keeps one a new key has made stale.
 */
export class SavedHealth {
  /** The saved records, read once at start and kept current by every save. */
  private readonly records = new Map<string, AccountRecord>();

  constructor(private readonly store: StateStore) {
    for (const record of store.accounts())
      this.records.set(`${record.upstream}/${record.account}`, record);
  }

  /**
   * The health saved for this very key, made safe to use; `stale` when what is saved belongs to
   * another key (the change may be the fix, so it starts afresh and the record should be replaced).
   */
  load(
    upstream: string,
    account: string,
    keyDigest: string,
    now: number,
  ): { health?: Health; stale: boolean } {
    const saved = this.records.get(`${upstream}/${account}`);
    if (!saved) return { stale: false };
    if (saved.keyDigest !== keyDigest) return { stale: true };
    return { health: restore(saved, now), stale: false };
  }

  /** Every record saved: the accounts this instance knows anything about, touched since start or not. */
  all(): AccountRecord[] {
    return [...this.records.values()];
  }

  /** Saves the health, and returns the record saved (the shape instances share on Redis, too). */
  save(upstream: string, account: string, keyDigest: string, health: Health): AccountRecord {
    const record = this.record(upstream, account, keyDigest, health);
    this.records.set(`${upstream}/${account}`, record);
    this.store.saveAccount(record);
    return record;
  }

  record(upstream: string, account: string, keyDigest: string, health: Health): AccountRecord {
    return {
      upstream,
      account,
      keyDigest,
      cooldownUntil: health.cooldownUntil,
      modelCooldowns: { ...health.modelCooldowns },
      consecutiveFailures: health.consecutiveFailures,
      disabledReason: health.disabledReason,
    };
  }
}
