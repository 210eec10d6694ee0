import type { SharedLink } from "./shared-link.ts";

/** A write to shared state, made again by calling it. */
export type SharedPush = () => Promise<unknown>;

/**
 * Writes Redis did not take (made while it was down, or past their deadline), pushed in the order
 * they were kept when the link is back (reconciling). Only for writes that are harmless to make
 * late or twice. Past `max`, the oldest are only this instance's.
 */
export class UnsentWrites {
  private readonly writes: SharedPush[] = [];

  constructor(
    link: SharedLink,
    private readonly max = 1000,
  ) {
    link.onChange(async (up) => {
      while (up && link.up() && this.writes.length > 0) await this.writes.shift()!().catch(ignored);
    });
  }

  keep(push: SharedPush): void {
    this.writes.push(push);
    if (this.writes.length > this.max) this.writes.shift();
  }
}

function ignored(): void {}
