import { type RedisConnection, SharedLink, type SharedLinkOptions } from "./shared-link.ts";

/** Bun's built-in Redis client as the shared link's connection: no extra dependency. */
export function openRedisLink(url: string, options: SharedLinkOptions): SharedLink {
  return new SharedLink(() => {
    // Bun.RedisClient, not an import of it: only an instance with shared state loads it.
    const client = new Bun.RedisClient(url, {
      connectionTimeout: options.timeoutMs,
      // The link reconnects itself, with backoff, and fails calls at once while down.
      autoReconnect: false,
      enableOfflineQueue: false,
    });
    const connection: RedisConnection = {
      connect: () => client.connect(),
      send: (command, args) => client.send(command, args),
      publish: (channel, message) => client.publish(channel, message),
      subscribe: (channel, listener) => client.subscribe(channel, (message) => listener(message)),
      close: () => client.close(),
      onclose: null,
    };
    client.onclose = (error) => connection.onclose?.(error);
    return connection;
  }, options);
}
