import { Readable, type Transform } from "node:stream";
import * as zlib from "node:zlib";

/*
 * A stream that arrives compressed although levity asked for none (a proxy or CDN on the way may
 * compress anyway). It is decoded as it is read, piece by piece with backpressure (16 KB at a
 * time, the next piece only once the reader wants it), so a compression bomb costs no more memory
 * than a stream of the same text; the limits on held bytes and on one event then apply as usual.
 */

// zstd where the runtime has it (a namespace import: a missing named export would fail to load).
const createZstd = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;

const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: zlib.createUnzip,
  "x-gzip": zlib.createUnzip,
  deflate: zlib.createUnzip,
  br: zlib.createBrotliDecompress,
  ...(createZstd ? { zstd: createZstd } : {}),
};

/** The body decoded, or undefined for an encoding levity cannot undo. */
export function decodedStream(
  body: ReadableStream<Uint8Array>,
  encoding: string,
): ReadableStream<Uint8Array> | undefined {
  const make = DECODERS[encoding];
  if (!make) return undefined;
  const decoder = make();
  const source = Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]);
  // A failure on either side ends the other, so that the reader sees it and the connection goes.
  source.on("error", (error) => decoder.destroy(error));
  source.pipe(decoder);
  return Readable.toWeb(decoder) as unknown as ReadableStream<Uint8Array>;
}
