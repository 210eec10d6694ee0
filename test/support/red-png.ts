import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";

/* A real 8x8 PNG of a solid red square, for "image in" tests; fakes recognise it by its hash. */

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, "ascii"), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function solidPng(size: number, rgb: [number, number, number]): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([
    Buffer.from([0]),
    Buffer.from(Array.from({ length: size }, () => rgb).flat()),
  ]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: size }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", pixels),
    chunk("IEND", new Uint8Array()),
  ]);
}

export const RED_PNG = solidPng(8, [255, 0, 0]);
export const RED_PNG_BASE64 = RED_PNG.toString("base64");
export const RED_PNG_DATA_URL = `data:image/png;base64,${RED_PNG_BASE64}`;
export const RED_PNG_SHA256 = createHash("sha256").update(RED_PNG).digest("hex");

export function isRedPng(base64: string): boolean {
  return (
    createHash("sha256").update(Buffer.from(base64, "base64")).digest("hex") === RED_PNG_SHA256
  );
}
