/*
 * bun build.ts (the package's prepack): the kit as one JavaScript file for Node, and a copy of the
 * recorded sessions of the repository it is packed in, so `npx @levity/cli-traffic-kit` has them.
 */
import { cpSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";

const here = import.meta.dir;
const result = await Bun.build({
  entrypoints: [join(here, "src/cli.ts")],
  target: "node",
  outdir: join(here, "dist"),
  naming: "kit.js",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
const recorded = join(here, "../test/fixtures/cli-traffic");
rmSync(join(here, "fixtures"), { recursive: true, force: true });
if (existsSync(recorded))
  cpSync(recorded, join(here, "fixtures"), { recursive: true, dereference: true });
else console.error(`no recorded sessions at ${recorded}: the package will have none of its own`);
