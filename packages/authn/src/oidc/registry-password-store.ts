import type { Labels } from "@regauth/core";

/**
 * One registry password issued after an OpenID Connect sign-in, as a
 * {@link RegistryPasswordStore} keeps it. The password itself is never kept.
 *
 * - `id`: a random public handle (22 base64url characters), the key of the record.
 * - `account`: the registry account (the account claim, `email` by default).
 * - `hash`: base64url SHA-256 of the password (43 characters).
 * - `labels`: the labels from the label claims, handed to the authorizers.
 * - `subject`: the provider's `sub` for the user, checked again at each re-check.
 * - `refreshToken`: the provider's refresh token, sealed (AES-256-GCM with a
 *   key derived from `cookieSecret`); absent when the provider issued none,
 *   and then the password is never re-checked, only expires.
 * - `issuedAt`, `expiresAt`, `checkedAt`: milliseconds since the epoch;
 *   `checkedAt` is the last time the provider accepted the user.
 */
export interface RegistryPasswordRecord {
  readonly id: string;
  readonly account: string;
  readonly hash: string;
  readonly labels: Labels;
  readonly subject: string;
  readonly refreshToken?: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly checkedAt: number;
}

/**
 * What a re-check at the provider changes in a record
 * ({@link RegistryPasswordStore.update}): the labels from the fresh claims,
 * the time of the check, and the refresh token when the provider rotated it.
 */
export interface RegistryPasswordUpdate {
  readonly labels: Labels;
  readonly checkedAt: number;
  readonly refreshToken?: string;
}

/**
 * Keeps the registry passwords of `createOidcLogin`. Implementations:
 * {@link createMemoryRegistryPasswordStore} (one process, the default),
 * {@link createRedisRegistryPasswordStore} and
 * {@link createMongoRegistryPasswordStore} (both shared by several instances).
 * A backend fault is thrown; the token request then ends with 503.
 *
 * @example
 * const login = createOidcLogin({ ...options, store: createMemoryRegistryPasswordStore() });
 */
export interface RegistryPasswordStore {
  /** Keeps `record` under `record.id` until `record.expiresAt`, indexed by `record.account`. */
  save(record: RegistryPasswordRecord): Promise<void>;
  /** The live (not expired, not revoked) records of `account`, oldest first. */
  list(account: string): Promise<RegistryPasswordRecord[]>;
  /** Applies a re-check's result to record `id`; resolves `false` when it is gone. */
  update(id: string, changes: RegistryPasswordUpdate): Promise<boolean>;
  /** Forgets record `id`; resolves `true` when it was there. */
  revoke(id: string): Promise<boolean>;
  /** Forgets every record of `account`; resolves how many there were. */
  revokeAccount(account: string): Promise<number>;
  /** Releases timers and connections the store owns. Optional. */
  close?(): Promise<void>;
}
