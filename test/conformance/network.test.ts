import { describe, expect, test } from "bun:test";
import zlib from "node:zlib";
import {
  buildWire,
  deliverBody,
  planBody,
  type BodyKind,
  type NetworkProfile,
  type Wire,
} from "../support/network.ts";
import { mulberry32 } from "../support/prng.ts";

// The simulated network itself (support/network.ts): reproducible from its seed, and every body it
// delivers still valid in its dialect's wire format, or the matrix run through it would prove nothing.

const TEXT = "naïve café — 日本語 ✓ 🚀";
const ACCEPTS = "gzip, deflate, br, zstd";

/** A small answer of each kind, as the fakes write them, with multi-byte text so cuts can land inside characters. */
const EVENTS: Record<BodyKind, string[]> = {
  "openai-data": [
    ...TEXT.split(" ").map(
      (w) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: w } }] })}\n\n`,
    ),
    "data: [DONE]\n\n",
  ],
  "openai-typed": TEXT.split(" ").map(
    (w, i) =>
      `event: response.output_text.delta\ndata: ${JSON.stringify({ type: "response.output_text.delta", sequence_number: i, delta: w })}\n\n`,
  ),
  anthropic: [
    `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { id: "m" } })}\n\n`,
    ...TEXT.split(" ").map(
      (w) =>
        `event: content_block_delta\ndata: ${JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } })}\n\n`,
    ),
    `event: message_stop\ndata: {"type":"message_stop"}\n\n`,
  ],
  "gemini-sse": TEXT.split(" ").map(
    (w) =>
      `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: w }] } }] })}\r\n\r\n`,
  ),
  "gemini-array": TEXT.split(" ").map(
    (w, i, all) =>
      (i === 0 ? "[" : ",\r\n") +
      JSON.stringify({ candidates: [{ content: { parts: [{ text: w }] } }] }, null, 2) +
      (i === all.length - 1 ? "]" : ""),
  ),
  json: [JSON.stringify({ choices: [{ message: { content: TEXT } }] })],
};
const KINDS = Object.keys(EVENTS) as BodyKind[];
const SEEDS = Array.from({ length: 30 }, (_, i) => i * 7919 + 1);

async function wireFor(
  kind: BodyKind,
  seed: number,
  profile: NetworkProfile = { seed },
): Promise<Wire> {
  return buildWire(profile, planBody(profile, seed, kind, ACCEPTS), EVENTS[kind]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** What a reader decodes from the wire; without the end bytes, as much as the flushes made readable. */
function decoded(wire: Wire, withEnd: boolean): string {
  const bytes = concat([...wire.pieces.map((p) => p.bytes), ...(withEnd ? [wire.endBytes] : [])]);
  if (wire.plan.encoding === "gzip")
    return zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
  if (wire.plan.encoding === "br")
    return zlib
      .brotliDecompressSync(bytes, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH })
      .toString();
  return new TextDecoder().decode(bytes);
}

/** SSE by the spec: the events' names and data, comments skipped. */
function sse(text: string): { event?: string; data: string }[] {
  const out: { event?: string; data: string }[] = [];
  for (const block of text.split(/\r\n\r\n|\n\n/)) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r\n|\n/)) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      if (line.startsWith("data:")) data.push(line.slice(5).trim());
    }
    if (data.length > 0) out.push({ event, data: data.join("\n") });
  }
  return out;
}

test("mulberry32 repeats its sequence for a seed, and differs between seeds", () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const c = mulberry32(43);
  const first = Array.from({ length: 5 }, () => a());
  expect(Array.from({ length: 5 }, () => b())).toEqual(first);
  expect(Array.from({ length: 5 }, () => c())).not.toEqual(first);
  expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
});

describe.each(KINDS)("%s bodies", (kind) => {
  test("the same seed builds the same wire, byte for byte and pause for pause", async () => {
    for (const seed of SEEDS.slice(0, 8)) {
      const [one, two] = [await wireFor(kind, seed), await wireFor(kind, seed)];
      expect(two.pieces.map((p) => [Buffer.from(p.bytes).toString("hex"), p.pauseMs])).toEqual(
        one.pieces.map((p) => [Buffer.from(p.bytes).toString("hex"), p.pauseMs]),
      );
      expect(two.plan).toEqual(one.plan);
    }
  });

  test("the pieces decode to the plaintext, and to everything up to the final event even without the compressor's trailer", async () => {
    for (const seed of SEEDS) {
      const wire = await wireFor(kind, seed);
      expect(decoded(wire, true)).toBe(wire.text);
      const upToFinal = new TextDecoder().decode(
        new TextEncoder().encode(wire.text).subarray(0, wire.finalEnd),
      );
      expect(decoded(wire, false).startsWith(upToFinal)).toBe(true);
    }
  });

  test("the events survive: same data in the same order, only what the dialect allows added", async () => {
    for (const seed of SEEDS) {
      const wire = await wireFor(kind, seed);
      const beforeFinal = wire.text.slice(
        0,
        new TextDecoder().decode(new TextEncoder().encode(wire.text).subarray(0, wire.finalEnd))
          .length,
      );
      if (kind === "json" || kind === "gemini-array") {
        expect(beforeFinal).toBe(EVENTS[kind].join(""));
        continue;
      }
      const got = sse(beforeFinal).filter((e) => !(kind === "anthropic" && e.event === "ping"));
      const want = sse(EVENTS[kind].join(""));
      expect(got.map((e) => e.data)).toEqual(want.map((e) => e.data));
      if (kind === "openai-data")
        expect(got.every((e) => e.event === undefined || e.event === "message")).toBe(true);
      else if (kind === "gemini-sse") expect(wire.text).not.toContain("event:");
      else expect(got.map((e) => e.event)).toEqual(want.map((e) => e.event));
      // One line end throughout: the genai SDK splits events on \n\n or \r\n\r\n, not on a mix.
      expect(/\r\n/.test(wire.text) && /[^\r]\n/.test(wire.text)).toBe(false);
    }
  });
});

describe("across seeds, every kind of trouble happens", () => {
  test("cuts inside UTF-8 characters and between CR and LF, single-byte pieces, both compressions, every end, comments, pings and event lines", async () => {
    const seen = new Set<string>();
    for (const kind of KINDS) {
      for (const seed of SEEDS) {
        const wire = await wireFor(kind, seed);
        const { plan } = wire;
        seen.add(`encoding ${plan.encoding}`);
        seen.add(`${kind === "json" ? "whole" : "stream"} end ${plan.end.kind}`);
        if (plan.comments) seen.add("comments");
        if (plan.pings) seen.add(`pings in ${kind}`);
        if (plan.eventLines) seen.add(`event lines in ${kind}`);
        if (plan.trailing) seen.add("data after the final event");
        if (plan.noSpace) seen.add("no space after field colons");
        if (plan.encoding !== "identity") continue;
        const bytes = new TextEncoder().encode(wire.text);
        let at = 0;
        for (const piece of wire.pieces) {
          if (piece.bytes.length === 1) seen.add("one-byte piece");
          at += piece.bytes.length;
          if (at < bytes.length && (bytes[at]! & 0xc0) === 0x80)
            seen.add("cut inside a UTF-8 character");
          if (at < bytes.length && bytes[at - 1] === 13 && bytes[at] === 10)
            seen.add("cut between CR and LF");
        }
      }
    }
    for (const wanted of [
      "encoding identity",
      "encoding gzip",
      "encoding br",
      "stream end with-last",
      "stream end late",
      "stream end open",
      "whole end with-last",
      "whole end late",
      "comments",
      "pings in anthropic",
      "event lines in openai-data",
      "data after the final event",
      "no space after field colons",
      "one-byte piece",
      "cut inside a UTF-8 character",
      "cut between CR and LF",
    ]) {
      expect([...seen]).toContain(wanted);
    }
    // Only where the dialect allows them.
    expect(
      [...seen].filter((s) => s.startsWith("pings in") || s.startsWith("event lines in")).sort(),
    ).toEqual(["event lines in openai-data", "pings in anthropic"]);
    expect(seen.has("whole end open")).toBe(false);
  });

  test("a body is compressed only in an encoding the request accepts", () => {
    for (const seed of SEEDS) {
      expect(planBody({ seed }, seed, "openai-data", "").encoding).toBe("identity");
      expect(["identity", "gzip"]).toContain(
        planBody({ seed }, seed, "openai-data", "gzip").encoding,
      );
    }
  });
});

describe("delivered over HTTP", () => {
  /** A loopback server that answers once with this wire. */
  async function serveAndRead(
    wire: Wire,
    readUntil: string,
  ): Promise<{ text: string; released: Promise<string>; stop: () => void }> {
    let released!: Promise<string>;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        const delivery = deliverBody(Promise.resolve(wire), request.signal);
        released = delivery.released;
        const headers: Record<string, string> = { "content-type": "text/event-stream" };
        if (wire.plan.encoding !== "identity") headers["content-encoding"] = wire.plan.encoding;
        return new Response(delivery.body, { headers });
      },
    });
    const response = await fetch(`http://127.0.0.1:${server.port}/`);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes(readUntil)) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    return { text, released, stop: () => server.stop(true) };
  }

  test.each(["identity", "gzip", "br"] as const)(
    "a %s body kept open gives the reader everything up to its final event, and learns when the reader hangs up",
    async (encoding) => {
      const seed = SEEDS.find(
        (s) => planBody({ seed: s }, s, "openai-data", ACCEPTS).encoding === encoding,
      )!;
      const profile: NetworkProfile = { seed, end: { kind: "open" } };
      const wire = await buildWire(
        profile,
        planBody(profile, seed, "openai-data", ACCEPTS),
        EVENTS["openai-data"],
      );
      const { text, released, stop } = await serveAndRead(wire, "[DONE]");
      try {
        expect(text).toContain("[DONE]");
        expect(sse(text).map((e) => e.data)).toEqual(
          sse(EVENTS["openai-data"].join("")).map((e) => e.data),
        );
        expect(await released).toBe("hung-up");
      } finally {
        stop();
      }
    },
  );
});
