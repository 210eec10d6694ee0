/** Two byte arrays as one new one (the multipart reader's carried bytes, an HTTP/1.1 request's head and body). */
export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
