import type { Labels } from "./model.js";

/**
 * What a refresh token stands for, as a {@link RefreshTokenStore} keeps it.
 *
 * - `account`: the account that logged in (never `""`: anonymous requests get
 *   no refresh token).
 * - `service`: the service (token audience) it was issued for; it is refused
 *   for any other.
 * - `clientId`: the `client_id` of the request that got it, `""` when the
 *   client sent none; it is refused with any other `client_id`.
 * - `labels`: what the authenticator attached at login, handed to the
 *   authorizers on every use (the password is not kept, so the
 *   authenticators cannot run again).
 * - `issuedAt`, `expiresAt`: milliseconds since the epoch.
 */
export interface RefreshTokenRecord {
  readonly account: string;
  readonly service: string;
  readonly clientId: string;
  readonly labels: Labels;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/**
 * Keeps refresh tokens for {@link createRefreshTokens}. A store never sees a
 * token itself, only its `id`: the base64url SHA-256 of the token (43
 * characters), so a dump of the store cannot be replayed.
 *
 * Implementations: {@link createMemoryRefreshTokenStore} (one process) and
 * `createRedisRefreshTokenStore` from `@regauth/core/redis` (several
 * instances). A backend fault is thrown; the token request then ends with 503.
 *
 * @example
 * const tokens = createRefreshTokens({ store: createMemoryRefreshTokenStore() });
 */
export interface RefreshTokenStore {
  /**
   * Keeps `record` under `id` until `record.expiresAt`, indexed by
   * `record.account` for {@link RefreshTokenStore.revokeAccount}.
   */
  save(id: string, record: RefreshTokenRecord): Promise<void>;
  /** The record under `id`, or `undefined` when unknown, revoked or expired. */
  find(id: string): Promise<RefreshTokenRecord | undefined>;
  /** Forgets `id`; resolves `true` when it was there. */
  revoke(id: string): Promise<boolean>;
  /** Forgets every token of `account`, for every service; resolves how many live ones there were. */
  revokeAccount(account: string): Promise<number>;
  /** Releases timers and connections the store owns. Optional. */
  close?(): Promise<void>;
}
