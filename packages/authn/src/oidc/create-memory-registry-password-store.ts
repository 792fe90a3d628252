import { parseOptions } from "@regauth/core";
import { z } from "zod";
import type { RegistryPasswordRecord, RegistryPasswordStore } from "./registry-password-store.js";

/** Default {@link MemoryRegistryPasswordStoreOptions.maxRecords}. */
export const DEFAULT_MAX_MEMORY_REGISTRY_PASSWORDS = 100_000;

/**
 * Options of {@link createMemoryRegistryPasswordStore}.
 *
 * - `maxRecords`: most passwords kept. When full, expired ones are dropped
 *   first, then the oldest (their holders must sign in again). Default 100 000.
 * - `clock`: current time in milliseconds since the epoch. Default `Date.now`.
 */
export interface MemoryRegistryPasswordStoreOptions {
  readonly maxRecords?: number;
  readonly clock?: () => number;
}

const optionsSchema = z.strictObject({
  maxRecords: z.number().int().min(1).default(DEFAULT_MAX_MEMORY_REGISTRY_PASSWORDS),
  clock: z
    .custom<() => number>((value) => typeof value === "function", "expected a function")
    .default(() => Date.now),
});

/**
 * A {@link RegistryPasswordStore} in this process's memory: the default of
 * `createOidcLogin`. Passwords are lost on restart (users sign in again) and
 * not shared with other instances; use {@link createRedisRegistryPasswordStore}
 * behind a load balancer.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` for bad options.
 *
 * @example
 * const store = createMemoryRegistryPasswordStore({ maxRecords: 10_000 });
 */
export function createMemoryRegistryPasswordStore(
  options: MemoryRegistryPasswordStoreOptions = {},
): RegistryPasswordStore {
  const config = parseOptions(optionsSchema, options);
  // Insertion order is age order.
  const records = new Map<string, RegistryPasswordRecord>();
  const byAccount = new Map<string, Set<string>>();

  function forget(id: string): boolean {
    const record = records.get(id);
    if (record === undefined) return false;
    records.delete(id);
    const ids = byAccount.get(record.account);
    ids?.delete(id);
    if (ids?.size === 0) byAccount.delete(record.account);
    return true;
  }

  function makeRoom(): void {
    const now = config.clock();
    for (const [id, record] of records) if (record.expiresAt <= now) forget(id);
    for (const id of records.keys()) {
      if (records.size < config.maxRecords) break;
      forget(id);
    }
  }

  return {
    async save(record) {
      forget(record.id);
      if (records.size >= config.maxRecords) makeRoom();
      records.set(record.id, record);
      let ids = byAccount.get(record.account);
      if (ids === undefined) {
        ids = new Set();
        byAccount.set(record.account, ids);
      }
      ids.add(record.id);
    },
    async list(account) {
      const now = config.clock();
      const live: RegistryPasswordRecord[] = [];
      for (const id of [...(byAccount.get(account) ?? [])]) {
        const record = records.get(id);
        if (record === undefined) continue;
        if (record.expiresAt <= now) forget(id);
        else live.push(record);
      }
      return live.sort((a, b) => a.issuedAt - b.issuedAt);
    },
    async update(id, changes) {
      const record = records.get(id);
      if (record === undefined || record.expiresAt <= config.clock()) return false;
      const { refreshToken, ...rest } = changes;
      records.set(id, {
        ...record,
        ...rest,
        ...(refreshToken === undefined ? {} : { refreshToken }),
      });
      return true;
    },
    async revoke(id) {
      return forget(id);
    },
    async revokeAccount(account) {
      let gone = 0;
      for (const id of [...(byAccount.get(account) ?? [])]) if (forget(id)) gone++;
      return gone;
    },
  };
}
