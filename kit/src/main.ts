import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Dialect, DIALECTS } from "./dialect.ts";
import { baseUrlOf, closeFakes, startFakes } from "./fakes/server.ts";
import { FixtureError, loadFixtures } from "./fixtures.ts";
import { cellText, type JsonReport, markdown, summary } from "./report.ts";
import { DEFAULT_MODELS, levityConfig } from "./recipes.ts";
import { runKit } from "./run.ts";

/*
 * cli-traffic-kit: replays recorded coding-CLI requests against a gateway in front of the kit's
 * own fake upstreams, and prints what passed and what did not. Runs on plain Node.
 */

export const VERSION = "0.1.0";

const HELP = `Usage: cli-traffic-kit --base-url URL [options]

Replays what Claude Code, Codex CLI, Gemini CLI and Kilo Code really sent (recorded sessions)
against the gateway at URL, once per upstream dialect, in front of the kit's own fake upstreams,
and checks what the gateway sent upstream and what it answered.

  --base-url URL              the gateway's origin, e.g. http://127.0.0.1:8045
  --key KEY                   the gateway's client key, put where each CLI put its key
                              (default sk-cli-traffic-kit)
  --fixtures DIR              the recorded sessions (default ./test/fixtures/cli-traffic, else
                              the ones the package carries)
  --upstream-port-base N      the fakes listen on N (Anthropic), N+1 (OpenAI Responses),
                              N+2 (OpenAI Chat, a chat-only provider), N+3 (Gemini);
                              default: ports the OS chooses, printed at the start
  --model DIALECT=NAME        the model name that reaches DIALECT's fake; defaults
                              anthropic=kit-anthropic, openai-responses=kit-openai,
                              openai-chat=kit-chat, gemini=kit-gemini
  --upstream-model DIALECT=NAME
                              the model the gateway should send to DIALECT's fake, where it
                              sends another name than the client gave (default: the same)
  --header DIALECT=NAME:VALUE add this header to every request while DIALECT's fake is under
                              test (a gateway that routes by header, such as Portkey)
  --dialect DIALECT           test only these upstream dialects (repeatable); the others are n/a
  --cli NAME, --session NAME  replay only these CLIs or sessions (repeatable)
  --timeout MS                time limit for each request (default 60000)
  --json                      print the results as JSON instead of the table
  --print-config levity       print the gateway.yaml and mappings.yaml that route the model
                              names to the fakes (with --upstream-port-base) and exit
  -h, --help                  this text

The gateway's operator routes each model name to its fake: kit-anthropic to the Anthropic fake at
http://127.0.0.1:N, kit-openai to the Responses fake at http://127.0.0.1:N+1/v1, kit-chat to the
chat fake at http://127.0.0.1:N+2/v1, kit-gemini to the Gemini fake at http://127.0.0.1:N+3.
Exit code: 0 when no case failed, 1 when one did, 2 for a usage error.`;

function usageError(message: string): never {
  console.error(`cli-traffic-kit: ${message}\n(--help says how to run it)`);
  process.exit(2);
}

function modelsFrom(flag: string, pairs: string[]): Partial<Record<Dialect, string>> {
  const models: Partial<Record<Dialect, string>> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    const dialect = pair.slice(0, at) as Dialect;
    const name = pair.slice(at + 1);
    if (at < 0 || !DIALECTS.includes(dialect) || !name)
      usageError(
        `--${flag} ${pair}: write DIALECT=NAME with DIALECT one of ${DIALECTS.join(", ")}`,
      );
    models[dialect] = name;
  }
  return models;
}

const OPTIONS = {
  "base-url": { type: "string" },
  key: { type: "string" },
  fixtures: { type: "string" },
  "upstream-port-base": { type: "string" },
  model: { type: "string", multiple: true },
  "upstream-model": { type: "string", multiple: true },
  dialect: { type: "string", multiple: true },
  header: { type: "string", multiple: true },
  cli: { type: "string", multiple: true },
  session: { type: "string", multiple: true },
  timeout: { type: "string" },
  json: { type: "boolean" },
  "print-config": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS }).values;
  } catch (error) {
    usageError((error as Error).message);
  }
}

/** The repository's recorded sessions when run in one, else the copy the package carries. */
function defaultFixtures(): string {
  const repository = resolve("test/fixtures/cli-traffic");
  if (existsSync(repository)) return repository;
  return join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");
}

export async function main(argv: string[]): Promise<number> {
  const values = parse(argv);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const models = { ...DEFAULT_MODELS, ...modelsFrom("model", values.model ?? []) };
  const upstreamModels = modelsFrom("upstream-model", values["upstream-model"] ?? []);
  const headers: Partial<Record<Dialect, Record<string, string>>> = {};
  for (const pair of values.header ?? []) {
    const match = /^([\w-]+)=([^:]+):(.*)$/.exec(pair);
    const dialect = match?.[1] as Dialect;
    if (!match || !DIALECTS.includes(dialect))
      usageError(`--header ${pair}: write DIALECT=NAME:VALUE`);
    headers[dialect] = { ...headers[dialect], [match[2]!.trim().toLowerCase()]: match[3]!.trim() };
  }
  const portBase = values["upstream-port-base"] ? Number(values["upstream-port-base"]) : undefined;
  if (portBase !== undefined && !(Number.isInteger(portBase) && portBase > 0 && portBase < 65530))
    usageError(`--upstream-port-base ${values["upstream-port-base"]} is not a port number`);
  if (values["print-config"] !== undefined) {
    if (values["print-config"] !== "levity") usageError("--print-config knows levity");
    if (!portBase) usageError("--print-config needs --upstream-port-base");
    const urls = Object.fromEntries(
      DIALECTS.map((d, i) => [
        d,
        `http://127.0.0.1:${portBase + i}${d.startsWith("openai") ? "/v1" : ""}`,
      ]),
    ) as Record<Dialect, string>;
    const config = levityConfig(urls, models);
    console.log(`# gateway.yaml\n${config.gateway}\n# mappings.yaml\n${config.mappings}`);
    return 0;
  }
  const timeoutMs = values.timeout ? Number(values.timeout) : 60_000;
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0))
    usageError(`--timeout ${values.timeout} is not a number of milliseconds`);
  const baseUrl = values["base-url"];
  if (!baseUrl) usageError("--base-url is required");
  const dialects = (values.dialect ?? DIALECTS) as Dialect[];
  for (const d of dialects)
    if (!DIALECTS.includes(d)) usageError(`--dialect ${d} is none of ${DIALECTS.join(", ")}`);
  const dir = values.fixtures ? resolve(values.fixtures) : defaultFixtures();
  let fixtures: ReturnType<typeof loadFixtures>;
  try {
    fixtures = loadFixtures(dir);
  } catch (error) {
    if (error instanceof FixtureError) usageError(error.message);
    usageError(`cannot read fixtures in ${dir}: ${(error as Error).message}`);
  }
  fixtures = fixtures.filter(
    (f) =>
      (!values.cli || values.cli.includes(f.cli)) &&
      (!values.session || values.session.includes(f.session)),
  );
  if (fixtures.length === 0) usageError(`no recorded sessions to replay in ${dir}`);
  const fakes = await startFakes(portBase).catch((error: Error) =>
    usageError(`cannot start the fakes: ${error.message}`),
  );
  console.error(`cli-traffic-kit ${VERSION}: ${fixtures.length} sessions against ${baseUrl}`);
  for (const d of DIALECTS)
    console.error(`  ${d} fake: ${baseUrlOf(fakes[d])}  model ${models[d]}`);
  try {
    const cells = await runKit({
      baseUrl,
      key: values.key ?? "sk-cli-traffic-kit",
      models,
      upstreamModels,
      headers,
      fakes,
      fixtures,
      dialects,
      timeoutMs,
      onCell: (cell) =>
        console.error(
          `  ${cell.cli} ${cell.version} ${cell.session} -> ${cell.upstream}: ${cellText(cell)}`,
        ),
    });
    if (values.json) {
      const report: JsonReport = {
        kit: VERSION,
        baseUrl,
        date: new Date().toISOString(),
        models,
        summary: summary(cells),
        results: cells,
      };
      console.log(JSON.stringify(report, null, 2));
    } else console.log(markdown(cells));
    return cells.some((c) => c.status === "fail") ? 1 : 0;
  } finally {
    await closeFakes(fakes);
  }
}
