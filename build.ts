/*
 * npm run build: standalone levity executables for five platforms in dist/, and SHA256SUMS.
 * Each has routes.yaml, mappings.yaml, the monitor page and package.json's version compiled in,
 * and needs no node_modules and no Bun beside it.
 *
 * Offline: every target is compiled with the Bun binary npm installed as @oven/bun-<os>-<arch>
 * (see .npmrc for why npm is allowed to install the other platforms' packages), never one
 * downloaded at build time. `bun build.ts linux-x64 ...` builds only the targets named.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

interface Target {
  /** levity's name for it: levity-<name>[.exe] */
  name: string;
  compileTarget: Bun.Build.CompileTarget;
  /** The npm package that ships Bun for it, and the binary's path inside. */
  bunPackage: string;
  bunBinary: string;
  os: NodeJS.Platform;
  arch: string;
}

export const TARGETS: Target[] = [
  { name: "linux-x64", compileTarget: "bun-linux-x64", bunPackage: "@oven/bun-linux-x64", bunBinary: "bin/bun", os: "linux", arch: "x64" },
  { name: "linux-arm64", compileTarget: "bun-linux-arm64", bunPackage: "@oven/bun-linux-aarch64", bunBinary: "bin/bun", os: "linux", arch: "arm64" },
  { name: "darwin-x64", compileTarget: "bun-darwin-x64", bunPackage: "@oven/bun-darwin-x64", bunBinary: "bin/bun", os: "darwin", arch: "x64" },
  { name: "darwin-arm64", compileTarget: "bun-darwin-arm64", bunPackage: "@oven/bun-darwin-aarch64", bunBinary: "bin/bun", os: "darwin", arch: "arm64" },
  { name: "windows-x64", compileTarget: "bun-windows-x64", bunPackage: "@oven/bun-windows-x64", bunBinary: "bin/bun.exe", os: "win32", arch: "x64" },
];

const ROOT = import.meta.dir;

/**
 * The Bun that becomes the executable's runtime. On the build machine's own platform the `bun`
 * package's install step moves the binary out of its @oven package, so the running Bun is used.
 */
function runtimeFor(target: Target): string {
  const packaged = join(ROOT, "node_modules", target.bunPackage, target.bunBinary);
  if (existsSync(packaged)) return packaged;
  if (target.os === process.platform && target.arch === process.arch) return process.execPath;
  throw new Error(`${target.bunPackage} is not installed (node_modules/${target.bunPackage}/${target.bunBinary}); run npm install, which installs every platform's Bun`);
}

function fileName(target: Target): string {
  return `levity-${target.name}${target.os === "win32" ? ".exe" : ""}`;
}

async function compile(target: Target): Promise<{ file: string; bytes: number; ms: number }> {
  const started = performance.now();
  const file = fileName(target);
  const result = await Bun.build({
    entrypoints: [join(ROOT, "src/main.ts")],
    minify: { whitespace: true, syntax: true, identifiers: false },
    // Precompiled bytecode: start-up skips parsing and compiling the bundle (spawn to first
    // /healthz 200: 110 ms -> 68 ms median, for 10 MiB more per binary).
    bytecode: true,
    format: "esm",
    compile: {
      target: target.compileTarget,
      executablePath: runtimeFor(target),
      outfile: join(ROOT, "dist", file),
      // A service's configuration comes from its config directory and its environment only,
      // never from a .env or bunfig.toml that happens to be in its working directory.
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`building ${file} failed`);
  }
  return { file, bytes: Bun.file(join(ROOT, "dist", file)).size, ms: Math.round(performance.now() - started) };
}

if (import.meta.main) {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !TARGETS.some((t) => t.name === name));
  if (unknown.length) {
    console.error(`unknown target ${unknown.join(", ")}; targets: ${TARGETS.map((t) => t.name).join(", ")}`);
    process.exit(2);
  }
  const targets = wanted.length ? TARGETS.filter((t) => wanted.includes(t.name)) : TARGETS;
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  const sums: string[] = [];
  for (const target of targets) {
    const built = await compile(target);
    const digest = createHash("sha256").update(readFileSync(join(ROOT, "dist", built.file))).digest("hex");
    sums.push(`${digest}  ${built.file}`);
    console.log(`built dist/${built.file} (${(built.bytes / 1024 / 1024).toFixed(1)} MiB) in ${built.ms} ms`);
  }
  // The format `sha256sum -c SHA256SUMS` reads.
  writeFileSync(join(ROOT, "dist", "SHA256SUMS"), `${sums.join("\n")}\n`);
  console.log("wrote dist/SHA256SUMS");
}
