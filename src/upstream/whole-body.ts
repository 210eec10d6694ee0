import type { InputType, ZlibOptions } from "node:zlib";
import { broken } from "../failure.ts";
import { inMb, overLimit } from "../upstream-limits.ts";

/*
 * A whole (non-stream) answer read under a limit on its size after decoding. levity asks for gzip
 * and decompresses itself (fetch's own decompression has no limit: a 1 MB gzip body became 1 GiB),
 * off the event loop and with a cap on the output, so a compression bomb costs at most the cap.
 */

type Inflate = (
  buffer: InputType,
  options: ZlibOptions,
  callback: (error: Error | null, result: Buffer) => void,
) => void;

/**
 * The decoder for an encoding levity can undo; undefined for anything else. node:zlib loads with
 * the first compressed answer, not at start: each runtime module loaded is resident for good.
 */
async function decoderFor(encoding: string): Promise<Inflate | undefined> {
  const kind = decoderKind(encoding);
  if (!kind) return undefined;
  const zlib = await import("node:zlib");
  if (kind === "brotli") return zlib.brotliDecompress as Inflate;
  // zstd where the runtime has it (read off the namespace: a missing named export fails to load).
  if (kind === "zstd") return (zlib as { zstdDecompress?: Inflate }).zstdDecompress;
  return zlib.unzip;
}

/**
 * Bun's fetch hands over the bytes as sent when asked (decompress: false); Deno's decodes them
 * itself whatever levity says, so there the body is already plain and only its size is checked.
 */
export const RUNTIME_DECODES = typeof (globalThis as { Bun?: unknown }).Bun === "undefined";

/**
 * Which of node:zlib's decoders undoes an encoding (zstd only where the runtime has it), for a
 * whole answer and a stream alike; undefined for one levity cannot undo. Compared by name, never
 * looked up in an object: "constructor" was once a decoder there, one that never called back,
 * and the answer waited for good.
 */
export function decoderKind(encoding: string): "unzip" | "brotli" | "zstd" | undefined {
  // unzip takes gzip and zlib-wrapped deflate alike (servers send either for "deflate").
  if (encoding === "gzip" || encoding === "x-gzip" || encoding === "deflate") return "unzip";
  if (encoding === "br") return "brotli";
  if (encoding === "zstd") return "zstd";
  return undefined;
}

export function contentEncoding(headers: Headers): string {
  return (headers.get("content-encoding") ?? "").trim().toLowerCase() || "identity";
}

/**
 * An answer of a declared length, sent as it is and within the limit: read natively in one piece
 * (HTTP framing holds it to that length) without its body ever being made a stream, which with
 * readWholeBody's own frame was half a dozen objects for nearly every whole answer. Undefined for
 * any other answer (readWholeBody reads those), and for a status that has no body.
 */
export function readSizedText(response: Response, limit: number): Promise<string> | undefined {
  const { status } = response;
  // fetch gives these a null body whatever their headers say (an answer with none is not read).
  if (RUNTIME_DECODES || status === 204 || status === 205 || status === 304) return undefined;
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (!(declared <= limit) || contentEncoding(response.headers) !== "identity") return undefined;
  return response.text();
}

/** The bytes of `body`, read as they arrive and refused as soon as they pass `limit`. */
async function readCapped(
  body: ReadableStream<Uint8Array>,
  limit: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function inflate(
  decoder: Inflate,
  raw: Uint8Array,
  limit: number,
  tooLarge: () => Error,
  unreadable: (error: Error) => Error,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    decoder(raw, { maxOutputLength: limit }, (error, result) => {
      if (!error) resolve(result);
      else
        reject(
          (error as Error & { code?: string }).code === "ERR_BUFFER_TOO_LARGE" ||
            error instanceof RangeError
            ? tooLarge()
            : unreadable(error),
        );
    });
  });
}

/**
 * The answer's text, at most `limit` bytes once decoded; over it, or undecodable, a broken failure
 * (UpstreamFailed). For the answers readSizedText leaves: no declared length, or encoded.
 */
export async function readWholeBody(
  response: Response,
  upstream: string,
  limit: number,
): Promise<string> {
  const tooLarge = () => overLimit(upstream, "a whole answer", limit, "body_mb");
  const body = response.body;
  if (!body) return "";
  if (RUNTIME_DECODES) return new TextDecoder().decode(await readCapped(body, limit, tooLarge));
  const encoding = contentEncoding(response.headers);
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await body.cancel().catch(() => {});
    throw tooLarge();
  }
  // An answer of a declared length, sent as it is, was read by readSizedText: this one has none.
  if (encoding === "identity")
    return new TextDecoder().decode(await readCapped(body, limit, tooLarge));
  const decoder = await decoderFor(encoding);
  if (!decoder) {
    await body.cancel().catch(() => {});
    throw broken(
      `upstream "${upstream}" answered in content-encoding "${encoding.slice(0, 40)}", which levity did not ask for`,
    );
  }
  // Compressed bytes are at most what they decode to, but for framing and blocks stored as they were.
  const raw = await readCapped(body, limit + Math.ceil(limit / 100) + 1024, tooLarge);
  const decoded = await inflate(decoder, raw, limit, tooLarge, (error) =>
    broken(
      `upstream "${upstream}" sent a ${encoding} body that does not decode (${error.message}); limit ${inMb(limit)}`,
    ),
  );
  return new TextDecoder().decode(decoded);
}
