import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { type Dialect, DIALECTS, isObject, type Json } from "./dialect.ts";

/*
 * The recorded CLI sessions: test/fixtures/cli-traffic/<cli>/<version>/<session>.json, one file per
 * session, format 1 (see the kit's README).
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Json;
  bodyText?: string;
}

export interface Exchange {
  request: RecordedRequest;
  response?: { status: number; contentType?: string; body?: string };
  purpose?: string;
}

export interface Fixture {
  file: string;
  cli: string;
  version: string;
  session: string;
  dialect: Dialect;
  scrubbed: string[];
  exchanges: Exchange[];
}

export class FixtureError extends Error {}

function parseFixture(file: string, name: string, text: string): Fixture {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FixtureError(`${name}: not JSON (${(error as Error).message})`);
  }
  if (!isObject(json) || json.format !== 1)
    throw new FixtureError(`${name}: not a format 1 CLI traffic fixture`);
  if (!DIALECTS.includes(json.dialect))
    throw new FixtureError(
      `${name}: dialect ${JSON.stringify(json.dialect)} is none of ${DIALECTS.join(", ")}`,
    );
  if (!Array.isArray(json.exchanges)) throw new FixtureError(`${name}: no exchanges list`);
  json.exchanges.forEach((exchange: unknown, index: number) => {
    const request = isObject(exchange) ? exchange.request : undefined;
    if (
      !isObject(request) ||
      typeof request.method !== "string" ||
      typeof request.path !== "string"
    )
      throw new FixtureError(`${name}: exchange ${index + 1} has no request method and path`);
  });
  return {
    file,
    cli: String(json.cli),
    version: String(json.version),
    session: String(json.session),
    dialect: json.dialect,
    scrubbed: Array.isArray(json.scrubbed) ? json.scrubbed.map(String) : [],
    exchanges: json.exchanges,
  };
}

function walk(dir: string, into: string[]): void {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path, into);
    else if (entry.endsWith(".json")) into.push(path);
  }
}

/** Every fixture under `dir`, in path order; a malformed file is an error that names it. */
export function loadFixtures(dir: string): Fixture[] {
  const files: string[] = [];
  walk(dir, files);
  return files.map((file) => parseFixture(file, relative(dir, file), readFileSync(file, "utf8")));
}

export const fixtureName = (f: Fixture): string => `${f.cli} ${f.version} ${f.session}`;
