/**
 * Every error regauth throws or answers with carries one of these stable codes.
 *
 * - `ERR_SCOPE_INVALID`: a scope string does not follow the grammar of
 *   distribution's token spec (docs/spec/auth/scope.md); HTTP 400.
 * - `ERR_SCOPE_LIMIT`: more scopes, or a longer scope, than the handler accepts; HTTP 400.
 * - `ERR_REQUEST_INVALID`: a malformed token request (bad Basic header, `account`
 *   that differs from the Basic user, bad client address...); HTTP 400.
 * - `ERR_METHOD_NOT_ALLOWED`: a method the token endpoint does not serve; HTTP 405.
 * - `ERR_NOT_FOUND`: a path the endpoint does not serve; HTTP 404.
 * - `ERR_UNAUTHENTICATED`: nobody accepted the credentials; HTTP 401 with a
 *   `WWW-Authenticate: Basic` challenge.
 * - `ERR_BACKEND_UNAVAILABLE`: an authenticator or authorizer backend failed; HTTP 503.
 * - `ERR_OVERLOADED`: too much work in flight; HTTP 503 with `Retry-After`.
 * - `ERR_CONFIG_INVALID`: options given to a `create*` factory are wrong; thrown at
 *   construction, never answered over HTTP.
 * - `ERR_TOKEN_INVALID`: a registry token failed verification.
 * - `ERR_GRANT_INVALID`: an OAuth2 grant (RFC 6749 §5.2 `invalid_grant`) was
 *   refused: wrong username or password in a `password` grant, or a refresh
 *   token that is unknown, expired, revoked, or bound to another service or
 *   `client_id`; HTTP 400.
 * - `ERR_GRANT_UNSUPPORTED`: a `grant_type` the endpoint does not serve (RFC
 *   6749 §5.2 `unsupported_grant_type`); HTTP 400.
 * - `ERR_REQUEST_TOO_LARGE`: a request body over the handler's `maxBodyBytes`; HTTP 413.
 * - `ERR_INTERNAL`: a bug; HTTP 500.
 */
export type ErrorCode =
  | "ERR_SCOPE_INVALID"
  | "ERR_SCOPE_LIMIT"
  | "ERR_REQUEST_INVALID"
  | "ERR_METHOD_NOT_ALLOWED"
  | "ERR_NOT_FOUND"
  | "ERR_UNAUTHENTICATED"
  | "ERR_BACKEND_UNAVAILABLE"
  | "ERR_OVERLOADED"
  | "ERR_CONFIG_INVALID"
  | "ERR_TOKEN_INVALID"
  | "ERR_GRANT_INVALID"
  | "ERR_GRANT_UNSUPPORTED"
  | "ERR_REQUEST_TOO_LARGE"
  | "ERR_INTERNAL";

/**
 * The one error class of regauth. `code` is stable and meant for programs;
 * `message` is for people and never holds a password, token or key.
 * The original error, when there is one, is kept as `cause`.
 *
 * @example
 * try { parseScope("repository:app") } catch (e) {
 *   if (e instanceof RegauthError && e.code === "ERR_SCOPE_INVALID") { ... }
 * }
 */
export class RegauthError extends Error {
  /** The stable code, see {@link ErrorCode}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RegauthError";
    this.code = code;
  }
}

/** True when `error` is a {@link RegauthError}, optionally with the given code. */
export function isRegauthError(error: unknown, code?: ErrorCode): error is RegauthError {
  return error instanceof RegauthError && (code === undefined || error.code === code);
}
