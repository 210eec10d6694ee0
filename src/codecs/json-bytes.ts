/*
 * JSON checked where it lies, in bytes: whether a range is one JSON object, without decoding it
 * or building it. A same-dialect stream's plain deltas are checked this way after the commit
 * point, so that a delta that is not JSON still ends the stream with an error, as JSON.parse
 * would have, without a string and a dozen objects for every delta.
 *
 * It answers true only for what JSON.parse accepts (RFC 8259: whitespace is space, tab, LF and
 * CR; no control characters in strings; escapes as listed; numbers without leading zeros). A
 * reader that must be sure sends anything refused here to JSON.parse, which gives the reason.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const TRUE = new TextEncoder().encode("true");
const FALSE = new TextEncoder().encode("false");
const NULL = new TextEncoder().encode("null");

/** Deeper nesting is refused (left to JSON.parse) rather than recursed into. */
const MAX_DEPTH = 64;

/*
 * Tables over every byte value (a read past a short table's end is slow in JavaScriptCore as well
 * as wrong): what may follow a backslash, `u` aside; hex digits; and the bytes that end a run of
 * plain string characters (a quote, a backslash, a control character, which JSON refuses raw).
 */
const SIMPLE_ESCAPE = byteTable('"\\/bfnrt');
const HEX = byteTable("0123456789abcdefABCDEF");
const STRING_STOP = byteTable('"\\', 0x20);

/**
 * 1 for each byte value that is a member (the characters of `members`, and every byte below
 * `below`), 0 for the rest; built once, at load. Set member by member: testing all 256 values
 * against a predicate was about 0.4 ms of every start.
 */
function byteTable(members: string, below = 0): Readonly<Uint8Array> {
  const table = new Uint8Array(256).fill(1, 0, below);
  for (let i = 0; i < members.length; i++) table[members.charCodeAt(i)] = 1;
  return table;
}

/**
 * Keys watched at any depth of an object being checked: a key named in `absent` makes the answer
 * false, one named in `nullOnly` does unless its value is null, and one named in `oneOf` does
 * unless its value is one of the strings listed (written without escapes). Found in the same
 * pass, as keys: a string value that happens to spell a name does not count. Made by keyRules.
 */
export interface KeyRules {
  readonly absent: readonly Uint8Array[];
  readonly nullOnly: readonly Uint8Array[];
  readonly oneOf: readonly { readonly name: Uint8Array; readonly values: readonly Uint8Array[] }[];
  /** The names' first bytes: most keys are passed over on their first. */
  readonly firstBytes: Uint8Array;
  readonly watching: boolean;
}

export function keyRules(
  absent: readonly Uint8Array[],
  nullOnly: readonly Uint8Array[],
  oneOf: KeyRules["oneOf"] = [],
): KeyRules {
  const firstBytes = new Uint8Array(256);
  for (const name of [...absent, ...nullOnly, ...oneOf.map((rule) => rule.name)])
    firstBytes[name[0]!] = 1;
  const watching = absent.length + nullOnly.length + oneOf.length > 0;
  return { absent, nullOnly, oneOf, firstBytes, watching };
}

const NO_RULES = keyRules([], []);

/** Whether bytes[start, end) is one JSON object (whitespace around it allowed) that keeps the rules. */
export function isJsonObject(
  bytes: Uint8Array,
  start: number,
  end: number,
  rules: KeyRules = NO_RULES,
): boolean {
  const at = skipSpace(bytes, start, end);
  if (at >= end || bytes[at] !== OPEN_BRACE) return false;
  const after = value(bytes, at, end, 0, rules);
  return after >= 0 && skipSpace(bytes, after, end) === end;
}

function hasEscape(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] === BACKSLASH) return true;
  return false;
}

/** Whether bytes[start, end) is exactly `name`. */
function spells(bytes: Uint8Array, start: number, end: number, name: ArrayLike<number>): boolean {
  if (name.length !== end - start) return false;
  for (let i = 0; i < name.length; i++) if (bytes[start + i] !== name[i]) return false;
  return true;
}

/** Whether bytes[at, end) begins with `prefix`. */
export function startsWith(
  bytes: Uint8Array,
  at: number,
  end: number,
  prefix: ArrayLike<number>,
): boolean {
  return at + prefix.length <= end && spells(bytes, at, at + prefix.length, prefix);
}

/** Whether bytes[start, end) spells one of the names. */
function named(
  bytes: Uint8Array,
  start: number,
  end: number,
  names: readonly Uint8Array[],
): boolean {
  for (let n = 0; n < names.length; n++) if (spells(bytes, start, end, names[n]!)) return true;
  return false;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipSpace(bytes: Uint8Array, at: number, end: number): number {
  while (at < end && isSpace(bytes[at]!)) at++;
  return at;
}

/** The index after the value that begins at `at`, or -1 where there is none. */
function value(bytes: Uint8Array, at: number, end: number, depth: number, rules: KeyRules): number {
  if (at >= end) return -1;
  const byte = bytes[at]!;
  if (byte === QUOTE) return string(bytes, at, end);
  if (byte === OPEN_BRACE) return object(bytes, at, end, depth + 1, rules);
  if (byte === OPEN_BRACKET) return array(bytes, at, end, depth + 1, rules);
  if (byte === MINUS || (byte >= ZERO && byte <= NINE)) return number(bytes, at, end);
  if (byte === 0x74) return word(bytes, at, end, TRUE);
  if (byte === 0x66) return word(bytes, at, end, FALSE);
  if (byte === 0x6e) return word(bytes, at, end, NULL);
  return -1;
}

function object(
  bytes: Uint8Array,
  at: number,
  end: number,
  depth: number,
  rules: KeyRules,
): number {
  if (depth > MAX_DEPTH) return -1;
  at = skipSpace(bytes, at + 1, end);
  if (at < end && bytes[at] === CLOSE_BRACE) return at + 1;
  for (;;) {
    if (at >= end || bytes[at] !== QUOTE) return -1;
    const keyEnd = string(bytes, at, end);
    if (keyEnd < 0) return -1;
    let nullOnly = false;
    let allowed: readonly Uint8Array[] | undefined;
    if (rules.watching) {
      // JSON.parse reads `"us\u0061ge"` as usage: a key with an escape in it could be any name.
      if (hasEscape(bytes, at + 1, keyEnd - 1)) return -1;
      if (rules.firstBytes[bytes[at + 1]!]) {
        if (named(bytes, at + 1, keyEnd - 1, rules.absent)) return -1;
        nullOnly = named(bytes, at + 1, keyEnd - 1, rules.nullOnly);
        for (const rule of rules.oneOf)
          if (spells(bytes, at + 1, keyEnd - 1, rule.name)) allowed = rule.values;
      }
    }
    at = skipSpace(bytes, keyEnd, end);
    if (at >= end || bytes[at] !== COLON) return -1;
    at = skipSpace(bytes, at + 1, end);
    if (nullOnly && word(bytes, at, end, NULL) < 0) return -1;
    if (allowed) {
      if (at >= end || bytes[at] !== QUOTE) return -1;
      const valueEnd = string(bytes, at, end);
      if (valueEnd < 0 || hasEscape(bytes, at + 1, valueEnd - 1)) return -1;
      if (!named(bytes, at + 1, valueEnd - 1, allowed)) return -1;
    }
    at = value(bytes, at, end, depth, rules);
    if (at < 0) return -1;
    at = skipSpace(bytes, at, end);
    if (at >= end) return -1;
    if (bytes[at] === CLOSE_BRACE) return at + 1;
    if (bytes[at] !== COMMA) return -1;
    at = skipSpace(bytes, at + 1, end);
  }
}

function array(bytes: Uint8Array, at: number, end: number, depth: number, rules: KeyRules): number {
  if (depth > MAX_DEPTH) return -1;
  at = skipSpace(bytes, at + 1, end);
  if (at < end && bytes[at] === CLOSE_BRACKET) return at + 1;
  for (;;) {
    at = value(bytes, at, end, depth, rules);
    if (at < 0) return -1;
    at = skipSpace(bytes, at, end);
    if (at >= end) return -1;
    if (bytes[at] === CLOSE_BRACKET) return at + 1;
    if (bytes[at] !== COMMA) return -1;
    at = skipSpace(bytes, at + 1, end);
  }
}

function string(bytes: Uint8Array, at: number, end: number): number {
  for (at++; at < end; at++) {
    while (at < end && STRING_STOP[bytes[at]!] === 0) at++;
    if (at >= end) return -1;
    const byte = bytes[at]!;
    if (byte === QUOTE) return at + 1;
    if (byte !== BACKSLASH) return -1; // a control character
    at++;
    if (at >= end) return -1;
    const escaped = bytes[at]!;
    if (escaped === 0x75 /* u */) {
      if (at + 4 >= end) return -1;
      for (let i = 1; i <= 4; i++) if (!HEX[bytes[at + i]!]) return -1;
      at += 4;
    } else if (!SIMPLE_ESCAPE[escaped]) return -1;
  }
  return -1;
}

function digits(bytes: Uint8Array, at: number, end: number): number {
  while (at < end && bytes[at]! >= ZERO && bytes[at]! <= NINE) at++;
  return at;
}

function number(bytes: Uint8Array, at: number, end: number): number {
  if (bytes[at] === MINUS) at++;
  if (at >= end) return -1;
  if (bytes[at] === ZERO) at++;
  else if (bytes[at]! > ZERO && bytes[at]! <= NINE) at = digits(bytes, at, end);
  else return -1;
  if (at < end && bytes[at] === DOT) {
    const fraction = digits(bytes, at + 1, end);
    if (fraction === at + 1) return -1;
    at = fraction;
  }
  if (at < end && (bytes[at] === 0x65 || bytes[at] === 0x45) /* e E */) {
    at++;
    if (at < end && (bytes[at] === PLUS || bytes[at] === MINUS)) at++;
    const exponent = digits(bytes, at, end);
    if (exponent === at) return -1;
    at = exponent;
  }
  return at;
}

/** The index after `literal` where it begins at `at`, or -1. */
function word(bytes: Uint8Array, at: number, end: number, literal: Uint8Array): number {
  return startsWith(bytes, at, end, literal) ? at + literal.length : -1;
}

/** Where `needle` first occurs in bytes[from, end), or -1. A loop in JavaScript: a native
 * indexOf for each candidate first byte cost more than it saved on JSON, where `"` and `[` abound. */
export function indexOfBytes(
  bytes: Uint8Array,
  needle: Uint8Array,
  from: number,
  end: number,
): number {
  const first = needle[0]!;
  const last = end - needle.length;
  for (let i = from; i <= last; i++) {
    if (bytes[i] !== first) continue;
    let j = 1;
    while (j < needle.length && bytes[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}
