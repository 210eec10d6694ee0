import { openPrivateDatabase } from "./private-files.ts";
import {
  rebuild,
  type AccountRecord,
  type StateStore,
  type StoredResponse,
  type ToolCallState,
} from "./store.ts";

const RETENTION_DAYS = 30;
const DAY_MS = 86_400_000;
/**
 * Stored conversations, at most: past it the oldest go first, down to nine tenths of it, so that
 * a few huge requests cannot fill the disk (five 30 MB requests once made a 345 MB file).
 */
export const STORED_RESPONSES_MAX_BYTES = 256 * 1024 * 1024;

/** The state store in SQLite (WAL), so previous_response_id and signatures survive a restart. */
export function openSqliteStore(
  path: string,
  options: { maxResponseBytes?: number } = {},
): StateStore {
  const maxBytes = options.maxResponseBytes ?? STORED_RESPONSES_MAX_BYTES;
  const db = openPrivateDatabase(
    path,
    `
    CREATE TABLE IF NOT EXISTS responses (
      id TEXT PRIMARY KEY, previous_id TEXT, model TEXT NOT NULL, input TEXT NOT NULL, output TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS tool_calls (
      call_id TEXT PRIMARY KEY, state TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS accounts (
      upstream TEXT NOT NULL, account TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (upstream, account));
  `,
  );
  const upsertAccount = db.prepare(
    "INSERT OR REPLACE INTO accounts (upstream, account, record) VALUES ($upstream, $account, $record)",
  );
  const selectAccounts = db.prepare<{ record: string }, []>("SELECT record FROM accounts");
  // A plain INSERT: a response id is levity's own and random, so a second row under one id is a bug, and failing loudly beats overwriting a conversation.
  const insertResponse = db.prepare(
    "INSERT INTO responses (id, previous_id, model, input, output, created_at) VALUES ($id, $previous, $model, $input, $output, $at)",
  );
  const selectResponse = db.prepare<
    { id: string; previous_id: string | null; model: string; input: string; output: string },
    { id: string }
  >("SELECT id, previous_id, model, input, output FROM responses WHERE id = $id");
  const insertCall = db.prepare(
    "INSERT OR REPLACE INTO tool_calls (call_id, state, created_at) VALUES ($id, $state, $at)",
  );
  const selectCall = db.prepare<{ state: string }, { id: string }>(
    "SELECT state FROM tool_calls WHERE call_id = $id",
  );
  const prune = () => {
    const cutoff = Date.now() - RETENTION_DAYS * DAY_MS;
    db.prepare("DELETE FROM responses WHERE created_at < $cutoff").run({ cutoff });
    db.prepare("DELETE FROM tool_calls WHERE created_at < $cutoff").run({ cutoff });
  };
  prune();
  const pruning = setInterval(() => {
    prune();
    storedBytes = sizeOf.get()?.n ?? 0;
  }, DAY_MS);

  // Sizes in characters of the stored JSON: near enough to bytes for a bound.
  const sizeOf = db.prepare<{ n: number }, []>(
    "SELECT COALESCE(SUM(length(input) + length(output)), 0) AS n FROM responses",
  );
  const oldest = db.prepare<{ id: string; n: number }, []>(
    "SELECT id, length(input) + length(output) AS n FROM responses ORDER BY created_at, rowid",
  );
  const deleteResponse = db.prepare("DELETE FROM responses WHERE id = $id");
  let storedBytes = sizeOf.get()?.n ?? 0;
  const trim = db.transaction(() => {
    for (const row of oldest.all()) {
      if (storedBytes <= maxBytes * 0.9) break;
      deleteResponse.run({ id: row.id });
      storedBytes -= row.n;
    }
  });
  pruning.unref?.();

  const load = (id: string): StoredResponse | undefined => {
    const row = selectResponse.get({ id });
    if (!row) return undefined;
    return {
      id: row.id,
      previousId: row.previous_id ?? undefined,
      model: row.model,
      input: JSON.parse(row.input),
      output: JSON.parse(row.output),
    };
  };
  return {
    saveResponse(response) {
      const input = JSON.stringify(response.input);
      const output = JSON.stringify(response.output);
      insertResponse.run({
        id: response.id,
        previous: response.previousId ?? null,
        model: response.model,
        input,
        output,
        at: Date.now(),
      });
      storedBytes += input.length + output.length;
      if (storedBytes > maxBytes) trim();
    },
    conversation: (id) => rebuild(id, load),
    hasResponse: (id) => selectResponse.get({ id }) !== null,
    saveToolCall(callId: string, state: ToolCallState) {
      insertCall.run({ id: callId, state: JSON.stringify(state), at: Date.now() });
    },
    toolCall(callId) {
      const row = selectCall.get({ id: callId });
      return row ? (JSON.parse(row.state) as ToolCallState) : undefined;
    },
    saveAccount(record: AccountRecord) {
      upsertAccount.run({
        upstream: record.upstream,
        account: record.account,
        record: JSON.stringify(record),
      });
    },
    accounts: () => selectAccounts.all().map((row) => JSON.parse(row.record) as AccountRecord),
    close() {
      clearInterval(pruning);
      db.close();
    },
  };
}
