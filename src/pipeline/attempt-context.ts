import type { Operation } from "../codecs/names.ts";
import type { ErrorFamily } from "../codecs/errors.ts";
import type { JsonObject } from "../codecs/json.ts";
import type { ProxySettings, Upstream } from "../config/snapshot.ts";

/**
 * What the runners read of the client's request. The request context http/ builds has all of it,
 * so it is passed as it is, never copied into another object; declaring only this keeps the
 * pipeline from depending on the layers above it.
 */
export interface AttemptContext {
  request: Request;
  url: URL;
  requestId: string;
  family: ErrorFamily;
  match: { route: { operation: Operation } };
  snapshot: {
    proxy: Pick<ProxySettings, "mediaFetch" | "requestLimits" | "serverTools">;
    /** Whether any upstream is sent a prompt_cache_key, so the session is hashed for one. */
    upstreams: readonly Pick<Upstream, "promptCache">[];
  };
  /** The parsed JSON body, for POST routes. */
  body?: { json: JsonObject; text: string };
  /** The conversation's session key, when the operation has hashed it already. */
  sessionKey?: string;
}
