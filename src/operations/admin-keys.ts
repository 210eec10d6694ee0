import * as v from "valibot";
import type { Operation } from "../codecs/names.ts";
import { jsonResponse } from "../codecs/shared.ts";
import type { KeyLimits, KeyRecord } from "../config/key-record.ts";
import {
  ChangesInput,
  firstProblem,
  LIMIT_ENTRIES,
  limitsAsJson,
  limitsFrom,
} from "../config/key-limits-input.ts";
import { GatewayError } from "../failure.ts";
import { KeyStoreError } from "../keys/key-store.ts";
import type { KeyService, KeyUsageNow } from "../keys/service.ts";
import type { GatewayServices, OperationHandler, RequestContext } from "./context.ts";

/*
 * The admin API of client keys (`levity keys` and the monitor page use it). A key is shown by
 * name with its limits and what it has used; its secret is in the one answer that makes it, and
 * its digest in none.
 */

export type KeyOperation = Extract<
  Operation,
  "admin-keys" | "admin-key" | "admin-add-key" | "admin-update-key" | "admin-revoke-key"
>;

const iso = (ms: number) => new Date(ms).toISOString();

/** A key as the admin API answers it. */
export function keyView(
  record: KeyRecord,
  keys: KeyService,
  now = Date.now(),
  /** Across every instance, when shared (KeyService.sharedUsage); else this instance's. */
  shared?: Map<string, KeyUsageNow>,
) {
  const usage = shared?.get(record.name) ?? keys.usage(record.name);
  const status =
    record.revokedAt !== undefined
      ? "revoked"
      : record.expiresAt !== undefined && record.expiresAt <= now
        ? "expired"
        : "active";
  return {
    name: record.name,
    source: record.source,
    status,
    created_at: iso(record.createdAt),
    ...(record.revokedAt !== undefined ? { revoked_at: iso(record.revokedAt) } : {}),
    limits: limitsAsJson(record),
    usage: {
      requests_last_minute: usage.requestsLastMinute,
      tokens_last_minute: usage.tokensLastMinute,
      in_flight: usage.inFlight,
      tokens_today: usage.tokensToday,
      usd_this_month: usage.usdThisMonth,
      day_resets_at: iso(usage.dayResetsAt),
      month_resets_at: iso(usage.monthResetsAt),
    },
  };
}

/** The key service's refusals (unknown name, name taken, a gateway.yaml key) as admin errors. */
function storeCall<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof KeyStoreError) throw new GatewayError(error.status, error.message);
    throw error;
  }
}

/** The {name} of the path: a client may have percent-encoded an '@'. */
function nameOf(ctx: RequestContext): string {
  const raw = ctx.match.params.name ?? "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function found(ctx: RequestContext, services: GatewayServices): KeyRecord {
  const name = nameOf(ctx);
  const record = services.keys.get(ctx.snapshot, name);
  if (!record)
    throw new GatewayError(
      404,
      `No key is named "${name.slice(0, 80)}"; GET /levity/keys (or levity keys list) lists them.`,
    );
  return record;
}

const AddInput = v.strictObject({
  name: v.pipe(v.string("must be the key's name"), v.minLength(1, "must not be empty")),
  ...LIMIT_ENTRIES,
});

/** Validates a body against a schema; the 400 names the first field in trouble. */
function parsed<S extends v.GenericSchema>(schema: S, json: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, json ?? {});
  if (!result.success) {
    const issue = result.issues[0];
    const field = issue?.path?.map((p) => String(p.key)).join(".");
    throw new GatewayError(400, firstProblem(result.issues), field ? { param: field } : {});
  }
  return result.output;
}

const listKeys: OperationHandler = (ctx, services) => {
  const records = services.keys.list(ctx.snapshot);
  const answer = (shared?: Map<string, KeyUsageNow>) =>
    jsonResponse({
      keys: records.map((record) => keyView(record, services.keys, Date.now(), shared)),
    });
  return services.keys.sharedUsage(records)?.then(answer) ?? answer();
};

const showKey: OperationHandler = (ctx, services) => {
  const record = found(ctx, services);
  const answer = (shared?: Map<string, KeyUsageNow>) =>
    jsonResponse(keyView(record, services.keys, Date.now(), shared));
  return services.keys.sharedUsage([record])?.then(answer) ?? answer();
};

const addKey: OperationHandler = (ctx, services) => {
  const { name, ...limits } = parsed(AddInput, ctx.body?.json);
  const made = storeCall(() =>
    services.keys.add(ctx.snapshot, name, limitsFrom(limits) as KeyLimits),
  );
  services.log.info(`admin added the client key "${made.record.name}"`);
  return services.keys
    .told(made.record.name)
    .then(() =>
      jsonResponse(
        { key: keyView(made.record, services.keys), secret: made.secret },
        { status: 201 },
      ),
    );
};

const updateKey: OperationHandler = (ctx, services) => {
  const changes = limitsFrom(parsed(ChangesInput, ctx.body?.json));
  const name = found(ctx, services).name;
  const next = storeCall(() => services.keys.update(ctx.snapshot, name, changes));
  services.log.info(`admin changed the limits of the client key "${name}"`);
  return services.keys.told(name).then(() => jsonResponse(keyView(next, services.keys)));
};

const revokeKey: OperationHandler = (ctx, services) => {
  const name = found(ctx, services).name;
  const next = storeCall(() => services.keys.revoke(ctx.snapshot, name));
  services.log.info(`admin revoked the client key "${name}"`);
  // Answered once Redis holds the revoke, when state is shared: the other instances have then
  // been sent it, and a client the answer is passed on to is refused there too.
  return services.keys.told(name).then(() => jsonResponse(keyView(next, services.keys)));
};

export const KEY_HANDLERS: Readonly<Record<KeyOperation, OperationHandler>> = {
  "admin-keys": listKeys,
  "admin-key": showKey,
  "admin-add-key": addKey,
  "admin-update-key": updateKey,
  "admin-revoke-key": revokeKey,
};
