import { createHash } from "node:crypto";

/*
 * Opt-in for the fake upstreams: signatures bound to the fake's name and the model's family, as a
 * real provider binds them to its key and model, so that one fake refuses another's (or another
 * model's) with the provider's own error. Off by default: other tests keep the fakes' plain
 * signatures.
 */
export interface SigningOptions {
  /** The fake's name: what its signatures are bound to, with the model's family. */
  signer?: string;
}

/** The fakes' own idea of a model family (a date or -latest at the end is the same model), independent of levity's. */
export function fakeModelFamily(model: unknown): string {
  return String(model)
    .replace(/-\d{8}$/, "")
    .replace(/-latest$/, "");
}

export function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 24);
}
