import { type Logger, RegauthError } from "@regauth/core";
import type { RedisScriptClient } from "@regauth/core/redis";
import type { RedisSection } from "../load-config.js";

/**
 * A node-redis client for a config's `redis` mapping, opened on first use so
 * that building a config (`regauth check`) never connects. Commands sent
 * while it connects wait in node-redis's queue (the stores bound each call
 * with their own timeout); a lost connection is re-established by node-redis.
 */
export interface LazyRedis {
  /** What the stores call: `get` and `eval`, connecting first. */
  readonly client: RedisScriptClient;
  /** `host:port` (never the password), for messages. */
  readonly where: string;
  /** Connects and pings; `ERR_BACKEND_UNAVAILABLE` naming `section` after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** `host:port` of a redis URL, without credentials. */
export function redisWhere(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port === "" ? "6379" : parsed.port}`;
}

export function lazyRedis(redis: RedisSection, section: string, logger: Logger): LazyRedis {
  const where = redisWhere(redis.url);
  type Client = ReturnType<typeof import("redis").createClient>;
  let opened: Promise<Client> | undefined;
  let client: Client | undefined;
  let lastError: string | undefined;
  let closed = false;

  function open(): Promise<Client> {
    opened ??= (async () => {
      // Loaded only when configured: no Redis client in a server without it.
      const { createClient } = await import("redis");
      if (closed) throw new Error("closed");
      const made: Client = createClient({ url: redis.url, socket: { connectTimeout: 5_000 } });
      client = made;
      made.on("error", (error: Error) => {
        const message = error.message;
        if (message !== lastError) {
          logger.warn({ section, redis: where, reason: message }, "redis connection failed");
        }
        lastError = message;
      });
      // Not awaited: commands queue until the connection is up (or the store's timeout).
      made.connect().catch(() => undefined);
      return made;
    })();
    return opened;
  }

  return {
    where,
    client: {
      async get(key) {
        return (await open()).get(key);
      },
      async eval(script, options) {
        return (await open()).eval(script, options);
      },
    },
    async ready(timeoutMs = 5_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          open().then((made) => made.ping()),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } catch (error) {
        const reason = lastError ?? (error instanceof Error ? error.message : String(error));
        throw new RegauthError(
          "ERR_BACKEND_UNAVAILABLE",
          `${section}: cannot reach redis at ${where} (${reason})`,
          { cause: error },
        );
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      if (opened === undefined) return;
      await opened.catch(() => undefined);
      if (client === undefined) return;
      if (client.isReady) await client.close().catch(() => client?.destroy());
      else if (client.isOpen) client.destroy();
    },
  };
}
