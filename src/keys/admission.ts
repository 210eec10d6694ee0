import type { KeyLimits } from "../config/key-record.ts";
import {
  addToWindow,
  emptyWindow,
  nextUtcDay,
  nextUtcMonth,
  secondsUntilRoom,
  type SlidingWindow,
  utcDay,
  utcMonth,
  windowTotal,
} from "./windows.ts";

/*
 * Whether a key may send one more request now, and what it counts: the rules of the limits, over
 * one key's counters. Pure: the caller owns the state and the clock.
 */

/** What one key has used: the windows, today's tokens, this month's spend, and what is in flight. */
export interface KeyCounters {
  requests: SlidingWindow;
  tokens: SlidingWindow;
  /** The UTC day the tokens are counted for, as days since 1970-01-01. */
  day: number;
  dayTokens: number;
  /** The UTC month the spend is counted for, "2026-11". */
  month: string;
  monthUsd: number;
  inFlight: number;
}

export function freshCounters(now: number): KeyCounters {
  return {
    requests: emptyWindow(),
    tokens: emptyWindow(),
    day: utcDay(now),
    dayTokens: 0,
    month: utcMonth(now),
    monthUsd: 0,
    inFlight: 0,
  };
}

export type Refusal =
  | { limit: "monthly_usd"; allowed: number; used: number; resetsAt: number }
  | { limit: "daily_tokens"; allowed: number; used: number; need: number; resetsAt: number }
  | { limit: "rpm"; allowed: number; used: number; retryAfterSeconds: number }
  | { limit: "tpm"; allowed: number; used: number; need: number; retryAfterSeconds: number }
  | { limit: "concurrency"; allowed: number; used: number; retryAfterSeconds: number };

/** What an admitted request counted, to correct when its answer ends. */
export interface Ticket {
  second: number;
  estimate: number;
}

/**
 * A new day or month starts its count at zero. The day is a division, done on every request; the
 * month is formatted only when the day changes (formatting a date costs a microsecond).
 */
export function rollOver(counters: KeyCounters, now: number): void {
  const day = utcDay(now);
  if (counters.day === day) return;
  counters.day = day;
  counters.dayTokens = 0;
  const month = utcMonth(now);
  if (counters.month !== month) {
    counters.month = month;
    counters.monthUsd = 0;
  }
}

/**
 * Checks every limit, the budgets first (theirs is the longer wait, so the one to tell), and
 * counts the request when all pass. A request's tokens are its estimate until its answer ends.
 * A token limit admits a request into an empty window whatever its size: otherwise a request
 * larger than the limit could never be sent at all.
 */
export function admit(
  counters: KeyCounters,
  limits: KeyLimits,
  estimate: number,
  now: number,
): Refusal | Ticket {
  rollOver(counters, now);
  const second = Math.floor(now / 1000);
  if (limits.monthlyUsd !== undefined && counters.monthUsd >= limits.monthlyUsd)
    return {
      limit: "monthly_usd",
      allowed: limits.monthlyUsd,
      used: counters.monthUsd,
      resetsAt: nextUtcMonth(now),
    };
  if (
    limits.dailyTokens !== undefined &&
    counters.dayTokens > 0 &&
    counters.dayTokens + estimate > limits.dailyTokens
  )
    return {
      limit: "daily_tokens",
      allowed: limits.dailyTokens,
      used: counters.dayTokens,
      need: estimate,
      resetsAt: nextUtcDay(now),
    };
  if (limits.rpm !== undefined) {
    const used = windowTotal(counters.requests, second);
    if (used + 1 > limits.rpm)
      return {
        limit: "rpm",
        allowed: limits.rpm,
        used,
        retryAfterSeconds: secondsUntilRoom(counters.requests, second, limits.rpm, 1),
      };
  }
  if (limits.tpm !== undefined) {
    const used = windowTotal(counters.tokens, second);
    if (used > 0 && used + estimate > limits.tpm)
      return {
        limit: "tpm",
        allowed: limits.tpm,
        used,
        need: estimate,
        retryAfterSeconds: secondsUntilRoom(counters.tokens, second, limits.tpm, estimate),
      };
  }
  if (limits.concurrency !== undefined && counters.inFlight >= limits.concurrency)
    // Nothing tells when a request in flight will end; a second is the shortest wait worth asking for.
    return {
      limit: "concurrency",
      allowed: limits.concurrency,
      used: counters.inFlight,
      retryAfterSeconds: 1,
    };
  return count(counters, estimate, now);
}

/**
 * Counts an admitted request without judging it: what admit does once every limit passed, and
 * what an instance does with a request the shared counters admitted (its own share, should it
 * have to decide alone while the shared store is down).
 */
export function count(counters: KeyCounters, estimate: number, now: number): Ticket {
  rollOver(counters, now);
  const second = Math.floor(now / 1000);
  addToWindow(counters.requests, second, 1);
  addToWindow(counters.tokens, second, estimate);
  counters.dayTokens += estimate;
  counters.inFlight += 1;
  return { second, estimate };
}

export function isRefusal(verdict: Refusal | Ticket): verdict is Refusal {
  return "limit" in verdict;
}

/**
 * The request's answer ended: it leaves the in-flight count, its estimate is replaced by the
 * tokens the upstream reported, and its cost is spent. Tokens are counted in the second the
 * request was admitted while that second is in the window, else now.
 */
export function settle(
  counters: KeyCounters,
  ticket: Ticket,
  tokens: number,
  usd: number,
  now: number,
): void {
  counters.inFlight = Math.max(0, counters.inFlight - 1);
  const nowSecond = Math.floor(now / 1000);
  if (!addToWindow(counters.tokens, ticket.second, tokens - ticket.estimate, nowSecond))
    addToWindow(counters.tokens, nowSecond, tokens);
  const admittedDay = utcDay(ticket.second * 1000);
  rollOver(counters, now);
  counters.dayTokens = Math.max(
    0,
    counters.dayTokens + (admittedDay === counters.day ? tokens - ticket.estimate : tokens),
  );
  counters.monthUsd += usd;
}
