import type { SharedLink } from "../state/shared-link.ts";
import { lua } from "../state/lua-script.ts";
import { UnsentWrites } from "../state/unsent-writes.ts";
import type { SharedWrite } from "../state/store.ts";
import type { Affinity, AffinityKind, AffinityMemory } from "./affinity.ts";

/*
 * Sticky sessions and previous_response_id pins shared by every instance through Redis, so a
 * conversation stays on its account whichever instance answers. The pool's pick stays synchronous:
 * before it, the request's bindings are read with one script call into the local memory, which
 * the pick then reads; a binding the pick makes or changes is written without waiting. A pin is
 * written once its response is complete, so the answer waits for that write (pipeline/passthrough.ts):
 * the client may continue the response on another instance at once. When Redis is down or slow,
 * the local memory decides, as with one instance.
 */

/** A session's binding lives a day past its last use; a pin as long as a stored response. */
const TTL_SECONDS: Readonly<Record<AffinityKind, number>> = { session: 86_400, pin: 30 * 86_400 };

// Reads each binding and renews its time to live; "" for none (a nil would end Lua's array).
const RECALL = lua(`local found = {}
for i, key in ipairs(KEYS) do
  local account = redis.call('GET', key)
  if account then
    redis.call('EXPIRE', key, ARGV[i])
    found[i] = account
  else
    found[i] = ''
  end
end
return found`);

interface Wanted {
  kind: AffinityKind;
  upstream: string;
  id: string;
}

export class SharedAffinity {
  constructor(
    private readonly link: SharedLink,
    private readonly memory: AffinityMemory,
    private readonly prefix: string,
  ) {
    memory.onChange = (kind, upstream, id, account) => this.write(kind, upstream, id, account);
    this.writes = new UnsentWrites(link);
  }

  /**
   * The bindings' writes, and the pins Redis did not take, pushed when it is back: a pin never
   * changes, so pushing it late or twice is harmless. Past the last 1,000, the oldest are only
   * this instance's, which still writes one back when a request for its response reaches it
   * (recall). A session's binding that misses Redis stays this instance's.
   */
  private readonly writes: UnsentWrites;

  private key(kind: AffinityKind, upstream: string, id: string): string {
    return `${this.prefix}:${kind}:${upstream.length}:${upstream}:${id}`;
  }

  /**
   * Brings this request's bindings from Redis into the local memory, before the pick. A binding
   * only this instance knows (made while Redis was down) is written back.
   */
  async recall(affinity: Affinity, upstreams: { name: string; sticky: boolean }[]): Promise<void> {
    if (!this.link.up()) return;
    const wanted: Wanted[] = [];
    for (const upstream of upstreams) {
      if (affinity.session !== undefined && upstream.sticky)
        wanted.push({ kind: "session", upstream: upstream.name, id: affinity.session });
      if (affinity.previousResponseId !== undefined)
        wanted.push({ kind: "pin", upstream: upstream.name, id: affinity.previousResponseId });
    }
    if (wanted.length === 0) return;
    let found: unknown;
    try {
      found = await this.link.script(
        RECALL.source,
        RECALL.sha,
        wanted.map((w) => this.key(w.kind, w.upstream, w.id)),
        wanted.map((w) => String(TTL_SECONDS[w.kind])),
      );
    } catch {
      return; // The local memory decides.
    }
    if (!Array.isArray(found)) return;
    wanted.forEach((w, i) => {
      const account = found[i];
      if (typeof account === "string" && account !== "")
        this.memory.learn(w.kind, w.upstream, w.id, account);
      else {
        const local = this.memory.known(w.kind, w.upstream, w.id);
        if (local !== undefined) this.write(w.kind, w.upstream, w.id, local);
      }
    });
  }

  /**
   * Settled once Redis has it, or could not take it in the link's deadline; nothing while it is
   * down. A session's binding that misses Redis is only this instance's (it moves with the
   * conversation anyway); a pin's is pushed again when Redis is back.
   */
  private write(kind: AffinityKind, upstream: string, id: string, account: string): SharedWrite {
    const key = this.key(kind, upstream, id);
    const push = () => this.link.call("SET", [key, account, "EX", String(TTL_SECONDS[kind])]);
    return this.writes.send(push, kind === "pin");
  }
}
