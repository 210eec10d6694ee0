import { FAMILIES } from "../codecs/families.ts";
import { networkInterfaces } from "node:os";
import { tildify, type ConfigDirChoice } from "../config/locate.ts";
import { describeOpenAIServing } from "../config/describe.ts";
import type { ConfigSnapshot } from "../config/snapshot.ts";
import { ACCEPTED_PLACEMENTS } from "../http/auth.ts";
import { redactedUrl } from "../state/shared-link.ts";
import { VERSION } from "../version.ts";
import { commandLine, invocation, shellWord, type Invocation } from "./invocation.ts";

/** `npx bun src/main.ts init` in a checkout, `levity init` from the executable. */
function initHint(how: Invocation, home: string | undefined): string {
  return `${how.cd ? `cd ${shellWord(tildify(how.cd, home))} && ` : ""}${commandLine(how, "init")}`;
}

/** Where this machine can be reached from the LAN, for the Base URLs of a LAN-wide gateway. */
function lanAddresses(): string[] {
  const out: string[] = [];
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? [])
      if (address.family === "IPv4" && !address.internal) out.push(address.address);
  }
  return out;
}

function authLine(snapshot: ConfigSnapshot, made: number): string {
  const { authMode, effectiveAuth, allowLanAccess, clientKeys } = snapshot.proxy;
  const why =
    authMode === "auto"
      ? ` (auth_mode auto, ${allowLanAccess ? "because allow_lan_access is true" : "because only this machine can connect"})`
      : "";
  if (effectiveAuth === "off") return `off${why}: clients need no key`;
  const plural = (n: number) => `${n} client key${n === 1 ? "" : "s"}`;
  const keys =
    made > 0
      ? `${plural(clientKeys.length)} in gateway.yaml and ${made} made with levity keys add`
      : plural(clientKeys.length);
  const open =
    effectiveAuth === "all_except_health"
      ? "; /healthz and /health are open"
      : "; every path needs it";
  return `${effectiveAuth}${why}: ${keys}, sent as ${ACCEPTED_PLACEMENTS}${open}`;
}

/**
 * Which directory the configuration came from, why, and which of its files were read: the
 * answer to "is levity using the file I just edited?". Shared with `levity check`.
 */
export function configLine(snapshot: ConfigSnapshot, choice: ConfigDirChoice): string {
  const { sources } = snapshot;
  if (!sources.dir) return `built-in defaults (${choice.reason})`;
  const files = [
    sources.gateway ? "gateway.yaml" : undefined,
    sources.mappings.startsWith("built-in") ? undefined : "mappings.yaml",
    sources.routes.startsWith("built-in") ? undefined : "routes.yaml",
  ].filter(Boolean);
  return `${tildify(sources.dir, choice.home)} (${choice.reason}): ${files.length > 0 ? files.join(", ") : "no files; built-in defaults"}`;
}

/** Other directories that hold configuration and lose to the chosen one, so a file edited there is not a mystery. */
export function passedOverLine(choice: ConfigDirChoice): string | undefined {
  if (!choice.passedOver?.length) return undefined;
  return `not used: ${choice.passedOver.map((dir) => tildify(dir, choice.home)).join(", ")} (later in the lookup; see --help)`;
}

export function startupBlock(
  snapshot: ConfigSnapshot,
  choice: ConfigDirChoice,
  /** sharedUp: whether shared state (state: in gateway.yaml) answered at start. */
  bound: { hostname: string; port: number; madeKeys?: () => number; sharedUp?: boolean },
  how: Invocation = invocation({ cwd: process.cwd(), env: process.env }),
): string {
  const { port } = bound;
  const hosts = bound.hostname === "0.0.0.0" ? ["127.0.0.1", ...lanAddresses()] : [bound.hostname];
  const lines = [
    `levity ${VERSION} listening on http://${bound.hostname}:${port}${bound.hostname === "0.0.0.0" ? " (all interfaces: the LAN can reach it)" : " (this machine only)"}`,
  ];
  lines.push(`  config     ${configLine(snapshot, choice)}`);
  const passedOver = passedOverLine(choice);
  if (passedOver) lines.push(`             ${passedOver}`);
  lines.push(`  data       ${tildify(snapshot.proxy.dataDir, choice.home)}`);
  if (snapshot.state)
    lines.push(
      `  state      ${redactedUrl(snapshot.state.url)} ${bound.sharedUp ? "(shared)" : "(unreachable: own state until it answers)"}`,
    );
  const logUrl = snapshot.proxy.requestLog.url;
  if (logUrl)
    lines.push(
      `  log        the request log on PostgreSQL, ${redactedUrl(logUrl)}: shared by every instance; while it is away, records wait in memory (up to ${snapshot.proxy.requestLog.bufferRecords})`,
    );
  lines.push(`  auth       ${authLine(snapshot, bound.madeKeys?.() ?? 0)}`);
  const upstreamLines = snapshot.upstreams.map((u) => {
    if (u.protocol === "echo") {
      const why = snapshot.builtInEcho
        ? `; no upstreams configured yet: \`${initHint(how, choice.home)}\` writes a gateway.yaml to add accounts to`
        : "";
      return `${u.name}: built-in echo, answers with your last message, no key needed${why}`;
    }
    const accounts = `${u.accounts.length} account${u.accounts.length === 1 ? "" : "s"}`;
    const family = describeOpenAIServing(u);
    return `${u.name}: ${u.protocol} at ${u.baseUrl}, ${accounts}${u.baseUrlNote ? ` (base_url ${u.baseUrlNote})` : ""}${family ? `\n             ${family}` : ""}`;
  });
  upstreamLines.forEach((line, i) => {
    lines.push(`  ${i === 0 ? "upstreams " : "          "} ${line}`);
  });
  const rules =
    snapshot.mappings.exact.size +
    snapshot.mappings.wildcards.length +
    (snapshot.mappings.fallback ? 1 : 0);
  lines.push(
    `  mappings   ${rules} rule${rules === 1 ? "" : "s"} from ${tildify(snapshot.sources.mappings, choice.home)}${rules === 0 ? `; models go unchanged to ${snapshot.upstreams[0]?.name}` : ""}`,
  );
  lines.push("  Base URLs");
  for (const host of hosts) {
    const origin = `http://${host}:${port}`;
    lines.push(
      `    OpenAI SDKs, Codex CLI, Kilo Code (OpenAI)   ${origin}${FAMILIES.openai.clientBasePath}`,
    );
    lines.push(
      `    Anthropic SDKs, Claude Code                  ${origin}${FAMILIES.anthropic.clientBasePath}`,
    );
    lines.push(
      `    Gemini SDKs, Gemini CLI                      ${origin}${FAMILIES.gemini.clientBasePath}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
