/*
 * The link to the store many levity instances share (Redis, `state: redis://…`). Every call has a
 * deadline, so a hung or slow Redis cannot hang a request: a call that fails or times out rejects
 * with SharedUnavailable, marks the link down, and the caller serves from its own local state.
 * While down, calls fail at once (no request waits on a dead store) and the link tries to
 * reconnect in the background, with backoff; when it is back, it says so to its listeners, which
 * reconcile. Host-independent: the host (src/server.ts) supplies the connection.
 */

/** What the host's Redis client must do; Bun's RedisClient does it (src/state/redis-link.ts). */
export interface RedisConnection {
  connect(): Promise<void>;
  send(command: string, args: string[]): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  close(): void;
  /** Called by the connection when it drops. */
  onclose: ((error: Error) => void) | null;
}

export class SharedUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SharedUnavailable";
  }
}

export interface SharedLinkOptions {
  /** Each call's deadline. */
  timeoutMs: number;
  /** The longest wait between reconnection attempts. */
  maxBackoffMs?: number;
  /** For the log: the URL without its password. */
  label: string;
  warn(message: string): void;
  info(message: string): void;
}

export interface SharedLinkStatus {
  up: boolean;
  /** Epoch ms of the last change of state. */
  since: number;
  /** Why it is down, without secrets. */
  reason?: string;
  /** Calls that failed since start (each made the caller fall back to local state). */
  failedCalls: number;
}

export class SharedLink {
  private isUp = false;
  private since = Date.now();
  private reason: string | undefined = "not connected yet";
  private failedCalls = 0;
  private closed = false;
  private reconnecting: ReturnType<typeof setTimeout> | undefined;
  private backoffMs = 100;
  private readonly listeners: ((up: boolean) => void)[] = [];
  private readonly subscriptions: { channel: string; listener: (message: string) => void }[] = [];
  private subscriber: RedisConnection | undefined;

  constructor(
    private readonly open: () => RedisConnection,
    private readonly options: SharedLinkOptions,
  ) {}

  private connection: RedisConnection | undefined;
  /** The SHA-1s of the scripts the current connection's Redis has been sent (see script). */
  private readonly scriptsLoaded = new Set<string>();

  /** Connects once; resolves whether the store answered. A store down at start is retried in the background. */
  async start(): Promise<boolean> {
    return this.attempt();
  }

  private async attempt(): Promise<boolean> {
    if (this.closed) return false;
    try {
      this.connection?.close();
      this.subscriber?.close();
      const connection = this.open();
      const subscriber = this.open();
      connection.onclose = (error) => this.lost(error.message);
      subscriber.onclose = (error) => this.lost(error.message);
      await this.deadline(Promise.all([connection.connect(), subscriber.connect()]), "connecting");
      await this.deadline(connection.send("PING", []), "PING");
      for (const { channel, listener } of this.subscriptions)
        await this.deadline(subscriber.subscribe(channel, listener), `SUBSCRIBE ${channel}`);
      this.connection = connection;
      // A new connection may be to a Redis restarted empty: each script is sent whole once more.
      this.scriptsLoaded.clear();
      this.subscriber = subscriber;
      this.changed(true);
      this.backoffMs = 100;
      return true;
    } catch (error) {
      this.lost((error as Error).message);
      return false;
    }
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.reason = reason.slice(0, 200);
    if (this.isUp) this.changed(false);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnecting || this.closed) return;
    this.reconnecting = setTimeout(() => {
      this.reconnecting = undefined;
      void this.attempt();
    }, this.backoffMs);
    (this.reconnecting as { unref?: () => void }).unref?.();
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 5000);
  }

  private changed(up: boolean): void {
    this.isUp = up;
    this.since = Date.now();
    if (up) {
      this.reason = undefined;
      this.options.info(`shared state ${this.options.label} is reachable`);
    } else
      this.options.warn(
        `shared state ${this.options.label} is unreachable (${this.reason}); serving from this instance's own state until it is back`,
      );
    for (const listener of this.listeners) listener(up);
  }

  private deadline<T>(work: Promise<T>, what: string, ms = this.options.timeoutMs): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SharedUnavailable(`${what} took over ${ms} ms`)), ms);
    });
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  up(): boolean {
    return this.isUp;
  }

  status(): SharedLinkStatus {
    return { up: this.isUp, since: this.since, reason: this.reason, failedCalls: this.failedCalls };
  }

  /** Told each time the store goes down or comes back (to reconcile). */
  onChange(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  /**
   * One command within the deadline (`withinMs`, where it is what is left of one); rejects with
   * SharedUnavailable when the store is down or slow.
   */
  async call(
    command: string,
    args: string[],
    withinMs: number = this.options.timeoutMs,
  ): Promise<unknown> {
    const connection = this.connection;
    if (!this.isUp || !connection) {
      this.failedCalls++;
      throw new SharedUnavailable(`shared state is unreachable (${this.reason})`);
    }
    try {
      return await this.deadline(connection.send(command, args), command, withinMs);
    } catch (error) {
      this.failedCalls++;
      // A reply Redis itself refused (a script error) is not the link's failure.
      if ((error as { code?: string }).code === "ERR_REDIS_SERVER_ERROR") throw error;
      this.lost((error as Error).message);
      throw error instanceof SharedUnavailable
        ? error
        : new SharedUnavailable((error as Error).message);
    }
  }

  /**
   * A Lua script: its source (EVAL) the first time on a connection, which Redis keeps, then its
   * SHA-1 (EVALSHA). Asked by SHA-1 first, a Redis that had not seen the script (one just started,
   * or restarted) cost a second round trip (NOSCRIPT, then EVAL) on a write its client's answer
   * waits for (a stored response), or that goes unawaited (a revoked key) and could then land
   * after its client, already answered, asked another instance for it.
   */
  async script(source: string, sha: string, keys: string[], args: string[]): Promise<unknown> {
    const connection = this.connection;
    if (!this.scriptsLoaded.has(sha)) {
      const result = await this.call("EVAL", [source, String(keys.length), ...keys, ...args]);
      if (this.connection === connection) this.scriptsLoaded.add(sha);
      return result;
    }
    const started = Date.now();
    try {
      return await this.call("EVALSHA", [sha, String(keys.length), ...keys, ...args]);
    } catch (error) {
      // Flushed from Redis's cache since (SCRIPT FLUSH): sent whole again, within what is left of
      // the one deadline (a request that waits for a write waits no longer than timeout_ms).
      if (!/NOSCRIPT/.test((error as Error).message)) throw error;
      const left = Math.max(1, this.options.timeoutMs - (Date.now() - started));
      return this.call("EVAL", [source, String(keys.length), ...keys, ...args], left);
    }
  }

  /** Best effort: a message lost while the store is down is made good by reconciling when it is back. */
  publish(channel: string, message: string): void {
    this.call("PUBLISH", [channel, message]).catch(() => {});
  }

  /** Listens on a channel now and after every reconnection. */
  subscribe(channel: string, listener: (message: string) => void): void {
    this.subscriptions.push({ channel, listener });
    if (this.isUp && this.subscriber)
      this.deadline(this.subscriber.subscribe(channel, listener), `SUBSCRIBE ${channel}`).catch(
        (error: Error) => this.lost(error.message),
      );
  }

  close(): void {
    this.closed = true;
    if (this.reconnecting) clearTimeout(this.reconnecting);
    this.connection?.close();
    this.subscriber?.close();
  }
}

/** The URL as logs may show it: no password. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unreadable URL)";
  }
}
