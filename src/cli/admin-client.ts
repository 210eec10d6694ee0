import { errorMessageOf } from "../observe/trace.ts";
import { CliExit, loadForCommand, type CliIO, type CommonFlags } from "./context.ts";

/*
 * The commands that talk to a running gateway (accounts, logs) do it through its admin surface,
 * so what they print is live and they work against a gateway on another machine too.
 */

export interface AdminFlags extends CommonFlags {
  url?: string;
}

export interface Admin {
  /** The command, for messages: "accounts", "logs". */
  command: string;
  origin: string;
  key?: string;
}

/** Where the gateway listens and the key that opens its admin surface: the flags, then $LEVITY_ADMIN_KEY, then gateway.yaml. */
export function adminFor(flags: AdminFlags, io: CliIO, command: string): Admin {
  const { snapshot } = loadForCommand(flags, io);
  const key = io.env.LEVITY_ADMIN_KEY || snapshot.proxy.adminKeys[0]?.key;
  if (flags.url) return { command, origin: flags.url.replace(/\/+$/, ""), key };
  // A gateway bound to every interface still answers on loopback.
  const host = snapshot.proxy.hostname === "0.0.0.0" ? "127.0.0.1" : snapshot.proxy.hostname;
  return { command, origin: `http://${host}:${snapshot.proxy.port}`, key };
}

export async function callAdmin(admin: Admin, method: string, path: string, io: CliIO, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${admin.origin}${path}`, {
      method,
      headers: { ...(admin.key ? { authorization: `Bearer ${admin.key}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    io.err(`levity ${admin.command}: no gateway answers at ${admin.origin} (${(error as Error).message}). Is it running? Point at it with --port N or --url URL.\n`);
    throw new CliExit(1);
  }
  if (response.status === 401 || response.status === 403) {
    io.err(`levity ${admin.command}: the gateway at ${admin.origin} refused the admin key (${response.status}). It reads proxy.admin_key (else proxy.api_key) from gateway.yaml; set LEVITY_ADMIN_KEY to use another.\n`);
    throw new CliExit(1);
  }
  const text = await response.text();
  if (!response.ok) {
    io.err(`levity ${admin.command}: ${admin.origin}${path} answered ${response.status}: ${errorMessageOf(text).slice(0, 300)}\n`);
    throw new CliExit(1);
  }
  try {
    return JSON.parse(text);
  } catch {
    io.err(`levity ${admin.command}: ${admin.origin} is not a levity gateway (its answer is not JSON).\n`);
    throw new CliExit(1);
  }
}
