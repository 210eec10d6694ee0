/*
 * npm run build: a standalone levity executable in dist/, with routes.yaml, mappings.yaml and
 * package.json's version compiled in. It needs no node_modules and no Bun beside it.
 */
import { mkdirSync } from "node:fs";

const OS: Record<string, string> = { linux: "linux", darwin: "darwin", win32: "windows" };
const os = OS[process.platform];
const arch = process.arch === "arm64" ? "arm64" : "x64";
if (!os) throw new Error(`no build target for platform ${process.platform}`);

const name = `levity-${os}-${arch}${os === "windows" ? ".exe" : ""}`;
const outfile = `dist/${name}`;
mkdirSync("dist", { recursive: true });

const started = performance.now();
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  minify: { whitespace: true, syntax: true, identifiers: false },
  compile: {
    target: `bun-${os}-${arch}` as Bun.Build.CompileTarget,
    outfile,
    // A service's configuration comes from its config directory and its environment only,
    // never from a .env or bunfig.toml that happens to be in its working directory.
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
const size = Bun.file(outfile).size;
console.log(`built ${outfile} (${(size / 1024 / 1024).toFixed(1)} MiB) in ${Math.round(performance.now() - started)} ms`);
