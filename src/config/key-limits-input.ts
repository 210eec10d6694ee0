import picomatch from "picomatch";
import * as v from "valibot";
import { parseCidr } from "./address-policy.ts";
import type { KeyChanges, KeyLimits } from "./key-record.ts";

/*
 * One reading of a key's limits, for every place they are written: the admin API's JSON, the
 * CLI's flags (turned into that JSON), and api_keys entries in gateway.yaml. The names are
 * snake_case, as everywhere in levity's files and API.
 */

/** The snake_case field of each limit, as the admin API, the CLI (--daily-tokens) and gateway.yaml spell it. */
export const LIMIT_NAMES: Readonly<Record<keyof KeyLimits, string>> = {
  models: "models",
  rpm: "rpm",
  tpm: "tpm",
  concurrency: "concurrency",
  dailyTokens: "daily_tokens",
  monthlyUsd: "monthly_usd",
  expiresAt: "expires",
  ips: "ips",
};

const DAY_MS = 86_400_000;

const count = v.pipe(
  v.number("must be a number"),
  v.integer("must be a whole number"),
  v.minValue(1, "must be at least 1"),
  v.maxValue(Number.MAX_SAFE_INTEGER, "is too large"),
);

const dollars = v.pipe(
  v.number("must be a number"),
  v.minValue(0, "must be at least 0"),
  v.maxValue(1e12, "is too large"),
);

const models = v.pipe(
  v.array(
    v.pipe(
      v.string("must be a model name or glob"),
      v.minLength(1, "must not be empty"),
      v.maxLength(256, "must be at most 256 characters"),
      v.check((glob) => {
        try {
          picomatch(glob);
          return true;
        } catch {
          return false;
        }
      }, "is not a valid glob"),
    ),
    "must be a list of model names or globs",
  ),
  v.minLength(1, "must name at least one model (leave it out to allow every model)"),
  v.maxLength(200, "must list at most 200 globs"),
);

const ips = v.pipe(
  v.array(
    v.pipe(
      v.string("must be an address or a CIDR network"),
      v.check(
        (text) => parseCidr(text) !== undefined,
        "must be an address or a CIDR network such as 10.0.0.0/8",
      ),
    ),
    "must be a list of addresses or CIDR networks",
  ),
  v.minLength(1, "must name at least one network (leave it out to allow every address)"),
  v.maxLength(200, "must list at most 200 networks"),
);

const expires = v.pipe(
  v.union(
    [v.string(), v.number()],
    "must be a date (2026-12-31), a time (2026-12-31T18:00:00Z) or a duration from now (30d, 12h)",
  ),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const at = parseExpiry(dataset.value, Date.now());
    if (at === undefined) {
      addIssue({
        message:
          "must be a date (2026-12-31), a time (2026-12-31T18:00:00Z) or a duration from now (30d, 12h)",
      });
      return NEVER;
    }
    return at;
  }),
);

/**
 * When a key expires, in epoch ms: a bare date means the key works through that whole day (UTC)
 * and is refused from the next midnight; a time is taken as written (UTC unless it says); a
 * duration counts from now; a number is epoch milliseconds.
 */
export function parseExpiry(value: string | number, now: number): number | undefined {
  const at = expiryOf(value, now);
  // Past JavaScript's last date a time cannot be written out (toISOString throws): not a date.
  return at !== undefined && Number.isFinite(at) && at > 0 && at <= LAST_DATE_MS ? at : undefined;
}

/** The last instant a JavaScript Date can hold: 100,000,000 days after 1970. */
const LAST_DATE_MS = 8.64e15;

function expiryOf(value: string | number, now: number): number | undefined {
  if (typeof value === "number") return value;
  const text = value.trim();
  const duration = /^(\d+(?:\.\d+)?)\s*(m|h|d|w)$/i.exec(text);
  if (duration) {
    const unit = { m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS }[
      duration[2]!.toLowerCase() as "m" | "h" | "d" | "w"
    ];
    return now + Number(duration[1]) * unit;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const start = Date.parse(`${text}T00:00:00Z`);
    return Number.isNaN(start) ? undefined : start + DAY_MS;
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text)) return undefined;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
  const at = Date.parse(zoned);
  return Number.isNaN(at) ? undefined : at;
}

const entries = Object.freeze({
  models,
  rpm: count,
  tpm: count,
  concurrency: count,
  daily_tokens: count,
  monthly_usd: dollars,
  expires,
  ips,
});

/** Limits as gateway.yaml's api_keys entries and `POST /levity/keys` write them. */
export const LIMIT_ENTRIES = Object.fromEntries(
  Object.entries(entries).map(([k, s]) => [k, v.optional(s)]),
) as { [K in keyof typeof entries]: v.OptionalSchema<(typeof entries)[K], undefined> };

/** A change as `PATCH /levity/keys/NAME` takes it: null removes a limit. */
export const ChangesInput = v.strictObject(
  Object.fromEntries(Object.entries(entries).map(([k, s]) => [k, v.optional(v.nullable(s))])) as {
    [K in keyof typeof entries]: v.OptionalSchema<
      v.NullableSchema<(typeof entries)[K], undefined>,
      undefined
    >;
  },
);

type Snake = v.InferOutput<typeof ChangesInput>;

/** snake_case input (validated) to the record's fields. */
export function limitsFrom(input: Snake): KeyChanges {
  const out: KeyChanges = {};
  for (const [field, name] of Object.entries(LIMIT_NAMES) as [keyof KeyLimits, keyof Snake][]) {
    if (input[name] !== undefined) (out as Record<string, unknown>)[field] = input[name];
  }
  return out;
}

/** The record's limits as snake_case, for JSON answers and the CLI (expires as an ISO time). */
export function limitsAsJson(limits: KeyLimits): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, name] of Object.entries(LIMIT_NAMES) as [keyof KeyLimits, string][]) {
    const value = limits[field];
    if (value === undefined) continue;
    out[name] = field === "expiresAt" ? new Date(value as number).toISOString() : value;
  }
  return out;
}

/** The first problem of a validation, as "field: message". */
export function firstProblem(issues: readonly v.BaseIssue<unknown>[]): string {
  const issue = issues[0]!;
  const path = issue.path?.map((p) => String(p.key)).join(".") ?? "";
  return path ? `${path} ${issue.message}` : issue.message;
}
