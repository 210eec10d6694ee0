import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";

/*
 * Each module under codecs/ loads when it is the first one a process imports. An import cycle
 * (codecs/shared.ts → codecs/errors.ts → the families → codecs/shared.ts) loads in one order and
 * throws "Cannot access … before initialization" in another; a test or a tool that starts from a
 * different module than the server does would find it first.
 */

const ROOT = join(import.meta.dir, "..", "..");

function modules(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return modules(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

test("every codec module loads first in a fresh process", () => {
  const failed: string[] = [];
  for (const path of modules("src/codecs")) {
    const run = Bun.spawnSync(
      [process.execPath, "-e", `await import(${JSON.stringify(join(ROOT, path))})`],
      {
        stderr: "pipe",
      },
    );
    if (run.exitCode !== 0)
      failed.push(
        `${path}: ${run.stderr
          .toString()
          .split("\n")
          .find((l) => /Error/.test(l))}`,
      );
  }
  expect(failed).toEqual([]);
}, 120_000);
