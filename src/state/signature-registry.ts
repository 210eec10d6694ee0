import { createHash } from "node:crypto";

/*
 * Who issued each signature levity has seen in a same-dialect answer, which it forwards as the
 * upstream wrote it (so the value carries no issuer of its own). When a client sends that value
 * back and the request fails over, the registry says whether this attempt's upstream, account
 * group and model family made it. It keeps a fingerprint of each value, never the value, and
 * forgets the least recently used once full: a value it no longer knows goes through, as one it
 * never saw does, and an upstream that refuses it gets the request again without reasoning.
 */

export const SIGNATURE_REGISTRY_CAPACITY = 65_536;

export class SignatureRegistry {
  /** Fingerprint to issuer, oldest use first (a Map keeps insertion order). */
  private readonly issuers = new Map<string, string>();

  constructor(private readonly capacity = SIGNATURE_REGISTRY_CAPACITY) {}

  /** A property, not a method: a same-dialect answer's parser is handed it as it is, with no closure made per request. */
  readonly recordIssued = (opaque: { value: string; issuer: string }): void =>
    this.record(opaque.value, opaque.issuer);

  record(value: string, issuer: string): void {
    const key = fingerprint(value);
    this.issuers.delete(key);
    this.issuers.set(key, issuer);
    if (this.issuers.size > this.capacity) {
      const oldest = this.issuers.keys().next();
      if (!oldest.done) this.issuers.delete(oldest.value);
    }
  }

  /** The issuer recorded for this value, or undefined when levity has not seen it (or forgot it). */
  issuerOf(value: string): string | undefined {
    const key = fingerprint(value);
    const issuer = this.issuers.get(key);
    if (issuer !== undefined) {
      // Used again: the last to be forgotten.
      this.issuers.delete(key);
      this.issuers.set(key, issuer);
    }
    return issuer;
  }

  get size(): number {
    return this.issuers.size;
  }
}

function fingerprint(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}
