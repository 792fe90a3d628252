import { z } from "zod";
import { RegauthError } from "../errors.js";
import { parseOptions } from "../parse-options.js";
import type { RefreshTokenRecord, RefreshTokenStore } from "../refresh-token-store.js";

/**
 * The two commands the Redis store sends, as node-redis (`redis` on npm, v4
 * and later) spells them: `get(key)` and `eval(script, { keys, arguments })`.
 * A connected node-redis client fits as it is; wrap another client in an
 * object with these two methods.
 */
export interface RedisScriptClient {
  get(key: string): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** Default {@link RedisRefreshTokenStoreOptions.keyPrefix}. */
export const DEFAULT_REDIS_KEY_PREFIX = "regauth:refresh:";
/** Default {@link RedisRefreshTokenStoreOptions.timeoutMs}. */
export const DEFAULT_REDIS_TIMEOUT_MS = 2_000;

/**
 * Options of {@link createRedisRefreshTokenStore}.
 *
 * - `client`: a connected client (see {@link RedisScriptClient}); the caller
 *   opens and closes it. Required.
 * - `keyPrefix`: prepended to every key. Default `"regauth:refresh:"`. Keys:
 *   `<prefix>t:<id>` (the record as JSON, expiring with the token) and
 *   `<prefix>a:<account>` (a set of the account's token ids).
 * - `timeoutMs`: how long one store call may take, in milliseconds, before
 *   the token request is answered 503. Default 2 000. (node-redis queues
 *   commands while disconnected; this bounds the wait.)
 */
export interface RedisRefreshTokenStoreOptions {
  readonly client: RedisScriptClient;
  readonly keyPrefix?: string;
  readonly timeoutMs?: number;
}

const optionsSchema = z.strictObject({
  client: z.custom<RedisScriptClient>(
    (value) =>
      typeof value === "object" &&
      value !== null &&
      typeof (value as Record<string, unknown>).get === "function" &&
      typeof (value as Record<string, unknown>).eval === "function",
    "expected a connected Redis client with get and eval (node-redis)",
  ),
  keyPrefix: z.string().max(200).default(DEFAULT_REDIS_KEY_PREFIX),
  timeoutMs: z.number().int().min(1).max(60_000).default(DEFAULT_REDIS_TIMEOUT_MS),
});

// KEYS: token, account set. ARGV: record JSON, lifetime ms, id.
const SAVE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1`;
// KEYS: token, account set. ARGV: id.
const REVOKE = `
local gone = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return gone`;
// KEYS: account set. ARGV: token key prefix.
const REVOKE_ACCOUNT = `
local gone = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  gone = gone + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return gone`;

function parseRecord(text: unknown): RefreshTokenRecord | undefined {
  if (typeof text !== "string") return undefined;
  const value = JSON.parse(text) as Partial<RefreshTokenRecord>;
  if (
    typeof value.account !== "string" ||
    typeof value.service !== "string" ||
    typeof value.clientId !== "string" ||
    typeof value.issuedAt !== "number" ||
    typeof value.expiresAt !== "number" ||
    typeof value.labels !== "object" ||
    value.labels === null
  ) {
    throw new Error("malformed refresh token record");
  }
  return value as RefreshTokenRecord;
}

/**
 * A {@link RefreshTokenStore} in Redis, shared by every instance of a token
 * server: a token issued by one is redeemed or revoked by another. Records
 * expire in Redis with their tokens. Saves and revocations are Lua scripts,
 * so each is atomic. The account index puts an account's keys in other hash
 * slots than its tokens: use a single Redis (or Sentinel), not Redis Cluster.
 *
 * Store calls that fail or take longer than `timeoutMs` throw
 * `ERR_BACKEND_UNAVAILABLE` (the token request gets 503).
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` for bad options.
 *
 * @example
 * import { createClient } from "redis";
 * import { createRefreshTokens } from "@regauth/core";
 * import { createRedisRefreshTokenStore } from "@regauth/core/redis";
 * const client = await createClient({ url: "redis://127.0.0.1:6379" }).connect();
 * const refreshTokens = createRefreshTokens({ store: createRedisRefreshTokenStore({ client }) });
 */
export function createRedisRefreshTokenStore(
  options: RedisRefreshTokenStoreOptions,
): RefreshTokenStore {
  const { client, keyPrefix, timeoutMs } = parseOptions(optionsSchema, options);
  const tokenKey = (id: string) => `${keyPrefix}t:${id}`;
  const accountKey = (account: string) => `${keyPrefix}a:${account}`;

  async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (error) {
      throw new RegauthError(
        "ERR_BACKEND_UNAVAILABLE",
        `refresh token store (redis) failed to ${what}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async save(id, record) {
      const lifetimeMs = Math.max(1, Math.ceil(record.expiresAt - record.issuedAt));
      await call("save", () =>
        client.eval(SAVE, {
          keys: [tokenKey(id), accountKey(record.account)],
          arguments: [JSON.stringify(record), String(lifetimeMs), id],
        }),
      );
    },
    async find(id) {
      return call("read", async () => parseRecord(await client.get(tokenKey(id))));
    },
    async revoke(id) {
      return call("revoke", async () => {
        const record = parseRecord(await client.get(tokenKey(id)));
        if (record === undefined) return false;
        const gone = await client.eval(REVOKE, {
          keys: [tokenKey(id), accountKey(record.account)],
          arguments: [id],
        });
        return Number(gone) > 0;
      });
    },
    async revokeAccount(account) {
      return call("revoke", async () =>
        Number(
          await client.eval(REVOKE_ACCOUNT, {
            keys: [accountKey(account)],
            arguments: [`${keyPrefix}t:`],
          }),
        ),
      );
    },
  };
}
