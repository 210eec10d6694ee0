/*
 * npm run build: standalone levity executables for five platforms in dist/, and SHA256SUMS.
 * Each has routes.yaml, mappings.yaml, the monitor page and package.json's version compiled in,
 * and needs no node_modules and no Bun beside it.
 *
 *   bun build.ts [TARGET...]           builds the targets named (default: all five)
 *   bun build.ts --fetch [TARGET...]   only fetches their Bun runtimes into the cache
 *
 * Each executable is the Bun runtime for its platform with the bundle appended. This platform's
 * runtime is the Bun running this script (the `bun` npm package). The other platforms' come from
 * npm as @oven/bun-<os>-<arch> at the same version, but not through package.json: npm refuses to
 * install a package for another platform unless forced, and 391 MB of runtimes would be in every
 * `npm install`. They are fetched when a build needs them, with `npm pack` (the npm registry and
 * npm's own cache, no other network), checked against the integrity package-lock.json records
 * for them (the `bun` package lists them all as optional dependencies), and unpacked into a cache
 * directory: $LEVITY_BUILD_CACHE, else $XDG_CACHE_HOME/levity-build, else ~/.cache/levity-build.
 * Once there, the build needs no network at all.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { builtInJson } from "./src/config/built-in-values.ts";
import { MappingsSchema, RoutesSchema } from "./src/config/schema.ts";

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

/**
 * The program and the request log's worker thread: a worker is its own entry point in a compiled
 * executable, found at the same path relative to src/ (see src/server.ts).
 */
export const ENTRYPOINTS = ["src/main.ts", "src/observe/request-log-worker.ts"];

export const TARGETS: Target[] = [
  {
    name: "linux-x64",
    compileTarget: "bun-linux-x64",
    bunPackage: "@oven/bun-linux-x64",
    bunBinary: "bin/bun",
    os: "linux",
    arch: "x64",
  },
  {
    name: "linux-arm64",
    compileTarget: "bun-linux-arm64",
    bunPackage: "@oven/bun-linux-aarch64",
    bunBinary: "bin/bun",
    os: "linux",
    arch: "arm64",
  },
  {
    name: "darwin-x64",
    compileTarget: "bun-darwin-x64",
    bunPackage: "@oven/bun-darwin-x64",
    bunBinary: "bin/bun",
    os: "darwin",
    arch: "x64",
  },
  {
    name: "darwin-arm64",
    compileTarget: "bun-darwin-arm64",
    bunPackage: "@oven/bun-darwin-aarch64",
    bunBinary: "bin/bun",
    os: "darwin",
    arch: "arm64",
  },
  {
    name: "windows-x64",
    compileTarget: "bun-windows-x64",
    bunPackage: "@oven/bun-windows-x64",
    bunBinary: "bin/bun.exe",
    os: "win32",
    arch: "x64",
  },
];

const ROOT = import.meta.dir;

/** Where fetched runtimes are kept, per Bun version: they are reused by every later build. */
export function cacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.LEVITY_BUILD_CACHE) return env.LEVITY_BUILD_CACHE;
  if (process.platform === "win32" && env.LOCALAPPDATA)
    return join(env.LOCALAPPDATA, "levity-build");
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "levity-build");
}

function isThisPlatform(target: Target): boolean {
  return target.os === process.platform && target.arch === process.arch;
}

function cachedRuntime(target: Target): string {
  return join(
    cacheDir(),
    `bun-${Bun.version}`,
    target.bunPackage.replace("@oven/", ""),
    target.bunBinary,
  );
}

/** The integrity package-lock.json records for this runtime, when it pins the same version. */
function lockedIntegrity(target: Target): string | undefined {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages?: Record<string, { version?: string; integrity?: string }>;
  };
  const entry = lock.packages?.[`node_modules/${target.bunPackage}`];
  return entry?.version === Bun.version ? entry.integrity : undefined;
}

async function run(argv: string[], cwd: string): Promise<string> {
  const child = Bun.spawn(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`${argv.join(" ")} failed (exit ${code}):\n${err}`);
  return out;
}

/** Puts the runtime for `target` in the cache, unless it is there; returns where it is. */
async function fetchRuntime(target: Target): Promise<string> {
  const binary = cachedRuntime(target);
  if (existsSync(binary)) return binary;
  const spec = `${target.bunPackage}@${Bun.version}`;
  const packageDir = dirname(dirname(binary));
  mkdirSync(dirname(packageDir), { recursive: true });
  const work = mkdtempSync(`${packageDir}.partial-`);
  try {
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    // --prefer-offline: a tarball already in npm's cache is used without asking the registry.
    const packed = JSON.parse(
      await run(
        [npm, "pack", spec, "--json", "--prefer-offline", "--pack-destination", work],
        work,
      ),
    ) as { filename: string; integrity: string }[];
    const tarball = join(work, packed[0]!.filename);
    const expected = lockedIntegrity(target);
    const actual = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
    // npm has checked the tarball against the registry; this checks it is the one the lock pins.
    if (expected && actual !== expected)
      throw new Error(
        `${spec}: the tarball's integrity ${actual} is not the ${expected} package-lock.json records`,
      );
    await run(["tar", "-xzf", tarball, "-C", work], work);
    // Only a complete, checked runtime gets the final name, so a cut fetch is never used.
    try {
      renameSync(join(work, "package"), packageDir);
    } catch (error) {
      // Another build put it there meanwhile.
      if (!existsSync(binary)) throw error;
    }
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The Bun that becomes the executable's runtime: the running one for this platform, else from the cache. */
function runtimeFor(target: Target): string {
  if (isThisPlatform(target)) return process.execPath;
  const cached = cachedRuntime(target);
  if (!existsSync(cached))
    throw new Error(
      `${target.bunPackage}@${Bun.version} is not in ${cacheDir()}; it was to be fetched first`,
    );
  return cached;
}

function fileName(target: Target): string {
  return `levity-${target.name}${target.os === "win32" ? ".exe" : ""}`;
}

/** A tree's built-in files' values, as the JavaScript expression defaults.ts reads them from. */
export function builtInDefine(root = ROOT): string {
  return JSON.stringify({
    routes: builtInJson(
      "routes.yaml",
      readFileSync(join(root, "routes.yaml"), "utf8"),
      RoutesSchema,
    ),
    mappings: builtInJson(
      "mappings.yaml",
      readFileSync(join(root, "mappings.yaml"), "utf8"),
      MappingsSchema,
    ),
  });
}

async function compile(target: Target): Promise<{ file: string; bytes: number; ms: number }> {
  const started = performance.now();
  const file = fileName(target);
  const result = await Bun.build({
    entrypoints: ENTRYPOINTS.map((path) => join(ROOT, path)),
    minify: { whitespace: true, syntax: true, identifiers: false },
    // Precompiled bytecode: start-up skips parsing and compiling the bundle (spawn to first
    // /healthz 200: 110 ms -> 68 ms median, for 10 MiB more per binary).
    bytecode: true,
    format: "esm",
    // The built-in routes.yaml and mappings.yaml as values: parsing them with the YAML library at
    // start was 32-43 ms of the binary's start-up here (src/config/defaults.ts).
    define: { LEVITY_BUILT_IN_JSON: builtInDefine() },
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
  return {
    file,
    bytes: Bun.file(join(ROOT, "dist", file)).size,
    ms: Math.round(performance.now() - started),
  };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const fetchOnly = args.includes("--fetch");
  const wanted = args.filter((arg) => arg !== "--fetch");
  const unknown = wanted.filter((name) => !TARGETS.some((t) => t.name === name));
  if (unknown.length) {
    console.error(
      `unknown target ${unknown.join(", ")}; targets: ${TARGETS.map((t) => t.name).join(", ")}`,
    );
    process.exit(2);
  }
  const targets = wanted.length ? TARGETS.filter((t) => wanted.includes(t.name)) : TARGETS;
  const missing = targets.filter((t) => !isThisPlatform(t) && !existsSync(cachedRuntime(t)));
  if (missing.length) {
    console.log(
      `fetching Bun ${Bun.version} for ${missing.map((t) => t.name).join(", ")} into ${cacheDir()}`,
    );
    if (!lockedIntegrity(missing[0]!))
      console.log(
        `(package-lock.json pins another Bun than this ${Bun.version}: the runtimes are checked by npm against the registry only)`,
      );
    await Promise.all(missing.map(fetchRuntime));
  }
  if (fetchOnly) process.exit(0);
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  const sums: string[] = [];
  for (const target of targets) {
    const built = await compile(target);
    const digest = createHash("sha256")
      .update(readFileSync(join(ROOT, "dist", built.file)))
      .digest("hex");
    sums.push(`${digest}  ${built.file}`);
    console.log(
      `built dist/${built.file} (${(built.bytes / 1024 / 1024).toFixed(1)} MiB) in ${built.ms} ms`,
    );
  }
  // The format `sha256sum -c SHA256SUMS` reads.
  writeFileSync(join(ROOT, "dist", "SHA256SUMS"), `${sums.join("\n")}\n`);
  console.log("wrote dist/SHA256SUMS");
}
