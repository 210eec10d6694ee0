import type { ConfigSnapshot, Upstream } from "../config/snapshot.ts";
import {
  type OpenedText,
  type OpenedUpstream,
  UpstreamClient,
  type UpstreamCall,
} from "../upstream/forward.ts";
import { RUNTIME_DECODES } from "../upstream/whole-body.ts";

/*
 * What a replay shows of the upstream request: the call as levity makes it (method, URL, headers,
 * body), with every secret masked. Two clients stand in for the gateway's own: one that keeps the
 * call and sends nothing (a dry run), one that keeps the call and sends it (a replay whose --diff
 * shows what was really sent).
 */

export interface UpstreamRequestView {
  upstream: string;
  /** The account whose key the call carried (by name). */
  account?: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The JSON body as an object; `bodyText` when it is not JSON. */
  body?: unknown;
  bodyText?: string;
}

export const MASKED = "[masked]";

/** Header names that carry a credential, whoever's; any other header whose value holds a key is masked too. */
const SECRET_HEADER =
  /^(authorization|proxy-authorization|x-api-key|api-key|x-goog-api-key|cookie)$|key|token|secret|auth|signature|credential|password/i;
/** Query parameters that carry one (Gemini's `?key=`, signed URLs). */
const SECRET_PARAM = /key|token|secret|sig|auth|credential|password/i;

/** Every account key of the configuration (shorter ones are placeholders such as "ollama", not secrets). */
export function accountKeys(snapshot: ConfigSnapshot): string[] {
  return snapshot.upstreams
    .flatMap((upstream) => upstream.accounts.map((account) => account.key))
    .filter((key) => key.length >= 8);
}

/** `text` with every one of `secrets` replaced by the mask, longest first (a key inside another goes whole). */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length))
    if (out.includes(secret)) out = out.split(secret).join(MASKED);
  return out;
}

function maskedUrl(raw: string, secrets: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return maskSecrets(raw, secrets);
  }
  let changed = false;
  for (const name of [...url.searchParams.keys()])
    if (SECRET_PARAM.test(name)) {
      url.searchParams.set(name, MASKED);
      changed = true;
    }
  if (url.username || url.password) {
    url.username = url.username && MASKED;
    url.password = url.password && MASKED;
    changed = true;
  }
  return maskSecrets(changed ? url.toString() : raw, secrets);
}

/** The call as a person may read it: no key, token or secret left in it. */
export function viewOf(call: UpstreamCall, secrets: readonly string[]): UpstreamRequestView {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(call.headers))
    headers[name] = SECRET_HEADER.test(name) ? MASKED : maskSecrets(value, secrets);
  const text = typeof call.body === "string" ? maskSecrets(call.body, secrets) : undefined;
  const view: UpstreamRequestView = {
    upstream: call.upstream.name,
    account: accountOf(call.upstream, call.headers),
    method: call.method ?? "POST",
    url: maskedUrl(call.url, secrets),
    headers,
  };
  if (text === undefined) view.bodyText = `(${call.body.constructor.name} body, not shown)`;
  else
    try {
      view.body = JSON.parse(text);
    } catch {
      view.bodyText = text;
    }
  return view;
}

/** Which account's key the call carries: the one whose key is in a header. */
function accountOf(
  upstream: Upstream,
  headers: Readonly<Record<string, string>>,
): string | undefined {
  const values = Object.values(headers);
  return upstream.accounts.find((account) => values.some((value) => value.includes(account.key)))
    ?.name;
}

/**
 * A dry run's client: it keeps the first call and answers it, and any after it, with a 400 that
 * no runner retries and no account is blamed for, so the pipeline ends there having sent nothing.
 */
export class DryRunClient extends UpstreamClient {
  calls: UpstreamCall[] = [];

  constructor() {
    super({});
  }

  override open(call: UpstreamCall & { answerAsText: true }): Promise<OpenedText>;
  override open(call: UpstreamCall): Promise<OpenedUpstream>;
  override async open(call: UpstreamCall): Promise<OpenedUpstream> {
    // As the real client sets it, so the headers shown are the headers sent.
    call.headers["accept-encoding"] = call.stream || RUNTIME_DECODES ? "identity" : "gzip";
    this.calls.push(call);
    const text = JSON.stringify({
      error: { message: "levity replay --dry-run: not sent", type: "invalid_request_error" },
    });
    const response = new Response(text, {
      status: 400,
      headers: { "content-type": "application/json" },
    });
    return call.answerAsText ? { response, text } : { response };
  }
}

/** A replay's client: each call kept, then made by the gateway's own client. */
export class RecordingClient extends UpstreamClient {
  calls: UpstreamCall[] = [];

  constructor(private readonly inner: UpstreamClient) {
    super({});
  }

  override open(call: UpstreamCall & { answerAsText: true }): Promise<OpenedText>;
  override open(call: UpstreamCall): Promise<OpenedUpstream>;
  override open(call: UpstreamCall): Promise<OpenedText> {
    this.calls.push(call);
    return this.inner.open(call);
  }
}
