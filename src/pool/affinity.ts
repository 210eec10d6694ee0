import type { SharedWrite } from "../state/store.ts";

/*
 * What the pool remembers about where requests went: which account a conversation is on (for the
 * sticky strategy) and which account holds a response stored upstream (its continuation must go
 * there). Both are bounded, oldest forgotten first: a forgotten session only loses its warm cache,
 * a forgotten pin only risks the 404 it was meant to avoid.
 */

/** Sessions (sticky) and stored responses (pins) remembered per pool. */
const REMEMBERED = 10_000;

/** What ties a request to an account: its conversation (for sticky), and a stored response it continues. */
export interface Affinity {
  session?: string;
  previousResponseId?: string;
}

export type AffinityKind = "session" | "pin";

/**
 * Told of each new or changed binding (shared-affinity.ts writes it to Redis for the other
 * instances, and returns that write).
 */
export type AffinityListener = (
  kind: AffinityKind,
  upstream: string,
  id: string,
  account: string,
) => SharedWrite;

export class AffinityMemory {
  private readonly sessions = new Map<string, string>();
  private readonly pins = new Map<string, string>();
  /** Undefined unless shared: then each new binding is also written for the other instances. */
  onChange: AffinityListener | undefined;

  constructor(private readonly limit = REMEMBERED) {}

  /** The account this upstream's conversation was on, if remembered. */
  stuckTo(upstream: string, session: string): string | undefined {
    return this.sessions.get(`${upstream}\u0000${session}`);
  }

  stick(upstream: string, session: string, account: string): void {
    // Not waited for: a binding is made at the pick, before the upstream is asked, and one lost
    // costs only a warm cache (shared-affinity.ts).
    this.bind("session", upstream, session, account);
  }

  /** The account holding this upstream's stored response, if remembered. */
  pinnedTo(upstream: string, responseId: string): string | undefined {
    return this.pins.get(`${upstream}\u0000${responseId}`);
  }

  /** Where the memory is shared, the pin's write to the other instances. */
  pin(upstream: string, responseId: string, account: string): SharedWrite {
    return this.bind("pin", upstream, responseId, account);
  }

  /** What this instance knows of a binding. */
  known(kind: AffinityKind, upstream: string, id: string): string | undefined {
    return kind === "session" ? this.stuckTo(upstream, id) : this.pinnedTo(upstream, id);
  }

  /** A binding another instance made: remembered, and not told back. */
  learn(kind: AffinityKind, upstream: string, id: string, account: string): void {
    this.remember(
      kind === "session" ? this.sessions : this.pins,
      `${upstream}\u0000${id}`,
      account,
    );
  }

  private bind(kind: AffinityKind, upstream: string, id: string, account: string): SharedWrite {
    const map = kind === "session" ? this.sessions : this.pins;
    const key = `${upstream}\u0000${id}`;
    const before = map.get(key);
    this.remember(map, key, account);
    return before !== account ? this.onChange?.(kind, upstream, id, account) : undefined;
  }

  /** Sets `key` as the most recently used entry, forgetting the oldest past the bound. */
  private remember(map: Map<string, string>, key: string, value: string): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > this.limit) map.delete(map.keys().next().value!);
  }
}
