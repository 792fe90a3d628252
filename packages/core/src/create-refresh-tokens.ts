import { z } from "zod";
import { createMemoryRefreshTokenStore } from "./create-memory-refresh-token-store.js";
import { RegauthError } from "./errors.js";
import type { AuthnResult, Labels } from "./model.js";
import { parseOptions } from "./parse-options.js";
import type { RefreshTokenRecord, RefreshTokenStore } from "./refresh-token-store.js";

/** Default refresh token lifetime, in seconds (30 days). */
export const DEFAULT_REFRESH_TOKEN_LIFETIME = 30 * 86_400;
/** Shortest refresh token lifetime accepted, in seconds. */
export const MIN_REFRESH_TOKEN_LIFETIME = 60;
/** Longest refresh token lifetime accepted, in seconds (one year). */
export const MAX_REFRESH_TOKEN_LIFETIME = 365 * 86_400;

/** Every refresh token starts with this, so one is easy to recognise in a leak scan. */
export const REFRESH_TOKEN_PREFIX = "rgr_";
/** `rgr_` and 43 base64url characters (256 random bits). */
const TOKEN_SHAPE = /^rgr_[A-Za-z0-9_-]{43}$/;

/**
 * What {@link RefreshTokenOptions.checkAccount} is asked on every use of a
 * refresh token: the account and labels captured at login, and the request's
 * service and client address.
 */
export interface RefreshAccountCheck {
  readonly account: string;
  readonly service: string;
  readonly clientIp: string | undefined;
  readonly labels: Labels;
}

/**
 * Options of {@link createRefreshTokens}.
 *
 * - `store`: where tokens are kept. Default: a new
 *   {@link createMemoryRefreshTokenStore} (one process only).
 * - `lifetime`: seconds from issue until a token stops working, an integer from
 *   60 to 31 536 000 (one year). Default 2 592 000 (30 days). Use does not
 *   extend it.
 * - `checkAccount`: asked on every use, before the authorizers: `allow` (with
 *   `labels` to replace the ones captured at login), or `deny`/`no-match` to
 *   refuse the token (`invalid_grant`); a throw ends the request with 503. Use
 *   it to refuse accounts that were removed or disabled since login. Default:
 *   none; the token alone proves the account, with the labels it had at login.
 * - `bindClientId`: refuse a token presented with another `client_id` than the
 *   one it was issued to. Default `true`. `client_id` is not a secret (every
 *   registry client is a public client, RFC 6749 §2.1), so the binding only
 *   keeps tools apart; set `false` to let any tool reading the docker config
 *   use a `docker login` token: each tool sends its own `client_id` (docker
 *   `docker`, crane `go-containerregistry`, containers/image `containers/image`...).
 * - `clock`: current time in milliseconds since the epoch. Default `Date.now`.
 */
export interface RefreshTokenOptions {
  readonly store?: RefreshTokenStore;
  readonly lifetime?: number;
  readonly checkAccount?: (check: RefreshAccountCheck) => Promise<AuthnResult>;
  readonly bindClientId?: boolean;
  readonly clock?: () => number;
}

/** What a refresh token is bound to when it is issued. */
export interface RefreshTokenBinding {
  readonly account: string;
  readonly service: string;
  /** `""` when the client sent no `client_id`. */
  readonly clientId: string;
  readonly labels: Labels;
}

/**
 * Refresh tokens for the token endpoint (distribution docs/spec/auth/oauth.md;
 * RFC 6749 §1.5, §6): pass it as `refreshTokens` to `createTokenHandler`, and
 * keep it to revoke tokens.
 *
 * - `issue(binding)`: a new token, `rgr_` and 43 base64url characters (256
 *   random bits). Only its SHA-256 reaches the store.
 * - `redeem(token, { service, clientId })`: the record of a live token issued
 *   for that service and (with `bindClientId`) `client_id`. Throws `ERR_GRANT_INVALID` otherwise
 *   (unknown, expired, revoked, another service or client, or not a refresh
 *   token at all, such as an access token).
 * - `revoke(token)`: forgets one token; resolves `true` when it was live.
 * - `revokeAccount(account)`: forgets every token of the account (every
 *   service and client); resolves how many there were.
 * - `lifetime`: the lifetime in seconds; `store`, `checkAccount`: as given.
 */
export interface RefreshTokens {
  issue(binding: RefreshTokenBinding): Promise<string>;
  redeem(
    token: string,
    expected: { readonly service: string; readonly clientId: string },
  ): Promise<RefreshTokenRecord>;
  revoke(token: string): Promise<boolean>;
  revokeAccount(account: string): Promise<number>;
  readonly lifetime: number;
  readonly store: RefreshTokenStore;
  readonly checkAccount: ((check: RefreshAccountCheck) => Promise<AuthnResult>) | undefined;
}

const hasMethods = (value: unknown, methods: readonly string[]) =>
  typeof value === "object" &&
  value !== null &&
  methods.every((m) => typeof (value as Record<string, unknown>)[m] === "function");

const optionsSchema = z.strictObject({
  store: z
    .custom<RefreshTokenStore>(
      (value) => hasMethods(value, ["save", "find", "revoke", "revokeAccount"]),
      "expected a RefreshTokenStore (save, find, revoke, revokeAccount)",
    )
    .optional(),
  lifetime: z
    .number()
    .int()
    .min(MIN_REFRESH_TOKEN_LIFETIME)
    .max(MAX_REFRESH_TOKEN_LIFETIME)
    .default(DEFAULT_REFRESH_TOKEN_LIFETIME),
  checkAccount: z
    .custom<(check: RefreshAccountCheck) => Promise<AuthnResult>>(
      (value) => typeof value === "function",
      "expected a function",
    )
    .optional(),
  bindClientId: z.boolean().default(true),
  clock: z
    .custom<() => number>((value) => typeof value === "function", "expected a function")
    .default(() => Date.now),
});

/** Unpadded base64url (RFC 4648 §5) of `bytes`. */
function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The store key of a token: base64url SHA-256, 43 characters (Web Crypto, no node:crypto). */
async function tokenId(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return base64url(new Uint8Array(digest));
}

/**
 * Creates the refresh tokens of a token endpoint. A token is opaque (random,
 * not a JWT): the registry can never take it as an access token, and an
 * access token is never found in the store. It stays valid, unchanged, for
 * `lifetime` seconds or until revoked: clients such as the docker CLI keep
 * the one they got at login and send it again and again, so it is neither
 * rotated nor single-use. It carries no scopes: every use asks the
 * authorizers again with the labels captured at login.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` for bad options, naming the option.
 *
 * @example
 * const refreshTokens = createRefreshTokens({ lifetime: 7 * 86_400 });
 * const handler = createTokenHandler({ ...options, refreshTokens });
 * // an account removed from the directory:
 * await refreshTokens.revokeAccount("alice");
 */
export function createRefreshTokens(options: RefreshTokenOptions = {}): RefreshTokens {
  const config = parseOptions(optionsSchema, options);
  const store = config.store ?? createMemoryRefreshTokenStore({ clock: config.clock });
  const refuse = () =>
    new RegauthError("ERR_GRANT_INVALID", "refresh token unknown, expired or revoked");

  return {
    lifetime: config.lifetime,
    store,
    checkAccount: config.checkAccount,
    async issue(binding) {
      const token = `${REFRESH_TOKEN_PREFIX}${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
      const issuedAt = config.clock();
      await store.save(await tokenId(token), {
        account: binding.account,
        service: binding.service,
        clientId: binding.clientId,
        labels: binding.labels,
        issuedAt,
        expiresAt: issuedAt + config.lifetime * 1000,
      });
      return token;
    },
    async redeem(token, expected) {
      if (!TOKEN_SHAPE.test(token)) throw refuse();
      const record = await store.find(await tokenId(token));
      if (record === undefined || record.expiresAt <= config.clock()) throw refuse();
      if (record.service !== expected.service) {
        throw new RegauthError("ERR_GRANT_INVALID", "refresh token issued for another service");
      }
      if (config.bindClientId && record.clientId !== expected.clientId) {
        throw new RegauthError("ERR_GRANT_INVALID", "refresh token issued to another client_id");
      }
      return record;
    },
    async revoke(token) {
      if (!TOKEN_SHAPE.test(token)) return false;
      return store.revoke(await tokenId(token));
    },
    revokeAccount: (account) => store.revokeAccount(account),
  };
}
