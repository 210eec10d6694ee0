import type { BodyLimits, RequestLimits } from "./request-limits.ts";
import type { RouteTable } from "./route-table.ts";
import type { MappingTable } from "../mapping/table.ts";
import type { UpstreamLimits } from "../upstream-limits.ts";
import type { PromptCacheSettings } from "../codecs/codec.ts";
import type { ChatCompat, OpenAIApi, ProfileName } from "../codecs/openai-compatible/index.ts";
import type { AuthMode, ServerToolPolicy, Strategy } from "./schema.ts";
import type { UpstreamProtocol } from "../codecs/names.ts";
import type { KeyLimits } from "./key-record.ts";
import type { Cidr } from "./address-policy.ts";
import type { PriceRule } from "./prices.ts";

export type EffectiveAuthMode = Exclude<AuthMode, "auto">;

export interface ClientKey {
  name: string;
  key: string;
  /** What gateway.yaml's api_keys entry allows this key (models, rpm, budgets…); none for api_key. */
  limits?: KeyLimits;
}

export interface ProxySettings {
  port: number;
  hostname: string;
  allowLanAccess: boolean;
  authMode: AuthMode;
  effectiveAuth: EffectiveAuthMode;
  clientKeys: ClientKey[];
  /**
   * The key that opens the admin surface: admin_key only. Client keys never do, or one team member
   * could read another's logged prompts. Empty when gateway.yaml names no admin_key.
   */
  adminKeys: ClientKey[];
  /** proxy.allowed_hosts: Host names admitted besides loopback and the bound address, lower case. */
  allowedHosts: string[];
  /** proxy.trusted_proxies: load balancers whose X-Forwarded-For names the client's address. */
  trustedProxies: Cidr[];
  /** proxy.max_body_mb and proxy.body_timeout, as the body readers take them. */
  body: BodyLimits;
  /** proxy.limits: caps on a translated request's messages, parts, tools and media. */
  requestLimits: RequestLimits;
  corsOrigins: string[];
  /** proxy.media_fetch: where URLs a client sends for Gemini may be fetched from, and how much. */
  mediaFetch: MediaFetchSettings;
  /** proxy.server_tools: a server tool an upstream cannot run is refused, or dropped with a warning. */
  serverTools: ServerToolPolicy;
  /** Where SQLite state lives (stored responses, tool-call signatures, account cooldowns). */
  dataDir: string;
  /** When every account is cooling and one recovers within this long, wait for it. */
  cooldownWaitMs: number;
  metricsEnabled: boolean;
  metricsPublic: boolean;
  requestLog: RequestLogSettings;
}

export interface MediaFetchSettings {
  /** Networks, addresses and host names open besides public addresses. */
  allow: string[];
  maxUrls: number;
  maxTotalBytes: number;
  /** For all of one request's URLs together. */
  timeoutMs: number;
}

export interface RequestLogSettings {
  /** A postgres:// URL when the log is on PostgreSQL; undefined: requests.db in the data directory. */
  url?: string;
  enabled: boolean;
  logBodies: boolean;
  bodyMaxBytes: number;
  retentionMs: number;
  maxBytes: number;
  flushMs: number;
  /** PostgreSQL: how long one call may take. */
  timeoutMs: number;
  /** PostgreSQL: records held in memory while it is away. */
  bufferRecords: number;
}

/** How long an upstream may take, in milliseconds. */
export interface Timeouts {
  /** To open a TCP connection to the upstream's host. */
  connect: number;
  /** To send its response headers (proxy.request_timeout). */
  firstByte: number;
  /** Between two chunks of its body. */
  idle: number;
  /** For the whole exchange. */
  total: number;
  /**
   * From the request's arrival to committing a stream that has no content yet: the client gets
   * its status and headers, then keep-alives, and no retry is possible after it.
   */
  commitDeadline: number;
  /** Between two keep-alives of a committed stream that has no content yet. */
  keepAlive: number;
}

export interface Account {
  name: string;
  key: string;
  /** Share of the traffic under round_robin and least_busy. */
  weight: number;
  /**
   * The accounts that can read each other's signatures and encrypted reasoning: absent, the
   * upstream's accounts are one group.
   */
  group?: string;
  maxConcurrency?: number;
  rpm?: number;
  /** The models this account may serve; absent: all. */
  serves: (model: string) => boolean;
  /** The globs `serves` was built from, for display. */
  models?: string[];
}

export interface Upstream {
  name: string;
  protocol: UpstreamProtocol;
  /** Normalized: protocol paths are appended to it directly. Empty for echo. */
  baseUrl: string;
  /** Gemini API version segment. */
  apiVersion?: string;
  baseUrlNote?: string;
  /** For an OpenAI-compatible upstream: what it serves natively and how its dialect differs. */
  openai?: OpenAIServing;
  strategy: Strategy;
  maxAttempts: number;
  timeouts: Timeouts;
  /** proxy.upstream_limits; absent: the defaults. */
  limits?: UpstreamLimits;
  /** proxy.prompt_cache with the upstream's own prompt_cache over it. */
  promptCache?: PromptCacheSettings;
  /** server_tools written for this upstream; absent: proxy.server_tools. */
  serverTools?: ServerToolPolicy;
  /** The upstream's own prices:, over gateway.yaml's and the compiled-in table; echo's are 0. */
  prices?: PriceRule[];
  accounts: Account[];
}

/** Where each file came from: a path in the config directory, or the copy compiled into the binary. */
export interface ConfigSources {
  dir?: string;
  gateway?: string;
  mappings: string;
  routes: string;
}

export interface OpenAIServing {
  /** The APIs forwarded as they are; a client of another one is translated to `wireApi`. */
  apis: readonly OpenAIApi[];
  /** Whether `apis` was written in gateway.yaml or follows from the profile. */
  apisConfigured: boolean;
  /** The API translated requests use. */
  wireApi: OpenAIApi;
  profile: ProfileName;
  /** Whether the profile was written in gateway.yaml or follows from the base URL's host. */
  profileConfigured: boolean;
  compat: ChatCompat;
  /**
   * APIs in `apis` that the upstream answered "no such route" for since this configuration was
   * loaded: requests for them go through `wireApi` until the next reload. The one mutable part of
   * a snapshot, learned at run time and dropped with it.
   */
  missing: Set<OpenAIApi>;
}

/** One loaded configuration. Immutable: a reload builds a new one and swaps it in whole. */
export interface SharedStateSettings {
  url: string;
  timeoutMs: number;
  /** Every Redis key levity writes starts with `${prefix}:`. */
  prefix: string;
}

export interface ConfigSnapshot {
  sources: ConfigSources;
  proxy: ProxySettings;
  upstreams: Upstream[];
  upstreamByName: Map<string, Upstream>;
  /** True when no gateway.yaml was found and the built-in echo upstream serves. */
  builtInEcho: boolean;
  /** gateway.yaml's top-level prices:, over the compiled-in table. */
  prices: PriceRule[];
  /** state: shared state on Redis for several instances; undefined: this instance's own. */
  state?: SharedStateSettings;
  mappings: MappingTable;
  routes: RouteTable;
}
