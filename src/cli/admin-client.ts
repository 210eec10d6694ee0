import { loadAdminSettings, type AdminField, type AdminSettings } from "../config/load.ts";
import { formatProblem, type ConfigProblem } from "../config/problem.ts";
import { errorMessageOf } from "../observe/trace.ts";
import { chooseConfigDir, CliExit, type CliIO, type CommonFlags } from "./context.ts";

/*
 * The commands that talk to a running gateway (accounts, logs) do it through its admin surface,
 * so what they print is live and they work against a gateway on another machine too. They need
 * the gateway's address and its admin key, nothing else: an upstream's key kept only in the
 * service's environment file must not stop them.
 */

export interface AdminFlags extends CommonFlags {
  url?: string;
}

export interface Admin {
  /** The command, for messages: "accounts", "logs". */
  command: string;
  origin: string;
  /** Given with --url: the gateway may be on another machine. */
  explicitUrl: boolean;
  key?: string;
  /** Where the key came from, or why none was sent: for the message when the gateway refuses. */
  keyNote: string;
  settings: AdminSettings;
}

function printProblems(command: string, problems: ConfigProblem[], io: CliIO): never {
  io.err(
    `levity ${command}: gateway.yaml has ${problems.length === 1 ? "a problem" : `${problems.length} problems`} in what this command needs:\n`,
  );
  for (const problem of problems) io.err(`  ${formatProblem(problem)}\n`);
  throw new CliExit(1);
}

/** Why no admin key was sent, in words that say how to send one. */
function missingKeyNote(field: AdminField<string>, settings: AdminSettings): string {
  if (field.unset)
    return `${field.from} is written with an environment variable that is not set here (${field.unset.message.replace(/^environment variable /, "")})`;
  if (!settings.gateway) return "no gateway.yaml was found (give its directory with --config DIR)";
  return `${settings.gateway} names no proxy.admin_key (client keys never open the admin surface; levity init writes an admin_key)`;
}

/** Where the gateway listens and the key that opens its admin surface: the flags, then $LEVITY_ADMIN_KEY, then gateway.yaml. */
export function adminFor(flags: AdminFlags, io: CliIO, command: string): Admin {
  const choice = chooseConfigDir(flags, io);
  const settings = loadAdminSettings({ dir: choice.dir, env: io.env, port: flags.port });
  const envKey = io.env.LEVITY_ADMIN_KEY || undefined;
  // Only what this run uses is checked: a port given with --url, a key given in the environment, need nothing from the file.
  const needed: ConfigProblem[] = [];
  if (!flags.url) needed.push(...settings.port.problems);
  if (!envKey) needed.push(...settings.adminKey.problems);
  // A file that does not parse gives neither, so it matters unless both came from elsewhere.
  if (!flags.url || !envKey) needed.unshift(...settings.problems);
  if (needed.length > 0) printProblems(command, needed, io);

  let origin: string;
  if (flags.url) origin = flags.url.replace(/\/+$/, "");
  else if (settings.port.value !== undefined)
    origin = `http://127.0.0.1:${settings.port.value}`; // a gateway on every interface answers on loopback too
  else {
    const why = settings.port.unset ? formatProblem(settings.port.unset) : "the port is unknown";
    io.err(
      `levity ${command}: ${why}; give the gateway's port with --port N or its address with --url URL\n`,
    );
    throw new CliExit(1);
  }
  const key = envKey ?? settings.adminKey.value;
  const keyNote = envKey
    ? "the key in $LEVITY_ADMIN_KEY"
    : key
      ? `the key in ${settings.adminKey.from}`
      : missingKeyNote(settings.adminKey, settings);
  return { command, origin, explicitUrl: flags.url !== undefined, key, keyNote, settings };
}

export type AdminAnswer = { ok: true; value: unknown } | { ok: false; unreachable: string };

/** One admin call; a gateway that does not answer at all is the caller's to handle (logs reads the file instead). */
export async function requestAdmin(
  admin: Admin,
  method: string,
  path: string,
  io: CliIO,
  body?: unknown,
): Promise<AdminAnswer> {
  let response: Response;
  try {
    response = await fetch(`${admin.origin}${path}`, {
      method,
      headers: {
        ...(admin.key ? { authorization: `Bearer ${admin.key}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    return { ok: false, unreachable: (error as Error).message };
  }
  if (response.status === 401 || response.status === 403) {
    // The gateway's own words say why (no admin key configured, not this machine, …); ours say what was sent.
    const said = errorMessageOf(await response.text()).slice(0, 400);
    if (!admin.key) {
      io.err(
        `levity ${admin.command}: the gateway at ${admin.origin} wants an admin key (${response.status}), and none was sent: ${admin.keyNote}. ` +
          "Give one with LEVITY_ADMIN_KEY=... (the gateway's proxy.admin_key), or point --config at the directory of the gateway.yaml that holds it.\n",
      );
    } else {
      io.err(
        `levity ${admin.command}: the gateway at ${admin.origin} refused the admin key (${response.status}) sent from ${admin.keyNote.replace(/^the key in /, "")}. ` +
          "It takes proxy.admin_key of the gateway.yaml it runs with; set LEVITY_ADMIN_KEY to send another.\n",
      );
    }
    if (said) io.err(`  the gateway said: ${said}\n`);
    throw new CliExit(1);
  }
  const text = await response.text();
  if (!response.ok) {
    io.err(
      `levity ${admin.command}: ${admin.origin}${path} answered ${response.status}: ${errorMessageOf(text).slice(0, 300)}\n`,
    );
    throw new CliExit(1);
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    io.err(
      `levity ${admin.command}: ${admin.origin} is not a levity gateway (its answer is not JSON).\n`,
    );
    throw new CliExit(1);
  }
}

export function unreachableMessage(admin: Admin, reason: string): string {
  return `levity ${admin.command}: no gateway answers at ${admin.origin} (${reason}). Is it running? Point at it with --port N or --url URL.\n`;
}

export async function callAdmin(
  admin: Admin,
  method: string,
  path: string,
  io: CliIO,
  body?: unknown,
): Promise<unknown> {
  const answer = await requestAdmin(admin, method, path, io, body);
  if (answer.ok) return answer.value;
  io.err(unreachableMessage(admin, answer.unreachable));
  throw new CliExit(1);
}
