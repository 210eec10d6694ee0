import type { Upstream } from "../config/snapshot.ts";
import { errorResponse, type ErrorFamily } from "../codecs/errors.ts";
import type { Logger } from "../log.ts";
import { ObservedLease, type RequestTrace } from "../observe/trace.ts";
import type { Failure, GatewayError } from "../failure.ts";
import type { AccountPool } from "../pool/pool.ts";
import type { Lease, Outcome, Unavailable } from "../pool/lease.ts";
import type { Affinity } from "../pool/affinity.ts";
import { scrubFailure } from "../scrub.ts";
import type { Deadlines } from "../deadlines.ts";
import { type CommitDeadline, type SilentStream, withinCommitDeadline } from "./commit-deadline.ts";
import { headerSafe, WARNING_HEADER } from "./server-tools.ts";
import { clipText } from "../clip.ts";

/*
 * One request against the pool: each target in turn (the mapping's fallbacks), each account of a
 * target at most once, up to the upstream's max_attempts, until an attempt commits or gives an
 * answer no other account would change.
 */

export type AttemptResult =
  /** The answer for the client; the attempt finishes its lease when the body ends. */
  | { kind: "committed"; response: Response }
  /**
   * No answer from this account. A "final" failure (400, 404, 413, …) is the client's to fix: it
   * goes to the client at once, and the account is not blamed.
   */
  | {
      kind: "failed";
      failure: Failure;
      /** How this failure reaches the client when another runner produced it (a fallback's). */
      respond?: TargetRunner["failureResponse"];
    };

/** One mapping target, ready to try on any account of its upstream. */
export interface TargetRunner {
  upstream: Upstream;
  model: string;
  attempt(lease: Lease): Promise<AttemptResult>;
  /** How a final failure, or one that exhausted the targets, reaches the client: its own dialect's error, or the upstream's body as it was. */
  failureResponse(failure: Failure, headers: Headers): Response;
  /** What this target leaves out of the request (a server tool it cannot run): the x-levity-warning of its answer. */
  warning?: string;
  /** Why this target cannot serve the request at all, known before any account is used: it is passed by. */
  refusal?: GatewayError;
}

export interface ServeContext {
  pool: AccountPool;
  log: Logger;
  family: ErrorFamily;
  requestId: string;
  affinity: Affinity;
  cooldownWaitMs: number;
  signal: AbortSignal;
  trace: RequestTrace;
  /** Headers that say where the answer came from (X-Mapped-Model, X-Upstream, X-Account). */
  routing(runner: TargetRunner, account: string, headers: Headers): void;
  /** For a stream: committed without content at the upstream's commit deadline (commit-deadline.ts). */
  silence?: { stream: SilentStream; deadlines: Deadlines };
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function describe(
  upstream: Upstream,
  model: string,
  info: Unavailable,
): { status: number; message: string; retryAfterMs?: number } {
  const name = `upstream "${upstream.name}"`;
  if (info.serving === 0) {
    return {
      status: 503,
      message: `No account of ${name} serves model "${model}" (see the models: lists of its accounts in gateway.yaml).`,
    };
  }
  if (info.cooling > 0) {
    const soonest = seconds(info.soonestMs ?? 1000);
    return {
      status: 429,
      // Not only rate limits cool an account: an upstream that cannot be reached, or fails, does
      // too, and the client should read which it was rather than guess a rate limit.
      message: `All usable accounts of ${name} are cooling down for "${model}" (${info.cooling} cooling${info.disabled.length ? `, ${info.disabled.length} disabled` : ""}); the soonest is free in ${soonest} s.${info.coolingBecause ? ` It cools because ${info.coolingBecause}.` : ""}`,
      retryAfterMs: info.soonestMs,
    };
  }
  if (info.busy > 0)
    return {
      status: 429,
      message: `Every account of ${name} is at its max_concurrency (${info.busy} busy).`,
      retryAfterMs: 1000,
    };
  const reasons = info.disabled.map((d) => `${d.name}: ${d.reason}`).join("; ");
  return {
    status: 503,
    message: `No usable account left for ${name}: ${reasons || "all were tried"}.`,
  };
}

/** Echo's simulated errors reach the client as the status asked for (401 stays 401), never as a disabled account. */
function isEcho(runner: TargetRunner): boolean {
  return runner.upstream.protocol === "echo";
}

/*
 * The one place the account's key is cleared from an upstream's words (upstreams quote the key
 * they refused): every failure of an attempt passes through here, before the pool keeps it, the
 * trace logs it or the client reads it. Those after the commit point reach the lease this wraps.
 */
/** Hands the lease's end on, and the trace's, with the account's key taken out of a failure's words. */
class KeyScrubbedLease extends ObservedLease {
  override finish(outcome: Outcome): void {
    super.finish(
      "failure" in outcome
        ? { ok: false, failure: scrubFailure(outcome.failure, this.inner.account.key) }
        : outcome,
    );
  }
}

/**
 * The commit deadline of one attempt, counted from the request's start, whichever attempt it is.
 * A class: every attempt of a stream made one, where an object of closures cost it three
 * functions, their scope and the account's "upstream/account" words before any were needed.
 */
class AttemptDeadline implements CommitDeadline {
  readonly stream: SilentStream;
  readonly deadlines: Deadlines;
  readonly remainingMs: number;
  readonly intervalMs: number;

  constructor(
    private readonly ctx: ServeContext,
    silence: NonNullable<ServeContext["silence"]>,
    started: number,
    private readonly runner: TargetRunner,
    private readonly lease: Lease,
  ) {
    this.stream = silence.stream;
    this.deadlines = silence.deadlines;
    this.remainingMs = started + runner.upstream.timeouts.commitDeadline - performance.now();
    this.intervalMs = runner.upstream.timeouts.keepAlive;
  }

  private where(): string {
    return `${this.runner.upstream.name}/${this.lease.account.name}`;
  }

  committed(): void {
    this.ctx.log.info(
      `request ${this.ctx.requestId}: no content from ${this.where()} within ${this.runner.upstream.timeouts.commitDeadline / 1000} s (timeouts.commit_deadline): the stream is committed, with keep-alives until content comes; no retry from here`,
    );
  }

  settle(failure: Failure, blame: boolean): Failure {
    const scrubbed = scrubFailure(failure, this.lease.account.key);
    const blamed = blame && scrubbed.kind !== "final" && !isEcho(this.runner);
    this.lease.finish(blamed ? { ok: false, failure: scrubbed } : { neutral: true });
    this.ctx.log.warn(
      `request ${this.ctx.requestId}: attempt on ${this.where()} failed after the commit deadline (${scrubbed.kind} ${scrubbed.status}: ${clipText(scrubbed.message, 200)}); the client gets an error event`,
    );
    return scrubbed;
  }

  abandon(): void {
    this.lease.finish({ neutral: true });
  }
}

function refused(runner: TargetRunner): boolean {
  return runner.refusal !== undefined;
}

function serving(runner: TargetRunner): boolean {
  return runner.refusal === undefined;
}

/**
 * The answer's routing headers and the trace's record of where it came from. A function, not a
 * closure each request made over its count of attempts.
 */
function decorate(
  ctx: ServeContext,
  attempts: number,
  response: Response,
  runner: TargetRunner,
  account: string,
): Response {
  ctx.trace.routed(
    runner.model,
    runner.upstream.name,
    account === "-" ? undefined : account,
    attempts,
  );
  ctx.routing(runner, account, response.headers);
  response.headers.set("x-attempts", String(attempts));
  // Set here, not by the runner: a stream committed early at its deadline has only these headers.
  if (runner.warning) response.headers.set(WARNING_HEADER, headerSafe(runner.warning));
  return response;
}

export async function serveWithPool(ctx: ServeContext, targets: TargetRunner[]): Promise<Response> {
  // A target that cannot serve the request at all is passed by; when none can, the first says why.
  // Most requests have no refusal: their targets as they are, not a copy.
  const runners = targets.some(refused) ? targets.filter(serving) : targets;
  if (runners.length === 0 && targets[0]?.refusal) throw targets[0].refusal;
  // The client has waited since its request came, whichever attempt is running: the deadline counts from here.
  const started = performance.now();
  let attempts = 0;
  let lastFailure:
    | {
        runner: TargetRunner;
        failure: Failure;
        account: string;
        /** Another runner's way to the client (a fallback's); else the runner's own. */
        respond: TargetRunner["failureResponse"] | undefined;
      }
    | undefined;
  let lastUnavailable: { runner: TargetRunner; info: Unavailable } | undefined;

  for (const runner of runners) {
    // Made at the first failure: only a second attempt has an account to pass by.
    let tried: Set<string> | undefined;
    for (let n = 0; n < runner.upstream.maxAttempts; n++) {
      // The usual case, an account free now, without a wait's promise (unless Redis must count it).
      const ready = ctx.pool.admitsLocally(runner.upstream)
        ? ctx.pool.tryAcquire(runner.upstream, runner.model, ctx.affinity, tried)
        : undefined;
      const acquired =
        ready?.kind === "lease"
          ? ready
          : await ctx.pool.acquire(
              runner.upstream,
              runner.model,
              ctx.affinity,
              tried,
              ctx.cooldownWaitMs,
              ctx.signal,
            );
      if (acquired.kind === "unavailable") {
        lastUnavailable = { runner, info: acquired };
        break;
      }
      const lease = new KeyScrubbedLease(acquired.lease, ctx.trace);
      attempts++;
      let result: AttemptResult;
      try {
        const pending = runner.attempt(lease);
        result = ctx.silence
          ? await withinCommitDeadline(
              pending,
              new AttemptDeadline(ctx, ctx.silence, started, runner, lease),
            )
          : await pending;
      } catch (error) {
        lease.finish({ neutral: true });
        throw error;
      }
      if (result.kind === "committed") {
        ctx.trace.commit(lease);
        return decorate(ctx, attempts, result.response, runner, lease.account.name);
      }
      const failure = scrubFailure(result.failure, lease.account.key);
      if (failure.kind === "final") {
        lease.finish({ neutral: true });
        // Called on its runner, not taken off it: a runner's failureResponse may be a method.
        const response = result.respond
          ? result.respond(failure, new Headers())
          : runner.failureResponse(failure, new Headers());
        return decorate(ctx, attempts, response, runner, lease.account.name);
      }
      // Echo fails only when asked to (echo-error-<status>): a rehearsal of the client's error
      // handling, which must leave echo serving the very next request.
      lease.finish(isEcho(runner) ? { neutral: true } : { ok: false, failure });
      tried ??= new Set();
      tried.add(lease.account.name);
      lastFailure = {
        runner,
        failure,
        account: lease.account.name,
        respond: result.respond,
      };
      ctx.log.warn(
        `request ${ctx.requestId}: attempt ${attempts} on ${runner.upstream.name}/${lease.account.name} failed (${failure.kind} ${failure.status}: ${clipText(failure.message, 200)})${n + 1 < runner.upstream.maxAttempts && tried.size < runner.upstream.accounts.length ? "; trying another account" : ""}`,
      );
    }
  }

  // Out of accounts and targets: the last thing that went wrong, in the client's own words.
  if (lastFailure?.failure.kind === "auth" && !isEcho(lastFailure.runner)) {
    // The upstream refused levity's account key, not the client's: never an upstream 401 the client would take as its own.
    const { runner, failure, account } = lastFailure;
    const message = `Upstream "${runner.upstream.name}" refused the key of its account "${account}" (${failure.status}: ${clipText(failure.message, 200)}); the account is disabled until its key in gateway.yaml changes, and no other account could serve.`;
    return decorate(
      ctx,
      attempts,
      errorResponse(ctx.family, 503, message, {}, ctx.requestId),
      runner,
      account,
    );
  }
  if (lastFailure) {
    const headers = new Headers();
    const cooling =
      lastUnavailable && lastUnavailable.info.cooling > 0
        ? lastUnavailable.info.soonestMs
        : undefined;
    const retryMs = cooling ?? lastFailure.failure.hintMs;
    if (retryMs !== undefined) headers.set("retry-after", String(seconds(retryMs)));
    const suffix = attempts > 1 ? ` (${attempts} attempts)` : "";
    const failure = { ...lastFailure.failure, message: lastFailure.failure.message + suffix };
    const response = lastFailure.respond
      ? lastFailure.respond(failure, headers)
      : lastFailure.runner.failureResponse(failure, headers);
    return decorate(ctx, attempts, response, lastFailure.runner, lastFailure.account);
  }
  const runner = lastUnavailable?.runner ?? runners[0]!;
  const info = lastUnavailable?.info ?? {
    cooling: 0,
    busy: 0,
    disabled: [],
    serving: runner.upstream.accounts.length,
    tried: 0,
  };
  const { status, message, retryAfterMs } = describe(runner.upstream, runner.model, info);
  const headers: Record<string, string> =
    retryAfterMs !== undefined ? { "retry-after": String(seconds(retryAfterMs)) } : {};
  return decorate(
    ctx,
    attempts,
    errorResponse(ctx.family, status, message, { headers }, ctx.requestId),
    runner,
    "-",
  );
}
