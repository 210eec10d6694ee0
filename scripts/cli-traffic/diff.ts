import type { SessionFixture } from "./fixture.ts";

export interface SessionDiff {
  lines: string[];
}

export function diffSessions(
  _before: SessionFixture | undefined,
  _after: SessionFixture,
): SessionDiff {
  return { lines: [] };
}

export function formatDiff(
  cli: string,
  from: string,
  to: string,
  session: string,
  diff: SessionDiff,
): string {
  return `${cli} ${from} -> ${to} ${session}: ${diff.lines.join("; ")}`;
}

export function latestOtherVersion(versions: string[], current: string): string | undefined {
  return versions
    .filter((v) => v !== current)
    .sort()
    .at(-1);
}
