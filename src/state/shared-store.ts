import { lua } from "./lua-script.ts";
import type { SharedLink } from "./shared-link.ts";
import { UnsentWrites } from "./unsent-writes.ts";
import type { StateStore, StoredResponse, ToolCallState } from "./store.ts";

/*
 * Stored responses (previous_response_id) and tool-call state shared by every instance through
 * Redis. The local store (SQLite) stays the one the request path reads, synchronously: every save
 * is written to both, and the request that saved answers its client once Redis has it (or has
 * failed to take it in its deadline): a client answered on one instance may ask another at once.
 * A request that names a response or tool call this instance does not have first recalls it from
 * Redis with one script call. Response ids are random and a response never changes, so a local
 * copy is never stale. When Redis is down, the local store answers alone: what another instance
 * stored is then unknown here, as with one instance.
 */

export interface SharedStoreBounds {
  /** How long a response or tool call is kept after it is stored. */
  ttlMs: number;
  /** A response larger than this (its JSON) is kept only by the instance that made it. */
  maxResponseBytes: number;
  /** All responses together; past it the oldest go first, down to nine tenths. */
  maxTotalBytes: number;
}

export const SHARED_STORE_BOUNDS: Readonly<SharedStoreBounds> = {
  ttlMs: 30 * 86_400_000,
  maxResponseBytes: 8 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
};

// A chain longer than this is recalled in part: the rest is a runaway, as store.ts's MAX_CHAIN.
const RECALL_CHAIN_MAX = 10_000;
// Tool call ids a request may recall at once.
const RECALL_CALLS_MAX = 256;

/*
 * KEYS: the response's key, the index (sorted by time stored), the sizes (hash), the total.
 * ARGV: id, previous id or "", the record's JSON, ttl ms, now ms, max one, max total, key prefix.
 * Expired responses leave the index first; then the oldest, while over the bound. A response's
 * key is derived from its id here, so this script is for a single Redis, not a cluster.
 */
const SAVE = lua(`local size = string.len(ARGV[3])
if size > tonumber(ARGV[6]) then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'prev', ARGV[2], 'body', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], size)
local total = redis.call('INCRBY', KEYS[4], size)
local function drop(id)
  local n = tonumber(redis.call('HGET', KEYS[3], id) or '0')
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('DEL', ARGV[8] .. id)
  total = redis.call('DECRBY', KEYS[4], n)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, 100)) do
  drop(id)
end
local max = tonumber(ARGV[7])
if total > max then
  while total > max * 0.9 do
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
    if #oldest == 0 then break end
    drop(oldest[1])
  end
end
return 1`);

/*
 * KEYS: none. ARGV: the response key prefix, the first id or "", the most responses, the tool
 * call key prefix, then the call ids. Returns { the responses' bodies, newest first, {the calls'
 * states, "" where unknown} }.
 */
const RECALL = lua(`local bodies = {}
local id = ARGV[2]
local most = tonumber(ARGV[3])
while id ~= '' and #bodies < most do
  local found = redis.call('HMGET', ARGV[1] .. id, 'prev', 'body')
  if not found[2] then break end
  bodies[#bodies + 1] = found[2]
  id = found[1] or ''
end
local calls = {}
for i = 5, #ARGV do
  calls[#calls + 1] = redis.call('GET', ARGV[4] .. ARGV[i]) or ''
end
return { bodies, calls }`);

export function sharedStore(
  local: StateStore,
  link: SharedLink,
  prefix: string,
  bounds: SharedStoreBounds = SHARED_STORE_BOUNDS,
): StateStore {
  const responseKey = `${prefix}:response:`;
  const callKey = `${prefix}:toolcall:`;
  const index = `${prefix}:responses:index`;
  const sizes = `${prefix}:responses:sizes`;
  const total = `${prefix}:responses:bytes`;

  const recall = async (previousId: string | undefined, callIds: readonly string[]) => {
    const missing = callIds.filter((id) => !local.toolCall(id)).slice(0, RECALL_CALLS_MAX);
    const first = previousId !== undefined && !local.hasResponse(previousId) ? previousId : "";
    if ((first === "" && missing.length === 0) || !link.up()) return;
    let answer: unknown;
    try {
      answer = await link.script(
        RECALL.source,
        RECALL.sha,
        [],
        [responseKey, first, String(RECALL_CHAIN_MAX), callKey, ...missing],
      );
    } catch {
      return; // This instance's own store answers.
    }
    const [bodies, calls] = Array.isArray(answer) ? answer : [];
    // Oldest first, so each one's previous is there before it; a record that does not parse is skipped.
    for (const body of Array.isArray(bodies) ? [...bodies].reverse() : []) {
      const response = parsed<StoredResponse>(body);
      if (!response || typeof response.id !== "string" || local.hasResponse(response.id)) continue;
      try {
        local.saveResponse(response);
      } catch {
        // A local store that cannot take it (a full disk): the request finds it missing, as without Redis.
      }
    }
    if (Array.isArray(calls))
      calls.forEach((text, i) => {
        const state = parsed<ToolCallState>(text);
        if (state) local.saveToolCall(missing[i]!, state);
      });
  };

  // What was saved while Redis was down, or failed to reach it, is pushed when the link is back.
  // Pushing one again is harmless: a response is never overwritten (SAVE), and a tool call's
  // state is the same value. Past the last 1,000, the oldest are only this instance's.
  const writes = new UnsentWrites(link);

  return {
    saveResponse(response) {
      local.saveResponse(response);
      return writes.send(() =>
        link.script(
          SAVE.source,
          SAVE.sha,
          [responseKey + response.id, index, sizes, total],
          [
            response.id,
            response.previousId ?? "",
            JSON.stringify(response),
            String(bounds.ttlMs),
            String(Date.now()),
            String(bounds.maxResponseBytes),
            String(bounds.maxTotalBytes),
            responseKey,
          ],
        ),
      );
    },
    conversation: (id) => local.conversation(id),
    hasResponse: (id) => local.hasResponse(id),
    saveToolCall(callId, state) {
      local.saveToolCall(callId, state);
      const text = JSON.stringify(state);
      return writes.send(() =>
        link.call("SET", [callKey + callId, text, "PX", String(bounds.ttlMs)]),
      );
    },
    toolCall: (callId) => local.toolCall(callId),
    saveAccount: (record) => local.saveAccount(record),
    accounts: () => local.accounts(),
    recall,
    close: () => local.close(),
  };
}

function parsed<T>(text: unknown): T | undefined {
  if (typeof text !== "string" || text === "") return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
