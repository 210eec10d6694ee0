/*
 * What both hosts serve with: the configuration holder, the services every request shares, the
 * gateway handler over them, and the reload. A host (src/server.ts on Bun, src/deno.ts on Deno)
 * adds only what is its own: listening, signals, the WebSocket upgrade, file watching. Nothing
 * here is one runtime's: what differs (SQLite, the process environment, the listening address)
 * comes in through the host object.
 */
import { join } from "node:path";
import { describeSnapshot } from "./config/describe.ts";
import { loadConfig, type LoadOptions } from "./config/load.ts";
import { ConfigError, problemLines } from "./config/problem.ts";
import type { ConfigSnapshot, SharedStateSettings } from "./config/snapshot.ts";
import type { SharedLink } from "./state/shared-link.ts";
import { createGateway, type Gateway } from "./http/gateway.ts";
import { AfterAnswer } from "./observe/after-answer.ts";
import type { SnapshotHolder } from "./http/exchange.ts";
import { Deadlines } from "./deadlines.ts";
import type { Logger } from "./log.ts";
import { observeAccounts } from "./observe/account-events.ts";
import { GatewayMetrics } from "./observe/gateway-metrics.ts";
import { memoryRequestLog, type RequestLog } from "./observe/request-log.ts";
import type { GatewayServices } from "./operations/context.ts";
import { AccountPool } from "./pool/pool.ts";
import { SharedPool } from "./pool/shared-health.ts";
import { SignatureRegistry } from "./state/signature-registry.ts";
import { memoryStore, type StateStore } from "./state/store.ts";
import { TokenCounter } from "./tokens/estimate.ts";
import { UpstreamClient } from "./upstream/forward.ts";
import { ModelCatalog } from "./upstream/model-catalog.ts";
import { VERSION } from "./version.ts";
import { type CounterStore, memoryCounterStore } from "./keys/counter-store.ts";
import { type KeyStore, memoryKeyStore } from "./keys/key-store.ts";
import { KeyService } from "./keys/service.ts";
import { SharedKeys } from "./keys/shared-keys.ts";
import { AffinityMemory } from "./pool/affinity.ts";
import { SharedAffinity } from "./pool/shared-affinity.ts";
import { sharedStore } from "./state/shared-store.ts";

/** Opens SQLite files; each throws when its file cannot be opened. */
export interface SqliteOpeners {
  store(path: string): StateStore;
  /** Keys made with `levity keys add` and every key's counters, in the state database. */
  keys(path: string): { keys: KeyStore; counters: CounterStore };
  requestLog(options: {
    path: string;
    flushMs: number;
    retentionMs: number;
    maxBytes: number;
    log: Logger;
  }): RequestLog;
}

/** The request log on PostgreSQL, as the runtime hands it to the host's opener. */
export interface PostgresLogSettings {
  url: string;
  flushMs: number;
  retentionMs: number;
  timeoutMs: number;
  bufferRecords: number;
  log: Logger;
}

/** What differs between the hosts. */
export interface RuntimeHost {
  /** The process environment, which fetch reads its HTTP proxy settings from (not the config's `env`). */
  env: Readonly<Record<string, string | undefined>>;
  /** Where the host has SQLite, state and the request log are kept in the data directory; elsewhere in memory. */
  sqlite?: SqliteOpeners;
  /** The address the host listens on ("host:port"), for the warning that a change of it needs a restart. */
  listeningOn(): string;
  /** Opens the request log on PostgreSQL (proxy.request_log.url); a host without a client leaves it out. */
  postgresLog?: (options: PostgresLogSettings) => RequestLog;
  /** Opens the link to shared state (Redis); a host without a Redis client leaves it out. */
  sharedLink?: (settings: SharedStateSettings, log: Logger) => SharedLink;
}

export interface RuntimeOptions extends LoadOptions {
  log: Logger;
  host: RuntimeHost;
}

export interface Runtime {
  holder: SnapshotHolder;
  services: GatewayServices;
  gateway: Gateway;
  /** Re-reads the config; a broken file keeps the current one serving. Returns whether it was applied. */
  reload(reason: string): boolean;
  /** Closes the store and the request log, once nothing is served any more. */
  close(): Promise<void>;
}

/** Loads the configuration and assembles the services; throws ConfigError having opened nothing. */
export function createRuntime(options: RuntimeOptions): Runtime {
  const { log, host } = options;
  const holder: SnapshotHolder = { snapshot: loadConfig(options) };
  const shared = openShared(holder.snapshot, host, log);
  const prefix = holder.snapshot.state?.prefix ?? "levity";
  const local = openStore(holder.snapshot, host.sqlite, log);
  const store = shared ? sharedStore(local, shared, prefix) : local;
  const requestLog = openRequestLog(holder.snapshot, host, log);
  const keys = openKeys(holder.snapshot, host.sqlite, log);
  if (shared) keys.share(new SharedKeys(shared, prefix));
  const affinity = new AffinityMemory();

  const reload = (reason: string): boolean => {
    let next: ConfigSnapshot;
    try {
      next = loadConfig(options);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // A line each: the log escapes a line break inside a message (log.ts), which would run
      // the problems together.
      log.error(
        `config reload (${reason}) failed; the previous configuration keeps serving. ${error.problems.length === 1 ? "The problem" : `The ${error.problems.length} problems`}:`,
      );
      for (const line of problemLines(error.problems)) log.error(line);
      return false;
    }
    warnRestartNeeded(holder.snapshot, next, host.listeningOn(), log);
    holder.snapshot = next;
    log.info(`config reloaded (${reason}): ${describeSnapshot(next)}`);
    return true;
  };

  // The pool reports what its failure policy does; these log it and count it for /metrics.
  const accountEvents = observeAccounts(log);
  const afterAnswer = new AfterAnswer(log);
  const metrics = new GatewayMetrics(VERSION);
  const services: GatewayServices = {
    log,
    catalog: new ModelCatalog(log),
    version: VERSION,
    store,
    pool: new AccountPool(store, accountEvents, {
      shared: shared && new SharedPool(shared, holder.snapshot.state!.prefix),
      affinity,
    }),
    accountEvents: accountEvents.counter,
    requestLog,
    keys,
    shared,
    sharedAffinity: shared ? new SharedAffinity(shared, affinity, prefix) : undefined,
    metrics,
    upstreamClient: new UpstreamClient(host.env, () => metrics.current),
    signatures: new SignatureRegistry(),
    tokens: new TokenCounter(),
    deadlines: new Deadlines(),
    afterAnswer,
    startedAt: Date.now(),
    // Without a configuration directory there is nothing to re-read.
    reload: options.dir ? (reason) => (reload(reason) ? holder.snapshot : undefined) : undefined,
  };

  return {
    holder,
    services,
    gateway: createGateway(holder, services),
    reload,
    async close() {
      // The last answers' records, before the counters and the log they go to are closed.
      afterAnswer.drain();
      shared?.close();
      keys.close();
      store.close();
      services.upstreamClient.close();
      await requestLog.close();
    },
  };
}

/** What a reload cannot change while serving: said, so that an edit that seems ignored is not a mystery. */
function warnRestartNeeded(
  current: ConfigSnapshot,
  next: ConfigSnapshot,
  listeningOn: string,
  log: Logger,
): void {
  const previous = current.proxy;
  if (next.proxy.port !== previous.port || next.proxy.hostname !== previous.hostname)
    log.warn(`port and bind address changes need a restart; still listening on ${listeningOn}`);
  if (next.state?.url !== current.state?.url || next.state?.prefix !== current.state?.prefix)
    log.warn("a state: change needs a restart; shared state stays as it was");
  if (next.proxy.dataDir !== previous.dataDir)
    log.warn(`a data_dir change needs a restart; state stays in ${previous.dataDir}`);
  const { retentionMs, maxBytes, flushMs, url } = next.proxy.requestLog;
  const before = previous.requestLog;
  if (url !== before.url)
    log.warn("a request_log url change needs a restart; the request log stays where it was");
  if (
    retentionMs !== before.retentionMs ||
    maxBytes !== before.maxBytes ||
    flushMs !== before.flushMs
  ) {
    log.warn(
      "request_log retention_days, max_mb and flush_ms changes need a restart; enabled and log_bodies apply now",
    );
  }
}

/** SQLite in the data directory; if it cannot be opened, state lives in memory and the log says so. */
function openStore(
  snapshot: ConfigSnapshot,
  sqlite: SqliteOpeners | undefined,
  log: Logger,
): StateStore {
  if (!sqlite) return memoryStore();
  const path = join(snapshot.proxy.dataDir, "levity.db");
  try {
    return sqlite.store(path);
  } catch (error) {
    log.warn(
      `cannot open ${path} (${(error as Error).message}${damagedHint(error)}); stored responses and signatures will not survive a restart`,
    );
    return memoryStore();
  }
}

/**
 * For a database SQLite finds damaged (a power cut while it was being made can leave a new one
 * so): what brings it back. Its -wal and -shm files go with it, or SQLite could replay the old
 * WAL into the new file. Other failures (permissions, a full disk) have their own remedies.
 */
function damagedHint(error: unknown): string {
  const code = String((error as { code?: unknown }).code);
  return /^SQLITE_(NOTADB|CORRUPT)/.test(code)
    ? ": the file is damaged; stop levity and move it and its -wal and -shm files aside, and the next start makes it again"
    : "";
}

/**
 * The link to shared state, when gateway.yaml names one: connected in the background, so a Redis
 * that is down at start does not stop levity starting (it serves from its own state meanwhile).
 */
function openShared(
  snapshot: ConfigSnapshot,
  host: RuntimeHost,
  log: Logger,
): SharedLink | undefined {
  if (!snapshot.state) return undefined;
  if (!host.sharedLink) {
    log.warn(
      "state: is set, but this runtime has no Redis client: this instance keeps its own state",
    );
    return undefined;
  }
  const link = host.sharedLink(snapshot.state, log);
  void link.start();
  return link;
}

/** Client keys and their counters beside the state; in memory (and said so) if that cannot be opened. */
function openKeys(
  snapshot: ConfigSnapshot,
  sqlite: SqliteOpeners | undefined,
  log: Logger,
): KeyService {
  if (!sqlite) return new KeyService(memoryKeyStore(), memoryCounterStore());
  const path = join(snapshot.proxy.dataDir, "levity.db");
  try {
    const opened = sqlite.keys(path);
    return new KeyService(opened.keys, opened.counters);
  } catch (error) {
    log.warn(
      `cannot open ${path} (${(error as Error).message}${damagedHint(error)}); keys made with levity keys add, and every key's counters, will not survive a restart`,
    );
    return new KeyService(memoryKeyStore(), memoryCounterStore());
  }
}

/** The request log beside the state, in its own file; in memory (and said so) if that cannot be opened. */
function openRequestLog(snapshot: ConfigSnapshot, host: RuntimeHost, log: Logger): RequestLog {
  const settings = snapshot.proxy.requestLog;
  if (settings.url) {
    if (host.postgresLog) {
      const { url, flushMs, retentionMs, timeoutMs, bufferRecords } = settings;
      // Connected in the background: a server that is down does not stop levity starting.
      return host.postgresLog({ url, flushMs, retentionMs, timeoutMs, bufferRecords, log });
    }
    log.warn(
      "request_log names a PostgreSQL URL, but this runtime has no PostgreSQL client: the log is kept as without one",
    );
  }
  const sqlite = host.sqlite;
  if (!sqlite) return memoryRequestLog();
  const path = join(snapshot.proxy.dataDir, "requests.db");
  try {
    return sqlite.requestLog({
      path,
      flushMs: settings.flushMs,
      retentionMs: settings.retentionMs,
      maxBytes: settings.maxBytes,
      log,
    });
  } catch (error) {
    log.warn(
      `cannot open ${path} (${(error as Error).message}${damagedHint(error)}); the request log keeps only the last 10,000 requests, in memory`,
    );
    return memoryRequestLog();
  }
}
