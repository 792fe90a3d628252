import type { Scope } from "./scope.js";

/**
 * Labels an authenticator attaches to an account, handed to every authorizer
 * (docker_auth's `Labels`): a key maps to one or more values, for instance
 * `{ groups: ["qa", "dev"] }`.
 */
export type Labels = Readonly<Record<string, readonly string[]>>;

/**
 * What an {@link Authenticator} is asked.
 *
 * - `account`: the user name from the Basic credentials; `""` for an anonymous request.
 * - `password`: the password; `""` for an anonymous request. May contain `:`.
 *   Never log it.
 * - `service`: the `service` the client asked a token for (the token's audience).
 * - `clientIp`: the client's address (see the handler's `realIpHeader`), or
 *   `undefined` when the transport did not say.
 */
export interface AuthnRequest {
  readonly account: string;
  readonly password: string;
  readonly service: string;
  readonly clientIp: string | undefined;
}

/**
 * An authenticator's answer (protocol.md §4, as docker_auth):
 *
 * - `allow`: the credentials are good; `labels` go to the authorizers.
 * - `deny`: this authenticator knows the account and the credentials are wrong;
 *   the chain stops with 401.
 * - `no-match`: this authenticator does not know the account; the chain asks the next.
 *
 * A backend fault (directory down, timeout) is not an answer: throw, and the
 * request ends with 503, never 401 and never a token.
 */
export type AuthnResult =
  | { readonly result: "allow"; readonly labels?: Labels }
  | { readonly result: "deny" }
  | { readonly result: "no-match" };

/**
 * What {@link Authenticator.lookup} is asked: an account, without a password.
 *
 * - `account`: the user name (never `""`).
 * - `service`, `clientIp`: as in {@link AuthnRequest}.
 */
export interface AccountLookup {
  readonly account: string;
  readonly service: string;
  readonly clientIp: string | undefined;
}

/**
 * Checks credentials. Implement it to plug your own user store into regauth.
 *
 * @example
 * const oneUser: Authenticator = {
 *   name: "one-user",
 *   async authenticate({ account, password }) {
 *     if (account !== "ci") return { result: "no-match" };
 *     return (await checkCiPassword(password)) ? { result: "allow" } : { result: "deny" };
 *   },
 * };
 */
export interface Authenticator {
  /** A short name for logs and `explain` output. */
  readonly name?: string;
  /** Decides on one set of credentials; throws for a backend fault. */
  authenticate(request: AuthnRequest): Promise<AuthnResult>;
  /**
   * Optional: whether an account that signed in earlier may still sign in,
   * asked without its password, when a refresh token is used. `allow` (with
   * the account's current labels): it still exists; `deny`: it exists but may
   * no longer sign in (disabled); `no-match`: unknown here (removed). Throws
   * for a backend fault. Leave it out when the backend cannot tell without a
   * password.
   */
  lookup?(request: AccountLookup): Promise<AuthnResult>;
  /** Releases connections and timers. Optional. */
  close?(): Promise<void>;
}

/**
 * What an {@link Authorizer} is asked, once per requested scope.
 *
 * - `account`: the authenticated account, `""` when anonymous.
 * - `service`, `clientIp`: as in {@link AuthnRequest}.
 * - `labels`: what the authenticator attached (`{}` when none).
 * - `scope`: the resource and the actions requested for it.
 */
export interface AuthzRequest {
  readonly account: string;
  readonly service: string;
  readonly clientIp: string | undefined;
  readonly labels: Labels;
  readonly scope: Scope;
}

/**
 * An authorizer's answer for one scope (protocol.md §4):
 *
 * - `grant`: this authorizer decides; `actions` are what it allows (`["*"]` for
 *   everything; `[]` is an explicit deny that stops the chain). The token gets
 *   the requested actions that are allowed: requested ∩ allowed.
 * - `no-match`: no rule here applies; the chain asks the next authorizer. When
 *   none decides, the scope is granted no actions.
 *
 * A backend fault is not an answer: throw, and the request ends with 503.
 */
export type AuthzResult =
  | { readonly result: "grant"; readonly actions: readonly string[] }
  | { readonly result: "no-match" };

/**
 * Decides which actions an account may take on one resource. Implement it to
 * plug your own access rules into regauth.
 *
 * @example
 * const ownNamespace: Authorizer = {
 *   async authorize({ account, scope }) {
 *     return scope.name.startsWith(`${account}/`)
 *       ? { result: "grant", actions: ["*"] }
 *       : { result: "no-match" };
 *   },
 * };
 */
export interface Authorizer {
  /** A short name for logs and `explain` output. */
  readonly name?: string;
  /** Decides on one scope; throws for a backend fault. */
  authorize(request: AuthzRequest): Promise<AuthzResult>;
  /** Releases connections and timers. Optional. */
  close?(): Promise<void>;
}

/**
 * One entry of a token's `access` claim (distribution docs/spec/auth/jwt.md):
 * the resource and the granted actions (possibly `[]`).
 */
export interface AccessEntry {
  readonly type: string;
  readonly class?: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/**
 * What the handler asks a {@link TokenIssuer} to sign.
 *
 * - `subject`: the `sub` claim, the account (`""` when anonymous).
 * - `audience`: the `aud` claim, the service.
 * - `access`: the `access` claim.
 */
export interface TokenGrant {
  readonly subject: string;
  readonly audience: string;
  readonly access: readonly AccessEntry[];
}

/**
 * A signed token and when it expires.
 *
 * - `token`: the compact JWT.
 * - `expiresIn`: its lifetime in seconds (an integer, at least 60 for the
 *   docker client), as sent in `expires_in`.
 * - `issuedAt`: its `iat`, sent as `issued_at` in RFC 3339.
 */
export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
  readonly issuedAt: Date;
}

/**
 * Signs registry tokens. `@regauth/token`'s `createTokenIssuer` is the
 * implementation; the interface lives here so the core needs no JOSE library.
 */
export interface TokenIssuer {
  issue(grant: TokenGrant): Promise<IssuedToken>;
}
