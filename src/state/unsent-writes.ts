import type { SharedLink } from "./shared-link.ts";
import type { SharedWrite } from "./store.ts";

/** A write to shared state, made again by calling it. */
export type SharedPush = () => Promise<unknown>;

/**
 * Writes to shared state that a request may wait for, and those Redis did not take (made while it
 * was down, or past their deadline), pushed in the order they were kept when the link is back
 * (reconciling). Only for writes that are harmless to make late or twice. Past `max`, the oldest
 * are only this instance's.
 */
export class UnsentWrites {
  private readonly writes: SharedPush[] = [];

  constructor(
    private readonly link: SharedLink,
    private readonly max = 1000,
  ) {
    link.onChange(async (up) => {
      while (up && link.up() && this.writes.length > 0) await this.writes.shift()!().catch(nothing);
    });
  }

  /**
   * Makes the write now: its promise for the request to await (the call has a deadline, and a
   * failure is the link's to report). Nothing while Redis is down, when no other instance can
   * read it anyway. One Redis did not take is kept for later unless `keepUnsent` is false.
   */
  send(push: SharedPush, keepUnsent = true): SharedWrite {
    if (!this.link.up()) {
      if (keepUnsent) this.keep(push);
      return undefined;
    }
    return push().then(nothing, keepUnsent ? () => this.keep(push) : nothing);
  }

  private keep(push: SharedPush): void {
    this.writes.push(push);
    if (this.writes.length > this.max) this.writes.shift();
  }
}

function nothing(): void {}
