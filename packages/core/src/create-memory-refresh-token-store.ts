import { z } from "zod";
import { parseOptions } from "./parse-options.js";
import type { RefreshTokenRecord, RefreshTokenStore } from "./refresh-token-store.js";

/** Default {@link MemoryRefreshTokenStoreOptions.maxTokens}. */
export const DEFAULT_MAX_MEMORY_REFRESH_TOKENS = 100_000;

/**
 * Options of {@link createMemoryRefreshTokenStore}.
 *
 * - `maxTokens`: most tokens kept. When full, expired tokens are dropped first,
 *   then the oldest ones (their holders must log in again). Default 100 000.
 * - `clock`: current time in milliseconds since the epoch. Default `Date.now`.
 */
export interface MemoryRefreshTokenStoreOptions {
  readonly maxTokens?: number;
  readonly clock?: () => number;
}

const optionsSchema = z.strictObject({
  maxTokens: z.number().int().min(1).default(DEFAULT_MAX_MEMORY_REFRESH_TOKENS),
  clock: z
    .custom<() => number>((value) => typeof value === "function", "expected a function")
    .default(() => Date.now),
});

/**
 * A {@link RefreshTokenStore} in this process's memory: the default of
 * {@link createRefreshTokens}. Tokens are lost on restart and not shared with
 * other instances; use `createRedisRefreshTokenStore` (`@regauth/core/redis`)
 * behind a load balancer.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` for bad options.
 *
 * @example
 * const store = createMemoryRefreshTokenStore({ maxTokens: 10_000 });
 */
export function createMemoryRefreshTokenStore(
  options: MemoryRefreshTokenStoreOptions = {},
): RefreshTokenStore {
  const config = parseOptions(optionsSchema, options);
  // Insertion order is age order: the first entries are the oldest.
  const tokens = new Map<string, RefreshTokenRecord>();
  const byAccount = new Map<string, Set<string>>();

  function forget(id: string): boolean {
    const record = tokens.get(id);
    if (record === undefined) return false;
    tokens.delete(id);
    const ids = byAccount.get(record.account);
    ids?.delete(id);
    if (ids?.size === 0) byAccount.delete(record.account);
    return true;
  }

  function makeRoom(): void {
    const now = config.clock();
    for (const [id, record] of tokens) {
      if (record.expiresAt <= now) forget(id);
    }
    for (const id of tokens.keys()) {
      if (tokens.size < config.maxTokens) break;
      forget(id);
    }
  }

  return {
    async save(id, record) {
      forget(id);
      if (tokens.size >= config.maxTokens) makeRoom();
      tokens.set(id, record);
      let ids = byAccount.get(record.account);
      if (ids === undefined) {
        ids = new Set();
        byAccount.set(record.account, ids);
      }
      ids.add(id);
    },
    async find(id) {
      const record = tokens.get(id);
      if (record === undefined) return undefined;
      if (record.expiresAt <= config.clock()) {
        forget(id);
        return undefined;
      }
      return record;
    },
    async revoke(id) {
      return forget(id);
    },
    async revokeAccount(account) {
      const now = config.clock();
      let live = 0;
      for (const id of [...(byAccount.get(account) ?? [])]) {
        if ((tokens.get(id)?.expiresAt ?? 0) > now) live++;
        forget(id);
      }
      return live;
    },
  };
}
