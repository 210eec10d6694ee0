import { afterAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPrivateDatabase } from "./private-files.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "levity-private-files-"));
  dirs.push(dir);
  return dir;
}

const SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT NOT NULL);";

describe("openPrivateDatabase", () => {
  // A database new at this start, one a crash left empty, and one that holds rows: each ends the
  // same, in WAL with the flushes a commit and a checkpoint need, its schema there, private.
  const cases: { name: string; before(path: string): void; rows: number }[] = [
    { name: "a new file", before: () => {}, rows: 0 },
    { name: "an empty file", before: (path) => writeFileSync(path, "", { mode: 0o600 }), rows: 0 },
    {
      name: "a database with a row",
      before: (path) => {
        const db = openPrivateDatabase(path, SCHEMA);
        db.run("INSERT INTO t (k, v) VALUES ('a', 'kept')");
        db.close();
      },
      rows: 1,
    },
  ];
  for (const { name, before, rows } of cases) {
    test(`${name}: WAL, synchronous NORMAL, the schema, mode 0600`, () => {
      const dir = join(scratch(), "data");
      // A new file's directory is made too; the others' is there already.
      if (name !== "a new file") mkdirSync(dir, { mode: 0o700 });
      const path = join(dir, "state.db");
      before(path);
      const db = openPrivateDatabase(path, SCHEMA);
      try {
        expect(
          db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()!.journal_mode,
        ).toBe("wal");
        // 1 is NORMAL: a new file is written without flushes only until its schema is there.
        expect(db.query<{ synchronous: number }, []>("PRAGMA synchronous").get()!.synchronous).toBe(
          1,
        );
        expect(db.query<{ n: number }, []>("SELECT count(*) AS n FROM t").get()!.n).toBe(rows);
        expect(statSync(path).mode & 0o777).toBe(0o600);
      } finally {
        db.close();
      }
    });
  }

  test("incremental vacuum takes effect on a new file, and changes nothing on an old one", () => {
    const path = join(scratch(), "log.db");
    const db = openPrivateDatabase(path, SCHEMA, { incrementalVacuum: true });
    try {
      // 2 is INCREMENTAL: the request log's trims give space back to the disk only with it.
      expect(db.query<{ auto_vacuum: number }, []>("PRAGMA auto_vacuum").get()!.auto_vacuum).toBe(
        2,
      );
    } finally {
      db.close();
    }
    // The README's conversion of a log made without it: the setting, then VACUUM.
    const made = openPrivateDatabase(join(scratch(), "made-without.db"), SCHEMA);
    expect(made.query<{ auto_vacuum: number }, []>("PRAGMA auto_vacuum").get()!.auto_vacuum).toBe(
      0,
    );
    made.exec("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;");
    expect(made.query<{ auto_vacuum: number }, []>("PRAGMA auto_vacuum").get()!.auto_vacuum).toBe(
      2,
    );
    made.close();
    const oldPath = join(scratch(), "old-log.db");
    openPrivateDatabase(oldPath, SCHEMA).close();
    const old = openPrivateDatabase(oldPath, SCHEMA, { incrementalVacuum: true });
    try {
      expect(old.query<{ auto_vacuum: number }, []>("PRAGMA auto_vacuum").get()!.auto_vacuum).toBe(
        0,
      );
    } finally {
      old.close();
    }
  });
});

/*
 * What start-up pays for a database: a new one's creation flushed the disk six times (the switch
 * to WAL through a rollback journal, then the WAL's header), 1-2 ms each on the benchmarks'
 * machine, on the way to the first /healthz. A file with nothing in it has nothing to lose in a
 * crash, so its creation flushes nothing; from its schema on, commits and checkpoints flush as
 * before. Counted with strace, where the machine has it (.ci/run installs it).
 */
const STRACE = "/usr/bin/strace";
function straceAvailable(): boolean {
  // Installed, and allowed to trace here (a container may forbid ptrace).
  const works =
    existsSync(STRACE) &&
    Bun.spawnSync([STRACE, "-qq", "-e", "trace=none", "true"], { stderr: "ignore" }).exitCode === 0;
  if (works) return true;
  if (process.env.LEVITY_REQUIRE_SHARED === "1")
    throw new Error(
      `private-files.test.ts: LEVITY_REQUIRE_SHARED=1 but ${STRACE} is missing or cannot trace (apt-get install strace)`,
    );
  console.warn(
    `private-files.test.ts: flush counts skipped, ${STRACE} is missing or cannot trace (apt-get install strace)`,
  );
  return false;
}

/** The fsync and fdatasync calls a child made before and after it wrote MARK to stderr. */
function flushesAround(script: string, path: string): { before: number; after: number } {
  const trace = join(scratch(), "trace.txt");
  const child = Bun.spawnSync(
    [
      STRACE,
      "-f",
      "-qq",
      "-e",
      "trace=fsync,fdatasync,write",
      "-o",
      trace,
      process.execPath,
      "-e",
      script,
      path,
    ],
    { stderr: "pipe", stdout: "pipe", env: { ...process.env, NO_COLOR: "1" } },
  );
  expect(child.stderr.toString()).toContain("MARK");
  const lines = readFileSync(trace, "utf8").split("\n");
  const mark = lines.findIndex((line) => line.includes('"MARK'));
  expect(mark).toBeGreaterThan(-1);
  const flushes = (part: string[]) => part.filter((line) => /\bf(data)?sync\(/.test(line)).length;
  return { before: flushes(lines.slice(0, mark)), after: flushes(lines.slice(mark)) };
}

const MODULE = JSON.stringify(join(import.meta.dir, "private-files.ts"));

describe.if(straceAvailable())("a new database's flushes", () => {
  test("its creation flushes nothing; a checkpoint after it flushes as ever", () => {
    // Opened, MARK, a row committed and checkpointed, then killed so that no close adds its own.
    const script = `
      const { openPrivateDatabase } = await import(${MODULE});
      const db = openPrivateDatabase(process.argv[1], ${JSON.stringify(SCHEMA)});
      require("node:fs").writeSync(2, "MARK\\n");
      db.run("INSERT INTO t (k, v) VALUES ('a', 'b')");
      db.run("PRAGMA wal_checkpoint(FULL)");
      process.kill(process.pid, "SIGKILL");`;
    const counts = flushesAround(script, join(scratch(), "new.db"));
    expect(counts.before).toBe(0);
    expect(counts.after).toBeGreaterThan(0);
  });

  test("its first checkpoint, which flushes it, comes a moment later", () => {
    const script = `
      const { openPrivateDatabase } = await import(${MODULE});
      openPrivateDatabase(process.argv[1], ${JSON.stringify(SCHEMA)});
      require("node:fs").writeSync(2, "MARK\\n");
      await Bun.sleep(400);
      process.kill(process.pid, "SIGKILL");`;
    const counts = flushesAround(script, join(scratch(), "soon.db"));
    expect(counts.before).toBe(0);
    expect(counts.after).toBeGreaterThan(0);
  });

  test("opening a database that holds rows flushes nothing, incremental vacuum included", () => {
    const path = join(scratch(), "old.db");
    const db = openPrivateDatabase(path, SCHEMA, { incrementalVacuum: true });
    db.run("INSERT INTO t (k, v) VALUES ('a', 'b')");
    db.close();
    // Setting auto_vacuum again on a file that has it rewrites its header: a commit and flushes.
    const script = `
      const { openPrivateDatabase } = await import(${MODULE});
      openPrivateDatabase(process.argv[1], ${JSON.stringify(SCHEMA)}, { incrementalVacuum: true });
      require("node:fs").writeSync(2, "MARK\\n");
      await Bun.sleep(400);
      process.kill(process.pid, "SIGKILL");`;
    expect(flushesAround(script, path)).toEqual({ before: 0, after: 0 });
  });
});
