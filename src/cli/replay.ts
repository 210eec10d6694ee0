import { adminFor, callAdmin, type AdminFlags } from "./admin-client.ts";
import { CliExit, type CliIO } from "./context.ts";

/*
 * `levity replay REQUEST_ID [--to UPSTREAM/MODEL | --account UPSTREAM/ACCOUNT] [--dry-run] [--diff]`:
 * asks the running gateway (POST /levity/replay/{id}) to send a logged request again, and prints
 * what it sent and what came back. The gateway does the work, through its own pipeline; this
 * only words the answer.
 */

export interface ReplayFlags extends AdminFlags {
  json?: boolean;
  to?: string;
  account?: string;
  dryRun?: boolean;
  diff?: boolean;
}

interface RequestView {
  upstream: string;
  account?: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
  bodyText?: string;
}

interface ReplayAnswer {
  original: {
    requestId: string;
    method: string;
    route: string;
    dialect: string;
    model: string;
    stream: boolean;
    status: number;
    upstream?: string;
    mappedModel?: string;
    account?: string;
  };
  target: { to: string; account?: string };
  dryRun: boolean;
  upstreamRequest: RequestView | null;
  /** A dry run levity would answer itself, without an upstream request. */
  refusal?: { status: number; message: string };
  replay?: {
    requestId: string;
    status: number;
    contentType: string;
    upstream?: string;
    account?: string;
    mappedModel?: string;
    attempts?: number;
    body: string;
  };
  diff?: {
    original: { source: string; request: RequestView | null };
    replay: { source: string; request: RequestView | null };
    text: string;
  };
}

function where(view: RequestView | null | undefined): string {
  if (!view) return "the echo upstream (inside levity)";
  return `${view.upstream}${view.account ? `, account ${view.account}` : ""}`;
}

/** The upstream request as it goes on the wire: request line, headers, a blank line, the body. */
export function formatRequest(view: RequestView): string {
  const headers = Object.entries(view.headers)
    .map(([name, value]) => `${name}: ${value}\n`)
    .join("");
  const body = view.body !== undefined ? JSON.stringify(view.body, null, 2) : (view.bodyText ?? "");
  return `${view.method} ${view.url}\n${headers}\n${body}\n`;
}

/** An answer's body: JSON pretty-printed, a stream's events as they came. */
function formatBody(body: string, contentType: string): string {
  if (contentType.includes("json"))
    try {
      return `${JSON.stringify(JSON.parse(body), null, 2)}\n`;
    } catch {
      // not JSON after all: as it is
    }
  return body.endsWith("\n") ? body : `${body}\n`;
}

function print(answer: ReplayAnswer, io: CliIO): void {
  const { original } = answer;
  const what = `${original.requestId} (${original.method} ${original.route}, ${original.dialect}, model ${original.model}${original.stream ? ", streamed" : ""})`;
  if (answer.dryRun && answer.refusal) {
    io.out(
      `Dry run of ${what} to ${answer.target.to}: levity would send nothing upstream and answer ${answer.refusal.status}: ${answer.refusal.message}\n`,
    );
  } else if (answer.dryRun) {
    io.out(
      `Dry run of ${what} to ${answer.target.to}: levity would send this to ${where(answer.upstreamRequest)}, and sent nothing.\n\n`,
    );
    io.out(
      answer.upstreamRequest
        ? formatRequest(answer.upstreamRequest)
        : "(no upstream request: the echo upstream answers inside levity)\n",
    );
  } else if (answer.replay) {
    const r = answer.replay;
    const attempts =
      r.attempts === undefined ? "" : `, ${r.attempts} attempt${r.attempts === 1 ? "" : "s"}`;
    const from = r.upstream
      ? ` from ${r.upstream}${r.account && r.account !== "-" ? `/${r.account}` : ""} (model ${r.mappedModel ?? "?"})`
      : "";
    io.out(`Replayed ${what} as ${r.requestId}: ${r.status}${from}${attempts}.\n\n`);
    io.out(formatBody(r.body, r.contentType));
  }
  if (answer.diff) {
    const { diff } = answer;
    io.out(
      `\n--- original: ${where(diff.original.request)} (computed now as levity would send it: the request log keeps the client's body, not the upstream's)\n`,
    );
    io.out(
      `+++ replay: ${where(diff.replay.request)} (${diff.replay.source === "sent" ? "as sent" : "dry run, not sent"})\n`,
    );
    io.out(diff.text);
  }
}

export async function replayCommand(
  id: string | undefined,
  flags: ReplayFlags,
  io: CliIO,
): Promise<void> {
  if (!id) {
    io.err(
      "levity replay: name the request to replay: levity replay REQUEST_ID [--to UPSTREAM/MODEL | --account UPSTREAM/ACCOUNT] [--dry-run] [--diff] (levity logs lists the ids)\n",
    );
    throw new CliExit(2);
  }
  const admin = adminFor(flags, io, "replay");
  const answer = (await callAdmin(admin, "POST", `/levity/replay/${encodeURIComponent(id)}`, io, {
    to: flags.to,
    account: flags.account,
    dryRun: flags.dryRun === true,
    diff: flags.diff === true,
  })) as ReplayAnswer;
  if (flags.json) io.out(`${JSON.stringify(answer)}\n`);
  else print(answer, io);
  // A replay the upstream (or levity) refused is a failure for a script that runs this.
  if (answer.replay && answer.replay.status >= 400) throw new CliExit(1);
}
