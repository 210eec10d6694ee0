import { ConfigError } from "../config/problem.ts";
import { createLogger } from "../log.ts";
import { PortInUseError, startServer } from "../server.ts";
import {
  chooseConfigDir,
  CliExit,
  printConfigProblems,
  type CliIO,
  type CommonFlags,
} from "./context.ts";
import { commandLine, invocation, shellWord } from "./invocation.ts";
import { stopWithPackageManager } from "./parent-watch.ts";
import { startupBlock } from "./startup-block.ts";
import type { SharedLink } from "../state/shared-link.ts";

/**
 * Whether shared state answered its first connection, waiting at most about its deadline for
 * it, so the start-up block says which state this instance serves from; undefined without one.
 */
function settled(link: SharedLink | undefined, deadlineMs: number): Promise<boolean | undefined> {
  if (!link) return Promise.resolve(undefined);
  if (link.up()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(link.up()), deadlineMs + 50);
    link.onChange((up) => {
      if (!up) return;
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Serves until SIGTERM or SIGINT, reloading on file changes and SIGHUP. */
export async function serveCommand(flags: CommonFlags, io: CliIO): Promise<void> {
  const choice = chooseConfigDir(flags, io);
  const log = createLogger((line) => io.err(line));
  let server: ReturnType<typeof startServer>;
  try {
    server = startServer({ dir: choice.dir, env: io.env, port: flags.port, log, watchFiles: true });
  } catch (error) {
    if (error instanceof ConfigError) {
      printConfigProblems(error, io);
      // A command that runs as printed, from wherever it was started: the directory named outright.
      const how = invocation({ cwd: io.cwd, env: io.env });
      const check = `${how.cd ? `cd ${shellWord(how.cd)} && ` : ""}${commandLine(how, "check", choice.dir ? ["--config", shellWord(choice.dir)] : [])}`;
      io.err(
        `levity: not serving until these are fixed (\`${check}\` re-checks without starting).\n`,
      );
      throw new CliExit(1);
    }
    if (error instanceof PortInUseError) {
      io.err(
        `levity: cannot listen on ${error.hostname}:${error.port}: the port is already in use (another levity? \`curl http://127.0.0.1:${error.port}/healthz\` tells). ` +
          `Choose another port with --port N or proxy.port in gateway.yaml.\n`,
      );
      throw new CliExit(1);
    }
    throw error;
  }
  // The signals are handled before the start-up block says levity is listening: whoever acts on
  // that line (a supervisor, a script, a test) may stop it at once, and it must still drain.
  process.on("SIGHUP", () => server.reload("SIGHUP"));
  stopWithPackageManager(io.env, log);
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: closing without waiting`);
        process.exit(1);
      }
      stopping = true;
      log.info(
        `${signal}: no new connections; draining ${server.pendingRequests()} request(s) in flight`,
      );
      server.stop().then(() => {
        log.info("stopped");
        resolve();
      });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
  // The block is for the operator: the requests already waiting are served first (making it and
  // the first write to stdout took 3-5 ms of a start). It follows the watch, so a change saved
  // once it is printed is seen.
  await server.watching;
  const sharedUp = await settled(server.shared, server.holder.snapshot.state?.timeoutMs ?? 0);
  // A stop that came meanwhile has said so already: a block saying levity listens would follow it.
  if (!stopping)
    io.out(
      startupBlock(server.holder.snapshot, choice, {
        hostname: server.hostname,
        port: server.port,
        madeKeys: server.madeKeys,
        sharedUp,
      }),
    );
  await stopped;
}
