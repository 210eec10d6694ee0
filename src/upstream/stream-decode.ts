import type { Transform } from "node:stream";
import { decoderKind } from "./whole-body.ts";

/*
 * A stream that arrives compressed although levity asked for none (a proxy or CDN on the way may
 * compress anyway). It is decoded as it is read, piece by piece with backpressure (16 KB at a
 * time, the next piece only once the reader wants it), so a compression bomb costs no more memory
 * than a stream of the same text; the limits on held bytes and on one event then apply as usual.
 */

/*
 * node:zlib and node:stream load with the first compressed stream: levity asks for none, so most
 * gateways never load them (each runtime module loaded at start is resident memory for good).
 */
function decoderFor(
  zlib: typeof import("node:zlib"),
  kind: "unzip" | "brotli" | "zstd",
): (() => Transform) | undefined {
  if (kind === "brotli") return zlib.createBrotliDecompress;
  // zstd where the runtime has it (read off the namespace: a missing named export fails to load).
  if (kind === "zstd")
    return (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  return zlib.createUnzip;
}

/** The body decoded, or undefined for an encoding levity cannot undo. */
export async function decodedStream(
  body: ReadableStream<Uint8Array>,
  encoding: string,
): Promise<ReadableStream<Uint8Array> | undefined> {
  const kind = decoderKind(encoding);
  if (!kind) return undefined;
  const make = decoderFor(await import("node:zlib"), kind);
  if (!make) return undefined;
  const { Readable } = await import("node:stream");
  const decoder = make();
  const source = Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]);
  // A failure on either side ends the other, so that the reader sees it and the connection goes.
  source.on("error", (error) => decoder.destroy(error));
  source.pipe(decoder);
  return Readable.toWeb(decoder) as unknown as ReadableStream<Uint8Array>;
}
