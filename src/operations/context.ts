import type { CooldownCounter } from "../observe/account-events.ts";
import type { ConfigSnapshot } from "../config/snapshot.ts";
import type { Deadlines } from "../deadlines.ts";
import type { JsonObject } from "../codecs/json.ts";
import type { MultipartBody } from "../codecs/multipart.ts";
import type { ErrorFamily } from "../codecs/errors.ts";
import type { RouteMatch } from "../config/route-table.ts";
import type { Logger } from "../log.ts";
import type { GatewayMetrics } from "../observe/gateway-metrics.ts";
import type { RequestLog } from "../observe/request-log.ts";
import type { KeyService } from "../keys/service.ts";
import type { KeyRecord } from "../config/key-record.ts";
import type { RequestTrace } from "../observe/trace.ts";
import type { AccountPool } from "../pool/pool.ts";
import type { SharedAffinity } from "../pool/shared-affinity.ts";
import type { SignatureRegistry } from "../state/signature-registry.ts";
import type { StateStore } from "../state/store.ts";
import type { SharedLink } from "../state/shared-link.ts";
import type { TokenCounter } from "../tokens/estimate.ts";
import type { UpstreamClient } from "../upstream/forward.ts";
import type { ModelCatalog } from "../upstream/model-catalog.ts";
import type { Target } from "../mapping/table.ts";
import type { AfterAnswer } from "../observe/after-answer.ts";

/**
 * What an operation needs to know about the request it serves. The gateway's middleware fills it
 * in as it goes (src/http/exchange.ts) and hands the same object to the operation.
 */
export interface RequestContext {
  request: Request;
  url: URL;
  snapshot: ConfigSnapshot;
  requestId: string;
  family: ErrorFamily;
  match: RouteMatch;
  /** The name of the client key that authenticated the request, when auth is on. */
  clientKeyName?: string;
  /** Its record, with the limits it is served under; undefined when no client key was needed. */
  clientKey?: KeyRecord;
  trace: RequestTrace;
  /** The parsed JSON body, for POST routes. */
  body?: { json: JsonObject; text: string };
  /** The parsed multipart/form-data body, for routes with `body: multipart`. */
  multipart?: MultipartBody;
  /** Set only by a replay sent elsewhere (`levity replay --to`): these targets instead of the mapping's. */
  targets?: Target[];
  /** The conversation's session key, once hashed (for sticky upstreams or a prompt_cache_key). */
  sessionKey?: string;
  /** Set by a replay (`levity replay`): the request it sends again. It binds no session. */
  replayOf?: string;
}

/**
 * Serves one operation. It throws a GatewayError to refuse the request in the client's own shape;
 * the gateway's middleware renders it.
 */
export type OperationHandler = (
  ctx: RequestContext,
  services: GatewayServices,
) => Response | Promise<Response>;

export interface GatewayServices {
  log: Logger;
  catalog: ModelCatalog;
  version: string;
  store: StateStore;
  pool: AccountPool;
  /** Cooldowns and disables counted since start, for levity_cooldowns_total. */
  accountEvents: CooldownCounter;
  requestLog: RequestLog;
  /** Client keys (gateway.yaml's and those made with levity keys add), their limits and counters. */
  keys: KeyService;
  /** The link to shared state (Redis) when gateway.yaml's state: names one; undefined: this instance's own. */
  shared?: SharedLink;
  /** Sticky sessions and response pins shared through `shared`; undefined without it. */
  sharedAffinity?: SharedAffinity;
  metrics: GatewayMetrics;
  /** Who issued each signature seen in a same-dialect answer (pipeline/signatures.ts). */
  signatures: SignatureRegistry;
  /** Every upstream call goes through it. */
  upstreamClient: UpstreamClient;
  /** The tokenizer, loaded on first use, for counts no upstream gives. */
  tokens: TokenCounter;
  /** The deadline list for request bodies. */
  deadlines: Deadlines;
  /** A finished request's bookkeeping, done once its answer is handed over. */
  afterAnswer: AfterAnswer;
  /** Re-reads the configuration and returns the one now in force, or undefined when it has problems; absent where there are no files to read. */
  reload?: (reason: string) => ConfigSnapshot | undefined;
  /** Epoch ms the gateway started. */
  startedAt: number;
}
