import type { RegauthError } from "./errors.js";
import type { AccessEntry } from "./model.js";

/**
 * What a resource server learns from a registry token that passed a
 * {@link TokenGuard}.
 *
 * - `subject`: the `sub` claim, the account the token was issued to (`""`
 *   when it was issued to an anonymous client).
 * - `access`: the `access` claim, every resource and the actions granted on it
 *   (distribution docs/spec/auth/jwt.md).
 */
export interface VerifiedToken {
  readonly subject: string;
  readonly access: readonly AccessEntry[];
}

/**
 * Why a {@link TokenGuard} refused a request, as the registry's challenge
 * tells it (distribution registry/auth/token, RFC 6750 §3.1):
 *
 * - `"missing"`: no `Authorization: Bearer` token; the challenge has no `error`.
 * - `"invalid"`: the token is malformed, badly signed, signed by an untrusted
 *   key, expired, or for another issuer or audience; `error="invalid_token"`.
 * - `"insufficient"`: the token is good but does not grant the required
 *   access; `error="insufficient_scope"`.
 */
export type TokenRefusal = "missing" | "invalid" | "insufficient";

/**
 * The outcome of {@link TokenGuard.check}: the verified token, or the answer
 * to send instead (401 with the registry's `WWW-Authenticate: Bearer`
 * challenge and `errors` body) with the reason and the error behind it
 * (`ERR_UNAUTHENTICATED` for a missing token, `ERR_TOKEN_INVALID` otherwise).
 */
export type TokenCheck<T extends VerifiedToken = VerifiedToken> =
  | { readonly ok: true; readonly token: T }
  | {
      readonly ok: false;
      readonly reason: TokenRefusal;
      readonly error: RegauthError;
      readonly response: Response;
    };

/**
 * Checks the registry token a request carries, the way the registry does, for
 * services that sit beside a registry and accept its tokens. `@regauth/token`'s
 * `createRegistryTokenGuard` is the implementation; the interface lives here so
 * the Express and Koa forms (`requireRegistryToken` in `@regauth/core/express`
 * and `@regauth/core/koa`) need no JOSE library.
 *
 * `check` reads only the request's headers, never its body.
 *
 * @example
 * const result = await guard.check(request, [
 *   { type: "repository", name: "team/app", actions: ["pull"] },
 * ]);
 * if (!result.ok) return result.response;
 * result.token.subject; // "alice"
 */
export interface TokenGuard<T extends VerifiedToken = VerifiedToken> {
  /**
   * Verifies the request's bearer token and that it grants every action of
   * `requiredAccess` (default: none required, any valid token passes).
   */
  check(request: Request, requiredAccess?: readonly AccessEntry[]): Promise<TokenCheck<T>>;
}

/**
 * What a route requires of a token, for `requireRegistryToken`: access
 * entries (`{ type, name, actions }`), or scope strings in the grammar of
 * token requests (`"repository:team/app:pull,push"`, `"registry:catalog:*"`;
 * distribution docs/spec/auth/scope.md).
 */
export type RequiredAccess = readonly (string | AccessEntry)[];
