import * as v from "valibot";
import { DIALECTS, OPERATIONS, PROTOCOLS } from "../codecs/names.ts";
import { OPENAI_APIS, PROFILES } from "../codecs/openai-compatible/index.ts";
import { DEFAULT_REQUEST_LIMITS } from "./request-limits.ts";
import { MODALITIES } from "../mapping/model-limits.ts";
import { LIMIT_ENTRIES } from "./key-limits-input.ts";
import { parseCidr } from "./address-policy.ts";

/*
 * The key names in these schemas are a contract: docs, tools and users rely on them.
 * Objects are strict so a misspelt key is an error with a line number, not a silent default.
 * Messages never quote the received value: it may be a secret.
 */

const CLIENT_KEY_RULE = 'must start with "sk-" and be at least 10 characters';

export const ClientKey = v.pipe(
  v.string(`must be a string that ${CLIENT_KEY_RULE.replace("must ", "")}`),
  v.startsWith("sk-", CLIENT_KEY_RULE),
  v.minLength(10, CLIENT_KEY_RULE),
);

const Name = v.pipe(
  v.string("must be a string"),
  v.minLength(1, "must not be empty"),
  v.maxLength(200, "must be at most 200 characters"),
);

const UpstreamName = v.pipe(
  v.string("must be a string"),
  v.regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    "must be letters, digits, '_', '.' or '-' (it is the UPSTREAM in UPSTREAM/MODEL targets)",
  ),
);

const PositiveInteger = (what: string) =>
  v.pipe(
    v.number(`must be ${what}`),
    v.integer("must be a whole number"),
    v.minValue(1, "must be at least 1"),
  );

/** A cap on a count in one request (proxy.limits). */
const CountLimit = (what: string) =>
  v.pipe(
    v.number(`must be ${what}`),
    v.integer("must be a whole number"),
    v.minValue(1, "must be at least 1"),
    v.maxValue(10_000_000, "must be at most 10000000"),
  );

const Seconds = v.pipe(
  v.number("must be a number of seconds"),
  v.minValue(1, "must be at least 1 second"),
  v.maxValue(86_400, "must be at most 86400 seconds"),
);

const UpstreamMegabytes = v.pipe(
  v.number("must be a number of megabytes"),
  v.minValue(0.001, "must be more than 0"),
  v.maxValue(4096, "must be at most 4096"),
);

const PerMillion = v.pipe(
  v.number("must be US dollars per million tokens, such as 3 or 0.3"),
  v.minValue(0, "must be 0 or more"),
  v.maxValue(100_000, "must be at most 100000 dollars per million tokens"),
);

/** Longer than any model name; far below picomatch's limit. */
const MAX_PRICE_GLOB = 1000;

/**
 * A price table: model name or glob to US dollars per million tokens. input and output are
 * required; cached_input and cache_write default to input, reasoning to output.
 */
export const PricesSchema = v.record(
  v.pipe(
    v.string("must be a model name or glob"),
    v.minLength(1, "must not be empty"),
    // A glob picomatch refuses (over 65,536 characters) would price nothing without a word.
    v.maxLength(MAX_PRICE_GLOB, `must be at most ${MAX_PRICE_GLOB} characters`),
  ),
  v.strictObject(
    {
      input: PerMillion,
      output: PerMillion,
      cached_input: v.optional(PerMillion),
      cache_write: v.optional(PerMillion),
      reasoning: v.optional(PerMillion),
    },
    "must be a map with input and output at least, such as { input: 3, cached_input: 0.3, cache_write: 3.75, output: 15 } (US dollars per million tokens)",
  ),
  "must be a map from model names or globs to prices, such as gpt-4o*: { input: 2.5, output: 10 }",
);

export const AUTH_MODES = ["off", "strict", "all_except_health", "auto"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** Seconds that may be a fraction: the commit deadline and the keep-alive interval. */
const FineSeconds = v.pipe(
  v.number("must be a number of seconds"),
  v.minValue(0.1, "must be at least 0.1 seconds"),
  v.maxValue(86_400, "must be at most 86400 seconds"),
);

/** Upstream time limits, in seconds; an upstream's own block overrides proxy.timeouts key by key. */
const TimeoutsSchema = v.strictObject(
  {
    connect: v.optional(Seconds),
    first_byte: v.optional(Seconds),
    idle: v.optional(Seconds),
    total: v.optional(Seconds),
    /** A stream still without content this long after the request came is committed to the client anyway. */
    commit_deadline: v.optional(FineSeconds),
    /** How often a committed stream without content yet gets a keep-alive. */
    keepalive_interval: v.optional(FineSeconds),
  },
  "must be a map of time limits in seconds, such as { first_byte: 300, commit_deadline: 30 }",
);
export type TimeoutsFile = v.InferOutput<typeof TimeoutsSchema>;

export const STRATEGIES = ["round_robin", "fill_first", "least_busy", "sticky"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** What becomes of a server tool (web search, web fetch) an upstream has no counterpart for. */
export const SERVER_TOOL_POLICIES = ["auto", "error", "drop"] as const;
export type ServerToolPolicy = (typeof SERVER_TOOL_POLICIES)[number];
const ServerToolsPolicy = v.picklist(
  SERVER_TOOL_POLICIES,
  "must be auto (refuse a request that forces the tool, drop it with a warning from one that only offers it), error (always refuse, naming the tool) or drop (always send the request without it, with an x-levity-warning header)",
);

const PostgresUrl = v.pipe(
  v.string("must be a postgres:// URL"),
  v.regex(
    /^postgres(ql)?:\/\/\S+$/,
    "must be a postgres:// URL, e.g. postgres://levity@127.0.0.1:5432/levity",
  ),
);

/** proxy.request_log's long form; without a url, the log is requests.db in the data directory. */
const RequestLogSchema = v.strictObject(
  {
    /** A postgres:// URL: the log goes to PostgreSQL instead of requests.db. */
    url: v.optional(PostgresUrl),
    enabled: v.optional(v.boolean("must be true or false"), true),
    /** Request and response bodies, each cut at body_max_kb. They can hold anything a client sent. */
    log_bodies: v.optional(v.boolean("must be true or false"), false),
    body_max_kb: v.optional(
      v.pipe(
        v.number("must be a number of kilobytes"),
        v.minValue(1, "must be at least 1"),
        v.maxValue(10_240, "must be at most 10240"),
      ),
      64,
    ),
    retention_days: v.optional(
      v.pipe(v.number("must be a number of days"), v.minValue(0.001, "must be more than 0")),
      30,
    ),
    max_mb: v.optional(
      v.pipe(v.number("must be a number of megabytes"), v.minValue(0.01, "must be more than 0")),
      512,
    ),
    /** PostgreSQL only: milliseconds any one call may take before it counts as failed. */
    timeout_ms: v.optional(
      v.pipe(
        v.number("must be a number of milliseconds"),
        v.integer("must be a whole number"),
        v.minValue(100, "must be at least 100"),
        v.maxValue(60_000, "must be at most 60000"),
      ),
      5000,
    ),
    /** PostgreSQL only: records kept in memory while it is away; past this they are counted as dropped. */
    buffer_records: v.optional(
      v.pipe(
        v.number("must be a number of records"),
        v.integer("must be a whole number"),
        v.minValue(1, "must be at least 1"),
        v.maxValue(1_000_000, "must be at most 1000000"),
      ),
      50_000,
    ),
    /** How often buffered records are written; a crash loses at most this long of the log. */
    flush_ms: v.optional(
      v.pipe(
        v.number("must be a number of milliseconds"),
        v.integer("must be a whole number"),
        v.minValue(10, "must be at least 10"),
        v.maxValue(60_000, "must be at most 60000"),
      ),
      1000,
    ),
  },
  "must be a postgres:// URL, or a map such as { retention_days: 30, max_mb: 512 }",
);

export const ProxySchema = v.strictObject({
  port: v.optional(
    v.pipe(
      v.number("must be a port number"),
      v.integer("must be a whole number"),
      v.minValue(0, "must be 0 to 65535"),
      v.maxValue(65_535, "must be 0 to 65535"),
    ),
    8045,
  ),
  allow_lan_access: v.optional(v.boolean("must be true or false"), false),
  allow_insecure_lan: v.optional(v.boolean("must be true or false"), false),
  auth_mode: v.optional(v.picklist(AUTH_MODES, `must be one of ${AUTH_MODES.join(", ")}`), "auto"),
  api_key: v.optional(ClientKey),
  api_keys: v.optional(
    v.array(
      v.strictObject({ name: Name, key: ClientKey, ...LIMIT_ENTRIES }),
      "must be a list of { name, key } with optional limits (models, rpm, tpm, concurrency, daily_tokens, monthly_usd, expires, ips)",
    ),
    [],
  ),
  admin_key: v.optional(ClientKey),
  request_timeout: v.optional(Seconds, 300),
  /** Seconds a client has to send its whole request body. */
  body_timeout: v.optional(Seconds, 30),
  max_body_mb: v.optional(
    v.pipe(
      v.number("must be a number of megabytes"),
      v.minValue(1, "must be at least 1"),
      v.maxValue(1024, "must be at most 1024"),
    ),
    32,
  ),
  /** Caps on one translated request's counts; over one, a 413 that names it. Defaults: DEFAULT_REQUEST_LIMITS. */
  limits: v.optional(
    v.strictObject({
      max_messages: v.optional(CountLimit("a number of messages"), DEFAULT_REQUEST_LIMITS.messages),
      max_parts: v.optional(CountLimit("a number of content parts"), DEFAULT_REQUEST_LIMITS.parts),
      max_tools: v.optional(CountLimit("a number of tools"), DEFAULT_REQUEST_LIMITS.tools),
      max_media: v.optional(CountLimit("a number of media items"), DEFAULT_REQUEST_LIMITS.media),
    }),
    {},
  ),
  data_dir: v.optional(
    v.pipe(v.string("must be a directory path"), v.minLength(1, "must not be empty")),
  ),
  timeouts: v.optional(TimeoutsSchema, {}),
  /** How much of an upstream's answer levity holds, in megabytes; past a limit the answer is a broken upstream's (502, retried). */
  upstream_limits: v.optional(
    v.strictObject({
      /** A whole (non-stream) answer or error body, after decompression. */
      body_mb: v.optional(UpstreamMegabytes),
      /** A stream's bytes held back before its first content. */
      held_mb: v.optional(UpstreamMegabytes),
      /** One SSE line or event (one element of Gemini's JSON array). */
      event_mb: v.optional(UpstreamMegabytes),
      /** A streamed answer assembled for translation. */
      answer_mb: v.optional(UpstreamMegabytes),
    }),
    {},
  ),
  /** When every account is cooling and one recovers within this many seconds, wait instead of refusing. */
  cooldown_wait: v.optional(
    v.pipe(
      v.number("must be a number of seconds"),
      v.minValue(0, "must be 0 or more"),
      v.maxValue(60, "must be at most 60"),
    ),
    2,
  ),
  /** What levity adds for upstreams' prompt caches; each upstream's prompt_cache overrides it. */
  prompt_cache: v.optional(
    v.strictObject(
      {
        /** Breakpoints for Anthropic upstreams when the client's request marks none. */
        auto_breakpoints: v.optional(v.boolean("must be true or false"), true),
        /** A prompt_cache_key from the session for OpenAI upstreams that accept one. */
        cache_key: v.optional(v.boolean("must be true or false"), true),
      },
      "must be a map such as { auto_breakpoints: true, cache_key: true }",
    ),
    {},
  ),
  /** Collect metrics and serve GET /metrics. */
  metrics: v.optional(v.boolean("must be true or false"), true),
  /** GET /metrics without a key, for a Prometheus on a trusted network. */
  metrics_public: v.optional(v.boolean("must be true or false"), false),
  /** `request_log: postgres://…` is short for `request_log: { url: postgres://… }`. */
  request_log: v.optional(
    v.pipe(
      v.unknown(),
      v.transform((value) => (typeof value === "string" ? { url: value } : value)),
      RequestLogSchema,
    ),
    {},
  ),
  cors_origins: v.optional(
    v.array(
      v.pipe(v.string("must be an origin such as http://localhost:3000, or *"), v.minLength(1)),
      "must be a list of origins",
    ),
    ["*"],
  ),
  /**
   * Host names (besides loopback, the bound address, and this machine's own addresses on the LAN)
   * that requests may name in their Host header; anything else is refused, against DNS rebinding.
   */
  allowed_hosts: v.optional(
    v.array(
      v.pipe(
        v.string("must be a host name such as levity.example.com"),
        v.regex(
          /^(\*\.)?([A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+\.?$|^\[[0-9A-Fa-f:.]+\]$/,
          "must be a host name (levity.example.com, *.example.com) or an address, without scheme or port",
        ),
      ),
      "must be a list of host names",
    ),
    [],
  ),
  /**
   * Load balancers in front of levity (addresses or CIDR networks): from these, the client's
   * address is the one they name in X-Forwarded-For, for client keys limited to networks.
   */
  trusted_proxies: v.optional(
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
    [],
  ),
  /**
   * Image and PDF URLs a client sends to a Gemini upstream are fetched by levity: from public
   * addresses only, unless `allow` names a network or host; at most max_urls per request,
   * max_total_mb in all, within timeout seconds.
   */
  /** A server tool the upstream cannot run: refused (error) or left out with a warning (drop). */
  server_tools: v.optional(ServerToolsPolicy, "auto"),
  media_fetch: v.optional(
    v.strictObject({
      allow: v.optional(
        v.array(
          v.pipe(
            v.string("must be a network (10.0.0.0/8), an address or a host name"),
            v.minLength(1, "must not be empty"),
          ),
          "must be a list of networks and host names",
        ),
        [],
      ),
      max_urls: v.optional(
        v.pipe(
          v.number("must be a number of URLs"),
          v.integer("must be a whole number"),
          v.minValue(0, "must be 0 or more"),
          v.maxValue(1000, "must be at most 1000"),
        ),
        8,
      ),
      max_total_mb: v.optional(
        v.pipe(
          v.number("must be a number of megabytes"),
          v.minValue(0.001, "must be more than 0"),
          v.maxValue(1024, "must be at most 1024"),
        ),
        20,
      ),
      /** Seconds for all of a request's URLs together, redirects included. */
      timeout: v.optional(
        v.pipe(
          v.number("must be a number of seconds"),
          v.minValue(0.1, "must be at least 0.1"),
          v.maxValue(300, "must be at most 300"),
        ),
        15,
      ),
    }),
    {},
  ),
});

// What an HTTP header value cannot hold: control characters (tab aside) and anything past Latin-1.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const NOT_A_HEADER_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]/;

const AccountSchema = v.strictObject({
  name: Name,
  key: v.pipe(
    v.string('must be a string (use "${ENV_NAME}" to keep it out of the file)'),
    v.check((key) => key.trim() !== "", "must not be empty"),
    // Whitespace around it (a file's line end) is trimmed; what is left is sent in a header, where
    // a line break would start another header line and a character beyond Latin-1 (a curly quote
    // pasted from a document) cannot go at all: both would fail every request, as the upstream's fault.
    v.check(
      (key) => !NOT_A_HEADER_CHARACTER.test(key.trim()),
      "must not hold a line break, a control character or a character such as “ inside it (one pasted from a document, say): an HTTP header cannot carry it",
    ),
  ),
  weight: v.optional(PositiveInteger("a whole number of shares"), 1),
  /** Accounts whose signatures are not each other's (OpenAI organisations): each group its own. */
  group: v.optional(Name),
  max_concurrency: v.optional(PositiveInteger("a number of requests")),
  rpm: v.optional(PositiveInteger("a number of requests per minute")),
  models: v.optional(
    v.array(
      v.pipe(v.string("must be a model name or glob"), v.minLength(1)),
      "must be a list of model names or globs",
    ),
  ),
});

const UpstreamSchema = v.strictObject({
  name: UpstreamName,
  protocol: v.picklist(PROTOCOLS, `must be one of ${PROTOCOLS.join(", ")}`),
  base_url: v.optional(
    v.pipe(
      v.string("must be a URL"),
      v.url("must be an absolute URL such as https://api.openai.com/v1"),
    ),
  ),
  wire_api: v.optional(v.picklist(OPENAI_APIS, "must be chat, responses or completions")),
  /** The OpenAI APIs the upstream serves natively; the others are translated to wire_api. */
  apis: v.optional(
    v.pipe(
      v.array(
        v.picklist(OPENAI_APIS, "must be chat, responses or completions"),
        "must be a list such as [chat, responses]",
      ),
      v.minLength(1, "must name at least one API"),
    ),
  ),
  /** Whose OpenAI-compatible dialect this is; defaults from the base URL's host. */
  profile: v.optional(v.picklist(PROFILES, `must be one of ${PROFILES.join(", ")}`)),
  /** Single differences from the profile. */
  compat: v.optional(
    v.strictObject({
      developer_role: v.optional(v.boolean("must be true or false")),
      max_tokens_field: v.optional(
        v.picklist(
          ["max_tokens", "max_completion_tokens"],
          "must be max_tokens or max_completion_tokens",
        ),
      ),
      stream_options: v.optional(v.boolean("must be true or false")),
      reasoning_field: v.optional(
        v.picklist(["reasoning_content", "reasoning"], "must be reasoning_content or reasoning"),
      ),
      reasoning_echo: v.optional(
        v.picklist(["never", "tool_turns", "always"], "must be never, tool_turns or always"),
      ),
    }),
  ),
  strategy: v.optional(
    v.picklist(STRATEGIES, `must be one of ${STRATEGIES.join(", ")}`),
    "round_robin",
  ),
  max_attempts: v.optional(
    v.pipe(PositiveInteger("a number of attempts"), v.maxValue(20, "must be at most 20")),
    3,
  ),
  timeouts: v.optional(TimeoutsSchema, {}),
  /** proxy.prompt_cache for this upstream; cache_key also sends the field to a profile not known to take it. */
  prompt_cache: v.optional(
    v.strictObject(
      {
        auto_breakpoints: v.optional(v.boolean("must be true or false")),
        cache_key: v.optional(v.boolean("must be true or false")),
      },
      "must be a map such as { auto_breakpoints: true, cache_key: true }",
    ),
  ),
  /** Overrides proxy.server_tools for this upstream. */
  server_tools: v.optional(ServerToolsPolicy),
  /** Prices for this upstream only, over gateway.yaml's prices: and the compiled-in table. */
  prices: v.optional(PricesSchema),
  accounts: v.optional(v.array(AccountSchema, "must be a list of { name, key }"), []),
});

export const UpstreamsSchema = v.array(UpstreamSchema, "must be a list of upstreams");

const RedisUrl = v.pipe(
  v.string("must be a redis:// or rediss:// URL"),
  v.regex(
    /^rediss?:\/\/\S+$/,
    "must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0",
  ),
);

/**
 * Shared state for several instances: `state: redis://…`, or the long form with its settings.
 * Absent: each instance keeps its own state (SQLite), as one instance always has.
 */
export const StateSchema = v.union(
  [
    RedisUrl,
    v.strictObject({
      url: RedisUrl,
      /** Milliseconds a Redis call may take before the instance serves from its own state. */
      timeout_ms: v.optional(
        v.pipe(
          v.number("must be a number of milliseconds"),
          v.integer("must be a whole number"),
          v.minValue(10, "must be at least 10"),
          v.maxValue(10_000, "must be at most 10000"),
        ),
        250,
      ),
      /** Every key levity writes starts with this, so instances of two gateways can share one Redis. */
      prefix: v.optional(
        v.pipe(
          v.string("must be a string"),
          v.regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1-64 letters, digits, '_', '.', ':' or '-'"),
        ),
        "levity",
      ),
    }),
  ],
  "must be a redis:// URL, or { url, timeout_ms, prefix }",
);

/** gateway.yaml's top level; each section has its own schema so one bad section does not hide another's problems. */
export const GatewayKeysSchema = v.strictObject({
  proxy: v.optional(v.unknown()),
  upstreams: v.optional(v.unknown()),
  prices: v.optional(v.unknown()),
  state: v.optional(v.unknown()),
});
export type ProxyFile = v.InferOutput<typeof ProxySchema>;
export type UpstreamEntry = v.InferOutput<typeof UpstreamSchema>;

const TargetName = v.pipe(
  v.string("must be a target UPSTREAM/MODEL"),
  v.regex(/^[^/\s]+\/\S+$/, "must be UPSTREAM/MODEL, e.g. gemini/gemini-3.8-flash"),
);

const TokenCount = v.pipe(
  v.number("must be a number of tokens"),
  v.integer("must be a whole number of tokens"),
  v.minValue(1, "must be at least 1"),
);

/** A target with what it says of its model, over levity's built-in table (mapping/model-limits.ts). */
const TargetWithLimits = v.strictObject(
  {
    target: TargetName,
    context_window: v.optional(TokenCount),
    max_output: v.optional(TokenCount),
    modalities: v.optional(
      v.pipe(
        v.array(
          v.picklist(MODALITIES, `must each be one of ${MODALITIES.join(", ")}`),
          "must be a list of modalities",
        ),
        v.minLength(1, "must list at least one modality"),
      ),
    ),
  },
  "must be UPSTREAM/MODEL, or { target: UPSTREAM/MODEL, context_window, max_output, modalities }",
);

// Chosen by the value's own type rather than a union, so that a problem inside an object target
// is reported at its key instead of as "not any of the forms".
const SingleTarget = v.lazy((input: unknown) =>
  typeof input === "string" ? TargetName : TargetWithLimits,
);

/** One target, or a list tried in order: the next serves when every account of the one before is exhausted. */
const Target = v.lazy((input: unknown) =>
  Array.isArray(input)
    ? v.pipe(v.array(SingleTarget), v.minLength(1, "must list at least one target"))
    : SingleTarget,
);

export const MappingsSchema = v.strictObject({
  exact: v.optional(
    v.nullable(v.record(v.string(), Target, "must map model names to UPSTREAM/MODEL targets")),
    {},
  ),
  wildcard: v.optional(
    v.nullable(v.record(v.string(), Target, "must map glob patterns to UPSTREAM/MODEL targets")),
    {},
  ),
  default: v.optional(Target),
});
export type MappingsFile = v.InferOutput<typeof MappingsSchema>;

export const AUTH_CLASSES = ["api", "health", "admin", "metrics", "page"] as const;
export type AuthClass = (typeof AUTH_CLASSES)[number];

const RoutePath = v.pipe(v.string("must be a path"), v.startsWith("/", "must start with /"));

/** The operations that read an upload (multipart/form-data) instead of a JSON body. */
export const UPLOAD_OPERATIONS: readonly string[] = ["transcribe", "image-edit"];

const RouteFields = v.strictObject({
  method: v.picklist(["GET", "POST", "PATCH"], "must be GET, POST or PATCH"),
  path: RoutePath,
  dialect: v.optional(v.picklist(DIALECTS, `must be one of ${DIALECTS.join(", ")}`)),
  operation: v.picklist(OPERATIONS, `must be one of ${OPERATIONS.join(", ")}`),
  auth: v.optional(v.picklist(AUTH_CLASSES, `must be one of ${AUTH_CLASSES.join(", ")}`), "api"),
  stream: v.optional(v.boolean("must be true or false"), false),
  aliases: v.optional(v.array(RoutePath, "must be a list of paths"), []),
  /** What the endpoint is, in words (e.g. "OpenAI embeddings"); a not-served answer names it. */
  note: v.optional(v.string("must be text")),
  /** How a POST's body is read: a JSON object (the default), or multipart/form-data uploads. */
  body: v.optional(v.picklist(["json", "multipart"], "must be json or multipart"), "json"),
  /** This route's own body limit in megabytes, in place of proxy.max_body_mb. */
  max_body_mb: v.optional(
    v.pipe(
      v.number("must be a number of megabytes"),
      v.minValue(1, "must be at least 1"),
      v.maxValue(1024, "must be at most 1024"),
    ),
  ),
});

/* An operation reads the body it was written for: a route that says otherwise would answer every
 * request with an internal error, so it is refused when the file is loaded, at its `body` key. */
const RouteSchema = v.pipe(
  RouteFields,
  v.forward(
    v.partialCheck(
      [["operation"], ["body"]],
      (route) =>
        route.operation === "not-served" ||
        UPLOAD_OPERATIONS.includes(route.operation) === (route.body === "multipart"),
      (issue) => {
        const route = issue.input as { operation?: string };
        return UPLOAD_OPERATIONS.includes(String(route.operation))
          ? `must be multipart: operation ${route.operation} reads an upload`
          : `must be json: operation ${route.operation} reads a JSON body`;
      },
    ),
    ["body"],
  ),
);

export const RoutesSchema = v.strictObject({
  normalize: v.optional(
    v.strictObject({
      collapse_slashes: v.optional(v.boolean(), true),
      strip_trailing_slash: v.optional(v.boolean(), true),
      collapse_repeated_prefixes: v.optional(v.array(RoutePath), []),
      /** An endpoint pasted as a Base URL, followed by the client's own suffix, means that suffix. */
      glued_endpoints: v.optional(v.boolean(), true),
    }),
    {},
  ),
  routes: v.pipe(
    v.array(RouteSchema, "must be a list of routes"),
    v.minLength(1, "must list at least one route"),
  ),
  overlaps: v.optional(
    v.array(
      v.strictObject({
        paths: v.array(RoutePath),
        by_body: v.array(v.strictObject({ field: v.string(), route: RoutePath })),
      }),
    ),
    [],
  ),
});
export type RoutesFile = v.InferOutput<typeof RoutesSchema>;
export type RouteEntryFile = RoutesFile["routes"][number];
