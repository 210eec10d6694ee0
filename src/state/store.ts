import type { Opaque, Part, Turn } from "../ir.ts";

/*
 * What must outlive one request: stored Responses (for previous_response_id) and the opaque state
 * of tool calls (thinking signatures and Gemini thought signatures) for clients whose dialect
 * cannot carry it. An interface, so a host without bun:sqlite can supply its own.
 */

export interface StoredResponse {
  id: string;
  previousId?: string;
  model: string;
  /** The turns this request added (its input). */
  input: Turn[];
  /** The assistant's answer. */
  output: Part[];
}

/** The opaque state an assistant turn carried with a tool call, keyed by the call's id. */
export interface ToolCallState {
  signature?: Opaque;
  /** The signed thinking that preceded the call in its turn. */
  thinking: Part[];
}

/** What an account's health must keep across a restart: cooldowns with their expiry, and why it is disabled. */
export interface AccountRecord {
  upstream: string;
  account: string;
  /** SHA-256 of the key the state belongs to: a new key starts afresh. Never the key itself. */
  keyDigest: string;
  cooldownUntil: number;
  modelCooldowns: Record<string, number>;
  consecutiveFailures: number;
  disabledReason?: string;
}

/**
 * A save's copy on its way to a store other instances read (shared-store.ts): settled, never
 * rejected, once it is there or could not be written. A save with none returns nothing.
 */
export type SharedWrite = Promise<void> | undefined;

/** Two saves' writes as one, settled when both are. */
export function bothWritten(one: SharedWrite, other: SharedWrite): SharedWrite {
  if (!one) return other;
  if (!other) return one;
  return Promise.all([one, other]).then(nothingMore);
}

function nothingMore(): void {}

export interface StateStore {
  /**
   * Stores a new response; an id already stored is an error, never an overwrite. Where the store
   * is shared, its write to the others: the client is answered after it, or another instance it
   * asks next could miss what this one just answered.
   */
  saveResponse(response: StoredResponse): SharedWrite;
  /** The whole conversation up to and including a stored response, or undefined if it is not stored. */
  conversation(id: string): Turn[] | undefined;
  hasResponse(id: string): boolean;
  /** As saveResponse: where the store is shared, its write to the others. */
  saveToolCall(callId: string, state: ToolCallState): SharedWrite;
  toolCall(callId: string): ToolCallState | undefined;
  saveAccount(record: AccountRecord): void;
  accounts(): AccountRecord[];
  /**
   * Only where the store is shared with other instances (shared-store.ts): brings a stored
   * response's conversation and tool calls another instance saved into this one, before the
   * request reads them synchronously. Absent on a store of one instance's own.
   */
  recall?(previousResponseId: string | undefined, callIds: readonly string[]): Promise<void>;
  close(): void;
}

/** For tests and hosts without persistence: the same contract, in memory. */
export function memoryStore(): StateStore {
  const responses = new Map<string, StoredResponse>();
  const calls = new Map<string, ToolCallState>();
  const accounts = new Map<string, AccountRecord>();
  return {
    saveResponse(response) {
      // As in SQLite: a stored response is never replaced.
      if (responses.has(response.id))
        throw new Error(`a response with id ${response.id} is already stored`);
      responses.set(response.id, structuredClone(response));
    },
    conversation: (id) => rebuild(id, (key) => responses.get(key)),
    hasResponse: (id) => responses.has(id),
    saveToolCall: (callId, state) => void calls.set(callId, structuredClone(state)),
    toolCall: (callId) => calls.get(callId),
    saveAccount: (record) =>
      void accounts.set(`${record.upstream}/${record.account}`, structuredClone(record)),
    accounts: () => [...accounts.values()],
    close() {},
  };
}

// A chain longer than this is a cycle or a runaway session; the history is cut there.
const MAX_CHAIN = 10_000;

/** Walks previous ids back to the start of the conversation, then replays input and output in order. */
export function rebuild(
  id: string,
  load: (id: string) => StoredResponse | undefined,
): Turn[] | undefined {
  const chain: StoredResponse[] = [];
  let next: string | undefined = id;
  while (next !== undefined && chain.length < MAX_CHAIN) {
    const record = load(next);
    if (!record) {
      if (chain.length === 0) return undefined;
      break;
    }
    chain.push(record);
    next = record.previousId;
  }
  const turns: Turn[] = [];
  for (const record of chain.reverse()) {
    turns.push(...record.input);
    turns.push({ role: "assistant", parts: record.output });
  }
  return turns;
}
