import { parseOptions, RegauthError } from "@regauth/core";
import type { RedisScriptClient } from "@regauth/core/redis";
import { z } from "zod";
import type { RegistryPasswordRecord, RegistryPasswordStore } from "./registry-password-store.js";

/** Default {@link RedisRegistryPasswordStoreOptions.keyPrefix}. */
export const DEFAULT_REDIS_PASSWORD_KEY_PREFIX = "regauth:oidc:";
/** Default {@link RedisRegistryPasswordStoreOptions.timeoutMs}. */
export const DEFAULT_REDIS_PASSWORD_TIMEOUT_MS = 2_000;

/**
 * Options of {@link createRedisRegistryPasswordStore}.
 *
 * - `client`: a connected node-redis client, or any object with its `get`
 *   and `eval` (`RedisScriptClient` from `@regauth/core/redis`); the caller
 *   opens and closes it. Required.
 * - `keyPrefix`: prepended to every key. Default `"regauth:oidc:"`. Keys:
 *   `<prefix>p:<id>` (the record as JSON, expiring with the password) and
 *   `<prefix>a:<account>` (a set of the account's record ids).
 * - `timeoutMs`: how long one store call may take, in milliseconds, before
 *   the request fails with 503. Default 2 000.
 */
export interface RedisRegistryPasswordStoreOptions {
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
  keyPrefix: z.string().max(200).default(DEFAULT_REDIS_PASSWORD_KEY_PREFIX),
  timeoutMs: z.number().int().min(1).max(60_000).default(DEFAULT_REDIS_PASSWORD_TIMEOUT_MS),
});

// KEYS: record, account set. ARGV: record JSON, lifetime ms, id.
const SAVE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1`;
// KEYS: account set. ARGV: record key prefix. Returns the live records' JSON; drops ids whose record expired.
const LIST = `
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local value = redis.call('GET', ARGV[1] .. id)
  if value then table.insert(out, value) else redis.call('SREM', KEYS[1], id) end
end
return out`;
// KEYS: record. ARGV: new JSON. Only an existing record is replaced, keeping its expiry.
const UPDATE = `
local done = redis.call('SET', KEYS[1], ARGV[1], 'XX', 'KEEPTTL')
if done then return 1 else return 0 end`;
// KEYS: record, account set. ARGV: id.
const REVOKE = `
local gone = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return gone`;
// KEYS: account set. ARGV: record key prefix.
const REVOKE_ACCOUNT = `
local gone = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  gone = gone + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return gone`;

function parseRecord(text: unknown): RegistryPasswordRecord | undefined {
  if (typeof text !== "string") return undefined;
  const value = JSON.parse(text) as Partial<RegistryPasswordRecord>;
  if (
    typeof value.id !== "string" ||
    typeof value.account !== "string" ||
    typeof value.hash !== "string" ||
    typeof value.subject !== "string" ||
    typeof value.issuedAt !== "number" ||
    typeof value.expiresAt !== "number" ||
    typeof value.checkedAt !== "number" ||
    typeof value.labels !== "object" ||
    value.labels === null ||
    (value.refreshToken !== undefined && typeof value.refreshToken !== "string")
  ) {
    throw new Error("malformed registry password record");
  }
  return value as RegistryPasswordRecord;
}

/**
 * A {@link RegistryPasswordStore} in Redis, shared by every instance: a
 * password issued by one is accepted, re-checked or revoked by another.
 * Records expire in Redis with their passwords; writes are Lua scripts, so
 * each is atomic, and a re-check never brings back a revoked record. As with
 * the refresh-token store, the account index lives in another hash slot than
 * the records: use a single Redis (or Sentinel), not Redis Cluster.
 *
 * Store calls that fail or take longer than `timeoutMs` throw
 * `ERR_BACKEND_UNAVAILABLE` (503).
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` for bad options.
 *
 * @example
 * import { createClient } from "redis";
 * const client = await createClient({ url: "redis://127.0.0.1:6379" }).connect();
 * const store = createRedisRegistryPasswordStore({ client });
 */
export function createRedisRegistryPasswordStore(
  options: RedisRegistryPasswordStoreOptions,
): RegistryPasswordStore {
  const { client, keyPrefix, timeoutMs } = parseOptions(optionsSchema, options);
  const recordPrefix = `${keyPrefix}p:`;
  const recordKey = (id: string) => `${recordPrefix}${id}`;
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
        `registry password store (redis) failed to ${what}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async save(record) {
      const lifetimeMs = Math.max(1, Math.ceil(record.expiresAt - record.issuedAt));
      await call("save", () =>
        client.eval(SAVE, {
          keys: [recordKey(record.id), accountKey(record.account)],
          arguments: [JSON.stringify(record), String(lifetimeMs), record.id],
        }),
      );
    },
    async list(account) {
      return call("read", async () => {
        const values = await client.eval(LIST, {
          keys: [accountKey(account)],
          arguments: [recordPrefix],
        });
        if (!Array.isArray(values)) throw new Error("unexpected answer to the list script");
        return values
          .map(parseRecord)
          .filter((record): record is RegistryPasswordRecord => record !== undefined)
          .sort((a, b) => a.issuedAt - b.issuedAt);
      });
    },
    async update(id, changes) {
      return call("update", async () => {
        const record = parseRecord(await client.get(recordKey(id)));
        if (record === undefined) return false;
        const { refreshToken, ...rest } = changes;
        const next = {
          ...record,
          ...rest,
          ...(refreshToken === undefined ? {} : { refreshToken }),
        };
        const done = await client.eval(UPDATE, {
          keys: [recordKey(id)],
          arguments: [JSON.stringify(next)],
        });
        return Number(done) > 0;
      });
    },
    async revoke(id) {
      return call("revoke", async () => {
        const record = parseRecord(await client.get(recordKey(id)));
        if (record === undefined) return false;
        const gone = await client.eval(REVOKE, {
          keys: [recordKey(id), accountKey(record.account)],
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
            arguments: [recordPrefix],
          }),
        ),
      );
    },
  };
}
