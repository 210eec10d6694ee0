import { createHash } from "node:crypto";

/** A Lua script with the SHA-1 EVALSHA names it by, computed once at load. */
export interface LuaScript {
  source: string;
  sha: string;
}

export function lua(source: string): LuaScript {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}
