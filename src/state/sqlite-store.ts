import { Database } from "bun:sqlite";
import { preparePrivateDatabase } from "./private-files.ts";
import { rebuild, type AccountRecord, type StateStore, type StoredResponse, type ToolCallState } from "./store.ts";

const RETENTION_DAYS = 30;
const DAY_MS = 86_400_000;

/** The state store in SQLite (WAL), so previous_response_id and signatures survive a restart. */
export function openSqliteStore(path: string): StateStore {
  preparePrivateDatabase(path);
  const db = new Database(path, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;");
  db.exec(`
    CREATE TABLE IF NOT EXISTS responses (
      id TEXT PRIMARY KEY, previous_id TEXT, model TEXT NOT NULL, input TEXT NOT NULL, output TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS tool_calls (
      call_id TEXT PRIMARY KEY, state TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS accounts (
      upstream TEXT NOT NULL, account TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (upstream, account));
  `);
  const upsertAccount = db.prepare("INSERT OR REPLACE INTO accounts (upstream, account, record) VALUES ($upstream, $account, $record)");
  const selectAccounts = db.prepare<{ record: string }, []>("SELECT record FROM accounts");
  // A plain INSERT: a response id is levity's own and random, so a second row under one id is a bug, and failing loudly beats overwriting a conversation.
  const insertResponse = db.prepare("INSERT INTO responses (id, previous_id, model, input, output, created_at) VALUES ($id, $previous, $model, $input, $output, $at)");
  const selectResponse = db.prepare<{ id: string; previous_id: string | null; model: string; input: string; output: string }, { id: string }>("SELECT id, previous_id, model, input, output FROM responses WHERE id = $id");
  const insertCall = db.prepare("INSERT OR REPLACE INTO tool_calls (call_id, state, created_at) VALUES ($id, $state, $at)");
  const selectCall = db.prepare<{ state: string }, { id: string }>("SELECT state FROM tool_calls WHERE call_id = $id");
  const prune = () => {
    const cutoff = Date.now() - RETENTION_DAYS * DAY_MS;
    db.prepare("DELETE FROM responses WHERE created_at < $cutoff").run({ cutoff });
    db.prepare("DELETE FROM tool_calls WHERE created_at < $cutoff").run({ cutoff });
  };
  prune();
  const pruning = setInterval(prune, DAY_MS);
  pruning.unref?.();

  const load = (id: string): StoredResponse | undefined => {
    const row = selectResponse.get({ id });
    if (!row) return undefined;
    return { id: row.id, previousId: row.previous_id ?? undefined, model: row.model, input: JSON.parse(row.input), output: JSON.parse(row.output) };
  };
  return {
    saveResponse(response) {
      insertResponse.run({ id: response.id, previous: response.previousId ?? null, model: response.model, input: JSON.stringify(response.input), output: JSON.stringify(response.output), at: Date.now() });
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
      upsertAccount.run({ upstream: record.upstream, account: record.account, record: JSON.stringify(record) });
    },
    accounts: () => selectAccounts.all().map((row) => JSON.parse(row.record) as AccountRecord),
    close() {
      clearInterval(pruning);
      db.close();
    },
  };
}
