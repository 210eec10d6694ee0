import { createHash } from "node:crypto";
import { lazyConstant } from "../lazy.ts";

/** A Lua script with the SHA-1 EVALSHA names it by. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

/**
 * The script, its SHA-1 computed when it is first asked for: hashing the dozen scripts as their
 * modules loaded was about 0.6 ms of every start, most of which never talk to Redis.
 */
export function lua(source: string): LuaScript {
  const sha = lazyConstant(() => createHash("sha1").update(source).digest("hex"));
  return Object.freeze({
    source,
    get sha() {
      return sha();
    },
  });
}
