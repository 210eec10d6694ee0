import { existsSync, readFileSync } from "node:fs";
import picomatch from "picomatch";
import { limitsFrom } from "./key-limits-input.ts";
import { parseCidr } from "./address-policy.ts";
import type { KeyLimits } from "./key-record.ts";
import * as v from "valibot";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { compileRouteTable } from "./route-table.ts";
import {
  compileMappings,
  parseTarget,
  type RuleSource,
  type TargetSource,
} from "../mapping/table.ts";
import { AddressAllowList } from "./address-policy.ts";
import { normalizeBaseUrl } from "../codecs/base-url.ts";
import {
  compatOf,
  defaultApis,
  profileFromBaseUrl,
  type ChatCompat,
  type ProfileName,
} from "../codecs/openai-compatible/index.ts";
import { BUILT_IN_MAPPINGS, BUILT_IN_ROUTES, builtInValue } from "./defaults.ts";
import { ConfigError, type ConfigProblem } from "./problem.ts";
import {
  GatewayKeysSchema,
  MappingsSchema,
  PricesSchema,
  StateSchema,
  ProxySchema,
  RoutesSchema,
  UpstreamsSchema,
  type MappingsFile,
  type ProxyFile,
  type RoutesFile,
  type TimeoutsFile,
  type UpstreamEntry,
} from "./schema.ts";
import type {
  Account,
  ClientKey,
  ConfigSnapshot,
  SharedStateSettings,
  ConfigSources,
  EffectiveAuthMode,
  OpenAIServing,
  ProxySettings,
  Timeouts,
  Upstream,
} from "./snapshot.ts";
import { DEFAULT_UPSTREAM_LIMITS_MB, type UpstreamLimits } from "../upstream-limits.ts";
import { validateSource } from "./validate.ts";
import { priceRules, type PriceEntry } from "./prices.ts";

type PriceEntries = Record<string, PriceEntry>;
import {
  interpolateEnv,
  keyLines,
  lineOf,
  parsedSource,
  parseYaml,
  type UnsetVariable,
  type YamlSource,
} from "./yaml-source.ts";

export interface LoadOptions {
  /** Undefined: every file comes from the built-in defaults. */
  dir?: string;
  env: Record<string, string | undefined>;
  /** `--port` on the command line wins over proxy.port. */
  port?: number;
  /**
   * Leave `${VAR}` in upstream account keys as written when VAR is unset, instead of failing: for
   * commands that never use an account key (routes, resolve), run where only the service's
   * environment file holds the keys. A snapshot loaded so must never serve.
   */
  tolerateUnsetAccountKeys?: boolean;
}

interface FileText {
  label: string;
  text: string;
  path?: string;
  /** A built-in file's value as its schema's check returned it, where the binary was built with it (defaults.ts). */
  value?: unknown;
}

const DEFAULT_TIMEOUTS_S = {
  connect: 10,
  idle: 120,
  total: 3600,
  // Well inside the shortest wait of the coding CLIs for response headers (Gemini CLI's 60 s).
  commit_deadline: 30,
  keepalive_interval: 5,
} as const;

function resolveTimeouts(proxy: ProxyFile, own: TimeoutsFile | undefined): Timeouts {
  const pick = (key: keyof TimeoutsFile, fallback: number) =>
    (own?.[key] ?? proxy.timeouts[key] ?? fallback) * 1000;
  return {
    connect: pick("connect", DEFAULT_TIMEOUTS_S.connect),
    // proxy.request_timeout is the long-standing name for the first-byte limit.
    firstByte: pick("first_byte", proxy.request_timeout),
    idle: pick("idle", DEFAULT_TIMEOUTS_S.idle),
    total: pick("total", DEFAULT_TIMEOUTS_S.total),
    commitDeadline: pick("commit_deadline", DEFAULT_TIMEOUTS_S.commit_deadline),
    keepAlive: pick("keepalive_interval", DEFAULT_TIMEOUTS_S.keepalive_interval),
  };
}

/** proxy.upstream_limits in bytes, each key falling back to its default. */
function resolveUpstreamLimits(proxy: ProxyFile): UpstreamLimits {
  const own = proxy.upstream_limits;
  const bytes = (mb: number | undefined, fallback: number) =>
    Math.round((mb ?? fallback) * 1024 * 1024);
  return {
    bodyBytes: bytes(own.body_mb, DEFAULT_UPSTREAM_LIMITS_MB.body),
    heldBytes: bytes(own.held_mb, DEFAULT_UPSTREAM_LIMITS_MB.held),
    eventBytes: bytes(own.event_mb, DEFAULT_UPSTREAM_LIMITS_MB.event),
    answerBytes: bytes(own.answer_mb, DEFAULT_UPSTREAM_LIMITS_MB.answer),
  };
}

/** Echo has no keys; one account stands for it, so it is served through the pool like any upstream. */
export const ECHO_ACCOUNT: Readonly<Account> = {
  name: "echo",
  key: "echo",
  weight: 1,
  serves: () => true,
};

function sharedState(
  entry: v.InferOutput<typeof StateSchema> | undefined,
): SharedStateSettings | undefined {
  if (entry === undefined) return undefined;
  if (typeof entry === "string") return { url: entry, timeoutMs: 250, prefix: "levity" };
  return { url: entry.url, timeoutMs: entry.timeout_ms, prefix: entry.prefix };
}

function echoUpstream(name: string, proxy: ProxyFile, prices?: PriceEntries): Upstream {
  return {
    name,
    protocol: "echo",
    baseUrl: "",
    strategy: "round_robin",
    maxAttempts: 1,
    timeouts: resolveTimeouts(proxy, undefined),
    promptCache: { autoBreakpoints: false, cacheKey: false },
    // Echo answers from levity itself: nothing to pay unless gateway.yaml says otherwise.
    prices: prices ? priceRules(prices) : FREE,
    accounts: [ECHO_ACCOUNT],
  };
}

const FREE = priceRules({ "*": { input: 0, output: 0 } });

/**
 * proxy.prompt_cache under the upstream's own prompt_cache. prompt_cache_key goes only to
 * OpenAI's own API and Azure unless the upstream says otherwise: other providers may refuse a
 * field they do not know.
 */
function resolvePromptCache(entry: UpstreamEntry, proxy: ProxyFile, profile?: ProfileName) {
  const own = entry.prompt_cache ?? {};
  const accepted = profile === "openai" || profile === "azure";
  return {
    autoBreakpoints: own.auto_breakpoints ?? proxy.prompt_cache.auto_breakpoints,
    cacheKey: own.cache_key ?? (proxy.prompt_cache.cache_key && accepted),
  };
}

function buildAccount(entry: UpstreamEntry["accounts"][number]): Account {
  const matchers = entry.models?.map((glob) => picomatch(glob, { dot: true }));
  return {
    name: entry.name,
    // Trimmed here, once: the key sent, the key scrubbed from what an upstream says and the key
    // the secret checks look for are then the same string (a key read from a file ends with a line end).
    key: entry.key.trim(),
    weight: entry.weight,
    group: entry.group,
    maxConcurrency: entry.max_concurrency,
    rpm: entry.rpm,
    models: entry.models,
    serves: matchers ? (model) => matchers.some((matches) => matches(model)) : () => true,
  };
}

/** Loads and checks all three files; throws ConfigError listing every problem found. */
export function loadConfig(options: LoadOptions): ConfigSnapshot {
  const problems: ConfigProblem[] = [];
  const unset: UnsetVariable[] = [];
  const gatewayText = readConfigFile(options.dir, "gateway.yaml");
  const mappingsText = readConfigFile(options.dir, "mappings.yaml") ?? {
    label: "built-in mappings.yaml",
    text: BUILT_IN_MAPPINGS,
    value: builtInValue("mappings"),
  };
  const routesText = readConfigFile(options.dir, "routes.yaml") ?? {
    label: "built-in routes.yaml",
    text: BUILT_IN_ROUTES,
    value: builtInValue("routes"),
  };

  const tolerated = options.tolerateUnsetAccountKeys ? isAccountKey : () => false;
  const gatewaySource =
    gatewayText && readSource(gatewayText, options.env, problems, unset, tolerated);
  const mappingsSource = readSource(mappingsText, options.env, problems, unset, tolerated);
  const routesSource = readSource(routesText, options.env, problems, unset, tolerated);

  // gateway.yaml's sections are checked one by one, so a bad proxy section does not hide an
  // upstream's problems or the mapping targets that depend on the upstreams. Without a
  // gateway.yaml, the schemas' defaults serve. One that does not parse has its YAML problem
  // told, and no more: its upstreams are unknown, not the built-in echo, so the mappings to
  // them are not false second problems.
  const gatewayUnparsed = gatewayText !== undefined && !gatewaySource;
  const gatewayKeys = gatewaySource
    ? check(gatewaySource, GatewayKeysSchema, problems)
    : { ok: !gatewayUnparsed };
  const proxyFile = gatewaySource
    ? check(gatewaySource, v.optional(ProxySchema, {}), problems, ["proxy"])
    : { ok: !gatewayUnparsed, value: v.parse(ProxySchema, {}) };
  const upstreamsFile = gatewaySource
    ? check(gatewaySource, v.optional(UpstreamsSchema), problems, ["upstreams"])
    : { ok: !gatewayUnparsed, value: undefined };
  const pricesFile = gatewaySource
    ? check(gatewaySource, v.optional(PricesSchema, {}), problems, ["prices"])
    : { ok: true, value: {} };
  const stateFile = gatewaySource
    ? check(gatewaySource, v.optional(StateSchema), problems, ["state"])
    : { ok: true, value: undefined };
  const mappings = checkFile(mappingsText, mappingsSource, MappingsSchema, problems);
  const routes = checkFile(routesText, routesSource, RoutesSchema, problems);

  const proxy =
    gatewayKeys.ok && proxyFile.ok
      ? buildProxy(proxyFile.value!, gatewaySource || undefined, options, problems)
      : undefined;
  const upstreams = upstreamsFile.ok
    ? buildUpstreams(
        upstreamsFile.value,
        proxyFile.value ?? v.parse(ProxySchema, {}),
        gatewaySource || undefined,
        problems,
      )
    : undefined;
  const mappingTable =
    mappings?.ok &&
    upstreams &&
    buildMappings(mappings.value!, mappingsSource!, upstreams, problems);
  const routeTable = routes?.ok && buildRoutes(routes.value!, routesSource!, problems);

  // One unset variable is one problem: what its placeholder then fails (a port that is not a
  // number, a key of the wrong form) is the same mistake, told a second time.
  const told = problems.filter((problem) => !unset.some((variable) => causedBy(problem, variable)));
  if (unset.length + told.length > 0) throw new ConfigError([...unset.map(withoutPath), ...told]);
  if (!proxy || !upstreams || !mappingTable || !routeTable)
    throw new Error("configuration incomplete without a reported problem");

  const sources: ConfigSources = {
    dir: options.dir,
    gateway: gatewayText?.path,
    mappings: mappingsText.label,
    routes: routesText.label,
  };
  return {
    sources,
    proxy,
    upstreams,
    upstreamByName: new Map(upstreams.map((upstream) => [upstream.name, upstream])),
    builtInEcho: upstreamsFile.value === undefined,
    prices: priceRules(pricesFile.value ?? {}),
    state: sharedState(stateFile.value),
    mappings: mappingTable,
    routes: routeTable,
  };
}

function readConfigFile(dir: string | undefined, name: string): FileText | undefined {
  if (!dir) return undefined;
  const path = join(dir, name);
  if (!existsSync(path)) return undefined;
  return { label: path, text: readFileSync(path, "utf8"), path };
}

/**
 * Parses a file and fills in its environment variables; undefined when it does not parse. A file
 * with an unset variable is still read, its placeholder left as written, so the rest of it is
 * checked as usual: dropping it would make its upstreams unknown, and every mapping to them a
 * false second error. The unset variables are added to `unset`, unless `tolerated`.
 */
function readSource(
  file: FileText,
  env: Record<string, string | undefined>,
  problems: ConfigProblem[],
  unset: UnsetVariable[],
  tolerated: (path: (string | number)[]) => boolean,
): YamlSource | undefined {
  // A built-in file parsed when the binary was built: it holds no variables (built-in-values.ts).
  if (file.value !== undefined) return parsedSource(file.label, file.text, file.value);
  const parsed = parseYaml(file.label, file.text);
  problems.push(...parsed.problems);
  if (parsed.problems.length > 0) return undefined;
  unset.push(...interpolateEnv(parsed.source, env).filter((variable) => !tolerated(variable.path)));
  return parsed.source;
}

/** upstreams[i].accounts[j].key */
function isAccountKey(path: (string | number)[]): boolean {
  return (
    path.length === 5 && path[0] === "upstreams" && path[2] === "accounts" && path[4] === "key"
  );
}

/** A problem with the value an unset variable left behind, or with something inside it. */
function causedBy(problem: ConfigProblem, variable: UnsetVariable): boolean {
  if (problem.file !== variable.file || problem.key === undefined || variable.key === undefined)
    return false;
  return (
    problem.key === variable.key ||
    problem.key.startsWith(`${variable.key}.`) ||
    problem.key.startsWith(`${variable.key}[`)
  );
}

function withoutPath({
  path: _path,
  variable: _variable,
  ...problem
}: UnsetVariable): ConfigProblem {
  return problem;
}

/** A file's checked value; a built-in file's was checked when the binary was built (built-in-values.ts). */
function checkFile<S extends v.GenericSchema>(
  file: FileText,
  source: YamlSource | undefined,
  schema: S,
  problems: ConfigProblem[],
) {
  if (file.value !== undefined) return { ok: true, value: file.value as v.InferOutput<S> };
  return source && check(source, schema, problems);
}

function check<S extends v.GenericSchema>(
  source: YamlSource,
  schema: S,
  problems: ConfigProblem[],
  at: (string | number)[] = [],
) {
  const result = validateSource(source, schema, at);
  problems.push(...result.problems);
  return { ok: result.problems.length === 0, value: result.value };
}

function effectiveAuthMode(mode: ProxySettings["authMode"], allowLan: boolean): EffectiveAuthMode {
  if (mode === "auto") return allowLan ? "all_except_health" : "off";
  return mode;
}

/** State lives beside the configuration it belongs to, or in the user's data directory when there is none. */
function defaultDataDir(options: LoadOptions): string {
  // Set by the systemd template unit per instance, whose instances share one config directory.
  const named = options.env.LEVITY_DATA_DIR;
  if (named) return resolve(named);
  if (options.dir) return join(options.dir, "data");
  return join(options.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "levity");
}

/** proxy.data_dir as the gateway resolves it: relative to the config directory. */
function dataDirOf(written: string | undefined, options: LoadOptions): string {
  return written ? resolve(options.dir ?? process.cwd(), written) : defaultDataDir(options);
}

/** One setting an admin command needs: its value, or why there is none. */
export interface AdminField<T> {
  value?: T;
  /** Written as `${VAR}` with VAR unset here (the service's environment file may set it). */
  unset?: ConfigProblem;
  /** Written, but wrong. */
  problems: ConfigProblem[];
  /** Where it came from, for messages: `proxy.admin_key in /etc/levity/gateway.yaml`. */
  from?: string;
}

/** What `levity accounts` and `levity logs` need from gateway.yaml: where the gateway listens, its admin key, its data directory. */
export interface AdminSettings {
  /** The config file read, if any. */
  gateway?: string;
  port: AdminField<number>;
  adminKey: AdminField<string>;
  dataDir: AdminField<string>;
  /** proxy.request_log's PostgreSQL URL, when the log is there rather than in the data directory. */
  requestLogUrl: AdminField<string>;
  /** gateway.yaml does not parse as YAML. */
  problems: ConfigProblem[];
}

/**
 * Reads only the proxy settings the admin commands use, each on its own, so an unset variable or
 * a mistake anywhere else (an upstream's key kept in the service's environment file) never stops
 * them. The key is proxy.admin_key, the only key the gateway takes for its admin surface.
 */
export function loadAdminSettings(options: LoadOptions): AdminSettings {
  const text = readConfigFile(options.dir, "gateway.yaml");
  const parsed = text ? parseYaml(text.label, text.text) : undefined;
  const settings = (
    port: AdminField<number>,
    adminKey: AdminField<string>,
    dataDir: AdminField<string>,
    problems: ConfigProblem[] = [],
    requestLogUrl: AdminField<string> = { problems: [] },
  ): AdminSettings => ({ gateway: text?.path, port, adminKey, dataDir, requestLogUrl, problems });
  const dataDirDefault = { value: defaultDataDir(options), problems: [] };
  if (!parsed || parsed.problems.length > 0) {
    return settings(
      { value: options.port ?? (parsed ? undefined : 8045), problems: [] },
      { problems: [] },
      parsed ? { problems: [] } : dataDirDefault,
      parsed?.problems ?? [],
    );
  }
  const source = parsed.source;
  const unset = interpolateEnv(source, options.env);
  const field = <S extends v.GenericSchema>(
    name: string,
    schema: S,
  ): AdminField<NonNullable<v.InferOutput<S>>> => {
    const variable = unset.find((u) => u.path[0] === "proxy" && u.path[1] === name);
    const from = `proxy.${name} in ${source.file}`;
    if (variable) return { unset: withoutPath(variable), problems: [], from };
    const checked = validateSource(source, schema, ["proxy", name]);
    return { value: checked.value ?? undefined, problems: checked.problems, from };
  };
  const entries = ProxySchema.entries;
  const port: AdminField<number> =
    options.port !== undefined
      ? { value: options.port, problems: [], from: "--port" }
      : field("port", entries.port);
  const written = field("data_dir", entries.data_dir);
  const dataDir =
    written.unset || written.problems.length > 0
      ? written
      : { ...written, value: dataDirOf(written.value, options) };
  // Only admin_key: the gateway never takes a client key for it either.
  const adminKey = field("admin_key", entries.admin_key);
  const requestLog = field("request_log", entries.request_log);
  const requestLogUrl = { ...requestLog, value: requestLog.value?.url };
  return settings(port, adminKey, dataDir, [], requestLogUrl);
}

function buildProxy(
  p: ProxyFile,
  source: YamlSource | undefined,
  options: LoadOptions,
  problems: ConfigProblem[],
): ProxySettings {
  const at = (path: (string | number)[]) => ({
    file: source?.file ?? "gateway.yaml",
    line: source && lineOf(source, path),
    key: path.join("."),
  });
  const clientKeys: ClientKey[] = [];
  if (p.api_key) clientKeys.push({ name: "default", key: p.api_key });
  p.api_keys.forEach((entry, i) => {
    if (clientKeys.some((k) => k.name === entry.name))
      problems.push({
        ...at(["proxy", "api_keys", i, "name"]),
        key: `proxy.api_keys[${i}].name`,
        message: `"${entry.name}" is used twice; each client key needs its own name`,
      });
    else if (clientKeys.some((k) => k.key === entry.key))
      problems.push({
        ...at(["proxy", "api_keys", i, "key"]),
        key: `proxy.api_keys[${i}].key`,
        message: "is the same key as another entry; give each client its own key",
      });
    else {
      const { name, key, ...limits } = entry;
      clientKeys.push({ name, key, limits: limitsFrom(limits) as KeyLimits });
    }
  });

  const effectiveAuth = effectiveAuthMode(p.auth_mode, p.allow_lan_access);
  // With an admin key, client keys can be made with `levity keys add`: none in the file is fine.
  if (effectiveAuth !== "off" && clientKeys.length === 0 && !p.admin_key) {
    const why =
      p.auth_mode === "auto"
        ? "auth_mode auto with allow_lan_access: true means all_except_health"
        : `auth_mode ${p.auth_mode}`;
    problems.push({
      ...at(["proxy", "auth_mode"]),
      message: `${why}, which needs a client key: add api_key: sk-... (levity init generates one), or an admin_key to make keys with levity keys add`,
    });
  }
  p.media_fetch.allow.forEach((entry, i) => {
    const problem = AddressAllowList.problemWith(entry);
    if (problem)
      problems.push({
        ...at(["proxy", "media_fetch", "allow", i]),
        key: `proxy.media_fetch.allow[${i}]`,
        message: problem,
      });
  });
  if (p.allow_lan_access && effectiveAuth === "off" && !p.allow_insecure_lan) {
    problems.push({
      ...at(["proxy", "allow_lan_access"]),
      message:
        "is true while auth_mode is off: anyone on your network could use your accounts. Set auth_mode: all_except_health with an api_key, or add allow_insecure_lan: true if that is really what you want",
    });
  }
  return {
    port: options.port ?? p.port,
    hostname: p.allow_lan_access ? "0.0.0.0" : "127.0.0.1",
    allowLanAccess: p.allow_lan_access,
    authMode: p.auth_mode,
    effectiveAuth,
    clientKeys,
    // Never a client key: with many keys, any holder could read the others' prompts and disable accounts.
    adminKeys: p.admin_key ? [{ name: "admin", key: p.admin_key }] : [],
    allowedHosts: p.allowed_hosts.map((host) => host.toLowerCase().replace(/\.$/, "")),
    trustedProxies: p.trusted_proxies.flatMap((text) => parseCidr(text) ?? []),
    body: { maxBytes: Math.round(p.max_body_mb * 1024 * 1024), timeoutMs: p.body_timeout * 1000 },
    requestLimits: {
      messages: p.limits.max_messages,
      parts: p.limits.max_parts,
      tools: p.limits.max_tools,
      media: p.limits.max_media,
    },
    corsOrigins: p.cors_origins,
    mediaFetch: {
      allow: p.media_fetch.allow,
      maxUrls: p.media_fetch.max_urls,
      maxTotalBytes: Math.round(p.media_fetch.max_total_mb * 1024 * 1024),
      timeoutMs: Math.round(p.media_fetch.timeout * 1000),
    },
    serverTools: p.server_tools,
    dataDir: dataDirOf(p.data_dir, options),
    cooldownWaitMs: p.cooldown_wait * 1000,
    metricsEnabled: p.metrics,
    metricsPublic: p.metrics_public,
    requestLog: {
      url: p.request_log.url,
      enabled: p.request_log.enabled,
      logBodies: p.request_log.log_bodies,
      bodyMaxBytes: Math.round(p.request_log.body_max_kb * 1024),
      retentionMs: Math.round(p.request_log.retention_days * 86_400_000),
      maxBytes: Math.round(p.request_log.max_mb * 1024 * 1024),
      flushMs: p.request_log.flush_ms,
      timeoutMs: p.request_log.timeout_ms,
      bufferRecords: p.request_log.buffer_records,
    },
  };
}

/** What an OpenAI-compatible upstream serves natively and how its dialect differs: written, or from its host. */
function openaiServing(
  entry: UpstreamEntry,
  baseUrl: string,
  problem: (key: string, message: string) => void,
): OpenAIServing {
  const profile = entry.profile ?? profileFromBaseUrl(baseUrl);
  const written = entry.apis ? [...new Set(entry.apis)] : undefined;
  // A wire_api names an API the upstream has, so it is served natively even when apis is not written.
  const apis = written ?? [
    ...new Set([...defaultApis(profile), ...(entry.wire_api ? [entry.wire_api] : [])]),
  ];
  if (written && entry.wire_api && !written.includes(entry.wire_api)) {
    problem(
      "wire_api",
      `is ${entry.wire_api}, which apis does not list (${written.join(", ")}): translated requests must go to an API the upstream serves`,
    );
  }
  const c = entry.compat ?? {};
  const overrides: Partial<ChatCompat> = {};
  if (c.developer_role !== undefined) overrides.developerRole = c.developer_role;
  if (c.max_tokens_field !== undefined) overrides.maxTokensField = c.max_tokens_field;
  if (c.stream_options !== undefined) overrides.streamOptions = c.stream_options;
  if (c.reasoning_field !== undefined) overrides.reasoningField = c.reasoning_field;
  if (c.reasoning_echo !== undefined) overrides.reasoningEcho = c.reasoning_echo;
  return {
    apis,
    apisConfigured: written !== undefined,
    wireApi: entry.wire_api ?? (apis.includes("chat") ? "chat" : apis[0]!),
    profile,
    profileConfigured: entry.profile !== undefined,
    compat: compatOf(profile, overrides),
    missing: new Set(),
  };
}

function buildUpstreams(
  entries: UpstreamEntry[] | undefined,
  proxy: ProxyFile,
  source: YamlSource | undefined,
  problems: ConfigProblem[],
): Upstream[] {
  if (entries === undefined) return [echoUpstream("echo", proxy)];
  const label = source?.file ?? "gateway.yaml";
  const at = (path: (string | number)[], key: string) => ({
    file: label,
    line: source && lineOf(source, path),
    key,
  });
  if (entries.length === 0) {
    problems.push({
      ...at(["upstreams"], "upstreams"),
      message:
        "is empty: add an upstream with at least one account (see gateway.example.yaml), or delete the key to use the built-in echo upstream",
    });
    return [];
  }
  const upstreams: Upstream[] = [];
  entries.forEach((entry, i) => {
    if (upstreams.some((u) => u.name === entry.name)) {
      problems.push({
        ...at(["upstreams", i, "name"], `upstreams[${i}].name`),
        message: `"${entry.name}" is used twice; upstream names must be unique`,
      });
      return;
    }
    if (entry.protocol !== "echo" && entry.accounts.length === 0) {
      problems.push({
        ...at(["upstreams", i], `upstreams[${i}]`),
        message: `upstream "${entry.name}" has no accounts, so it cannot answer anything. Add one:\n    accounts:\n      - { name: me, key: "\${${entry.name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY}" }`,
      });
    }
    entry.accounts.forEach((account, j) => {
      if (entry.accounts.findIndex((other) => other.name === account.name) !== j) {
        problems.push({
          ...at(["upstreams", i, "accounts", j, "name"], `upstreams[${i}].accounts[${j}].name`),
          message: `"${account.name}" is used twice in upstream "${entry.name}"; account names must be unique`,
        });
      }
    });
    for (const key of ["wire_api", "apis", "profile", "compat"] as const) {
      if (entry[key] !== undefined && entry.protocol !== "openai") {
        problems.push({
          ...at(["upstreams", i, key], `upstreams[${i}].${key}`),
          message: `applies to openai upstreams only; ${entry.protocol} upstreams have one API`,
        });
      }
    }
    if (entry.protocol === "echo") {
      upstreams.push(echoUpstream(entry.name, proxy, entry.prices));
      return;
    }
    const base = normalizeBaseUrl(entry.protocol, entry.base_url);
    const openai =
      entry.protocol === "openai"
        ? openaiServing(entry, base.url, (key, message) =>
            problems.push({ ...at(["upstreams", i, key], `upstreams[${i}].${key}`), message }),
          )
        : undefined;
    upstreams.push({
      name: entry.name,
      protocol: entry.protocol,
      baseUrl: base.url,
      apiVersion: base.apiVersion,
      baseUrlNote: base.adjusted,
      openai,
      strategy: entry.strategy,
      maxAttempts: entry.max_attempts,
      timeouts: resolveTimeouts(proxy, entry.timeouts),
      limits: resolveUpstreamLimits(proxy),
      promptCache: resolvePromptCache(entry, proxy, openai?.profile),
      serverTools: entry.server_tools,
      prices: entry.prices && priceRules(entry.prices),
      accounts: entry.accounts.map(buildAccount),
    });
  });
  return upstreams;
}

function buildMappings(
  file: MappingsFile,
  source: YamlSource,
  upstreams: Upstream[],
  problems: ConfigProblem[],
) {
  const known = new Set(upstreams.map((u) => u.name));
  const check = (path: (string | number)[], key: string, value: TargetSource | TargetSource[]) => {
    for (const [i, target] of (Array.isArray(value) ? value : [value]).entries()) {
      const { upstream, model } = parseTarget(target);
      if (known.has(upstream)) continue;
      problems.push({
        file: source.file,
        line: lineOf(source, Array.isArray(value) ? [...path, i] : path),
        key,
        message: `target "${upstream}/${model}" names upstream "${upstream}", which gateway.yaml does not define (upstreams: ${[...known].join(", ") || "none"})`,
      });
    }
  };
  const rules = (section: "exact" | "wildcard"): RuleSource[] => {
    const entries = Object.entries(file[section] ?? {});
    // Asked only where there are rules: a built-in file's lines cost a YAML parse.
    const lines = entries.length > 0 ? keyLines(source, [section]) : new Map<string, number>();
    return entries.map(([key, target]) => {
      check([section, key], `${section}.${key}`, target);
      return { key, target, line: lines.get(key) };
    });
  };
  const exact = rules("exact");
  const wildcard = rules("wildcard");
  if (file.default) check(["default"], "default", file.default);
  const fallback = file.default
    ? { target: file.default, line: lineOf(source, ["default"]) }
    : undefined;
  return compileMappings(source.file, exact, wildcard, fallback);
}

function buildRoutes(file: RoutesFile, source: YamlSource, problems: ConfigProblem[]) {
  try {
    return compileRouteTable(file);
  } catch (error) {
    problems.push({
      file: source.file,
      line: lineOf(source, ["overlaps"]),
      key: "overlaps",
      message: (error as Error).message,
    });
    return undefined;
  }
}
