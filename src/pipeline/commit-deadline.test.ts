import { describe, expect, test } from "bun:test";
import { Deadlines } from "../deadlines.ts";
import { type Failure, GatewayError } from "../failure.ts";
import { type CommitDeadline, silentStream, withinCommitDeadline } from "./commit-deadline.ts";
import type { AttemptResult } from "./serve.ts";

const PING = 'event: ping\ndata: {"type": "ping"}\n\n';
const OVERLOADED: Failure = { kind: "server", status: 529, message: "Overloaded" };

/** A promise and the functions that settle it. */
function later<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A deadline whose callbacks are recorded; `remainingMs` 0 commits at the next check. */
function deadline(remainingMs: number, intervalMs = 60_000) {
  const calls: string[] = [];
  const settled: { failure: Failure; blame: boolean }[] = [];
  const abandoned = later<void>();
  const d: CommitDeadline = {
    stream: silentStream("anthropic-messages", "anthropic", false),
    deadlines: new Deadlines(),
    remainingMs,
    intervalMs,
    committed: () => calls.push("committed"),
    settle(failure, blame) {
      settled.push({ failure, blame });
      return { ...failure, message: `${failure.message} (told)` };
    },
    abandon() {
      calls.push("abandoned");
      abandoned.resolve();
    },
  };
  return { d, calls, settled, abandoned: abandoned.promise };
}

const streamed = (text: string): AttemptResult => ({
  kind: "committed",
  response: new Response(text, { headers: { "content-type": "text/event-stream" } }),
});

describe("withinCommitDeadline", () => {
  test("an attempt that settles in time is passed on as it is", async () => {
    const { d, calls } = deadline(60_000);
    const result = streamed("data");
    expect(await withinCommitDeadline(Promise.resolve(result), d)).toBe(result);
    const failed: AttemptResult = { kind: "failed", failure: OVERLOADED };
    expect(await withinCommitDeadline(Promise.resolve(failed), d)).toBe(failed);
    expect(calls).toEqual([]);
  });

  test("an attempt that throws in time throws", async () => {
    const { d } = deadline(60_000);
    const thrown = new GatewayError(400, "bad");
    await expect(withinCommitDeadline(Promise.reject(thrown), d)).rejects.toBe(thrown);
  });

  test("past the deadline: a 200 stream of keep-alives, then the answer's own bytes", async () => {
    const { d, calls, settled } = deadline(0, 1);
    const pending = later<AttemptResult>();
    const result = await withinCommitDeadline(pending.promise, d);
    expect(result.kind).toBe("committed");
    const response = (result as Extract<AttemptResult, { kind: "committed" }>).response;
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(calls).toEqual(["committed"]);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    // Keep-alives keep coming while the attempt waits.
    while (text.length < PING.length * 3) text += decoder.decode((await reader.read()).value);
    pending.resolve(streamed("event: message_start\n\n"));
    for (;;) {
      const read = await reader.read();
      if (read.done) break;
      text += decoder.decode(read.value);
    }
    const pings = text.split(PING);
    expect(pings.slice(0, -1).every((p) => p === "")).toBe(true);
    expect(pings.length - 1).toBeGreaterThanOrEqual(3);
    expect(pings.at(-1)).toBe("event: message_start\n\n");
    expect(settled).toEqual([]);
  });

  test("a failure after the commit is the dialect's error event, told as settle says, and blamed", async () => {
    const { d, settled } = deadline(0);
    const pending = later<AttemptResult>();
    const result = await withinCommitDeadline(pending.promise, d);
    pending.resolve({ kind: "failed", failure: OVERLOADED });
    const text = await (result as Extract<AttemptResult, { kind: "committed" }>).response.text();
    expect(text).toBe(
      `${PING}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded (told)"}}\n\n`,
    );
    expect(settled).toEqual([{ failure: OVERLOADED, blame: true }]);
  });

  test("an attempt that throws after the commit is an error event, and not blamed", async () => {
    const { d, settled } = deadline(0);
    const pending = later<AttemptResult>();
    const result = await withinCommitDeadline(pending.promise, d);
    pending.reject(new GatewayError(499, "The client closed the request."));
    const text = await (result as Extract<AttemptResult, { kind: "committed" }>).response.text();
    expect(text.startsWith(`${PING}event: error\n`)).toBe(true);
    expect(settled.map((s) => [s.failure.status, s.blame])).toEqual([[499, false]]);
  });

  test("a client that leaves before the answer: a failure is abandoned, an answer's body cancelled", async () => {
    const first = deadline(0);
    const failing = later<AttemptResult>();
    const a = await withinCommitDeadline(failing.promise, first.d);
    await (a as Extract<AttemptResult, { kind: "committed" }>).response.body!.cancel();
    failing.resolve({ kind: "failed", failure: OVERLOADED });
    await first.abandoned;
    expect(first.calls).toEqual(["committed", "abandoned"]);
    expect(first.settled).toEqual([]);

    const second = deadline(0);
    const answering = later<AttemptResult>();
    const b = await withinCommitDeadline(answering.promise, second.d);
    await (b as Extract<AttemptResult, { kind: "committed" }>).response.body!.cancel();
    const cancelled = later<void>();
    answering.resolve({
      kind: "committed",
      response: new Response(new ReadableStream({ cancel: () => cancelled.resolve() })),
    });
    await cancelled.promise;
    expect(second.calls).toEqual(["committed"]);
  });

  test("a Gemini JSON array: whitespace keep-alives, and an error that is the whole array", async () => {
    const { d } = deadline(0);
    d.stream = silentStream("gemini", "gemini", true);
    const pending = later<AttemptResult>();
    const result = await withinCommitDeadline(pending.promise, d);
    const response = (result as Extract<AttemptResult, { kind: "committed" }>).response;
    expect(response.headers.get("content-type")).toBe("application/json");
    pending.resolve({ kind: "failed", failure: { kind: "server", status: 503, message: "busy" } });
    const text = await response.text();
    expect(JSON.parse(text)).toEqual([
      { error: { code: 503, message: "busy (told)", status: "UNAVAILABLE" } },
    ]);
    expect(text.startsWith("\n[")).toBe(true);
  });
});
