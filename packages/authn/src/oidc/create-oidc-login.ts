import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  type Authenticator,
  type AuthnResult,
  type Labels,
  type Logger,
  parseOptions,
  RegauthError,
  silentLogger,
} from "@regauth/core";
import * as client from "openid-client";
import { z } from "zod";
import { createMemoryRegistryPasswordStore } from "./create-memory-registry-password-store.js";
import { type ClaimRefusal, evaluateClaims } from "./internal/claims.js";
import { type CookieScope, readCookie, serializeCookie } from "./internal/cookies.js";
import { PAGE_HEADERS } from "./internal/html.js";
import { failurePage, passwordPage, signedOutPage, signInPage } from "./internal/pages.js";
import {
  generateId,
  generatePassword,
  hashPassword,
  PASSWORD_PREFIX,
  sameHash,
} from "./internal/password.js";
import { createSealer } from "./internal/seal.js";
import type { RegistryPasswordRecord, RegistryPasswordStore } from "./registry-password-store.js";

/** Default {@link OidcLoginOptions.scopes}. */
export const DEFAULT_OIDC_SCOPES: readonly string[] = ["openid", "email"];
/** Default {@link OidcLoginOptions.passwordLifetime}, in seconds (30 days). */
export const DEFAULT_OIDC_PASSWORD_LIFETIME = 2_592_000;
/** Default {@link OidcLoginOptions.recheckInterval}, in seconds (1 hour). */
export const DEFAULT_OIDC_RECHECK_INTERVAL = 3_600;
/** The issuer of Google's OpenID Connect provider, for `issuer` (the `google_auth` preset). */
export const GOOGLE_ISSUER = "https://accounts.google.com";

/**
 * Why a sign-in or sign-out was refused; the failure page carries it as
 * `data-page` on `<main>` and `data-reason` on its message.
 *
 * - `login_expired` (400): no sign-in in progress in this browser (no or a
 *   forged/expired sign-in cookie, for instance a callback opened twice).
 * - `state_mismatch` (400): the callback's `state` is not the one this browser
 *   sent (CSRF on the callback, OpenID Connect Core 1.0 §3.1.2.7).
 * - `provider_refused` (400): the provider answered with an `error`
 *   (the user denied consent, ...).
 * - `grant_failed` (400): the token endpoint refused the code (already used,
 *   expired, wrong PKCE verifier: RFC 7636 §4.6).
 * - `id_token_invalid` (400): the ID token failed a check (signature, `iss`,
 *   `aud`, `exp`, `iat`, `nonce`: OpenID Connect Core 1.0 §3.1.3.7).
 * - `account_missing` (403): no usable account claim.
 * - `email_unverified` (403): the account claim is `email` and
 *   `email_verified` is not true.
 * - `domain_not_allowed` (403): neither `hd` nor the email's domain is allowed.
 * - `csrf_invalid` (403): a sign-out without the session's form token or
 *   from another origin.
 * - `provider_unavailable` (503): discovery or a call to the provider failed.
 */
export type OidcLoginFailure =
  | "login_expired"
  | "state_mismatch"
  | "provider_refused"
  | "grant_failed"
  | "id_token_invalid"
  | ClaimRefusal
  | "csrf_invalid"
  | "provider_unavailable";

/**
 * Options of {@link createOidcLogin}.
 *
 * - `issuer`: the provider's issuer URL; its metadata is discovered from
 *   `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery
 *   1.0) on first use, and the ID token's `iss` must equal it. Required.
 *   Google: {@link GOOGLE_ISSUER}.
 * - `clientId`, `clientSecret`: the client registered at the provider.
 *   With a secret the client authenticates with `client_secret_basic`;
 *   without, it is a public client (`none`) and PKCE alone binds the code.
 * - `baseUrl`: the public URL the handler is served at, such as
 *   `https://auth.example.com/oidc`. The redirect URI to register at the
 *   provider is `<baseUrl>/callback`. Cookies are `Secure` when it is https.
 * - `cookieSecret`: at least 32 characters of secret text (for instance
 *   `openssl rand -base64 48`). It seals (AES-256-GCM) the sign-in and
 *   session cookies and the provider refresh tokens in the store; every
 *   instance behind one load balancer needs the same. Changing it signs
 *   everyone out and stops re-checks (passwords then fail at their next re-check).
 * - `registryHost`: the registry's host (and port) for the `docker login`
 *   line shown to the user, such as `registry.example.com`. Required.
 * - `scopes`: requested scopes. Default `["openid", "email"]`; `openid` is required.
 * - `authorizationParams`: extra authorization request parameters, such as
 *   Google's `{ access_type: "offline", prompt: "consent" }` to get a
 *   refresh token, or `{ hd: "example.com" }`. Default `{}`. The protocol's
 *   own (`state`, `nonce`, `code_challenge`...) cannot be overridden.
 * - `accountClaim`: the claim that names the registry account. Default
 *   `"email"`, accepted only with `email_verified: true`.
 * - `labelClaims`: label name to claim name, such as `{ groups: "groups" }`;
 *   a string claim gives one value, a string array its members. Default `{}`.
 * - `allowedDomains`: when not empty, only users whose `hd` claim or verified
 *   email domain is listed may sign in (lower case). Default `[]` (anyone the
 *   provider signs in).
 * - `passwordLifetime`: seconds a registry password lives. Default 2 592 000 (30 days).
 * - `recheckInterval`: seconds after which a password's user is checked again
 *   at the provider with its refresh token, on the next registry login. A user
 *   the provider refuses then loses every registry password. Default 3 600.
 *   Without a refresh token (the provider gave none) there is no re-check.
 * - `maxPasswordsPerAccount`: live passwords per account; a new sign-in
 *   revokes the oldest beyond it. Default 10.
 * - `loginTimeout`: seconds a sign-in may take at the provider. Default 600.
 * - `sessionLifetime`: seconds the password page's sign-out form stays usable. Default 3 600.
 * - `providerName`: shown on the pages ("Sign in with ..."). Default: the issuer's host.
 * - `store`: where passwords are kept. Default {@link createMemoryRegistryPasswordStore}.
 * - `name`: the authenticator's name in logs. Default `"oidc"`.
 * - `allowInsecureHttp`: allow an `http:` issuer (a provider on loopback in
 *   development or tests). Default `false`.
 * - `fetch`: the fetch used for every call to the provider (proxies,
 *   timeouts, tests). Default: the global `fetch`.
 * - `clock`: milliseconds since the epoch, for lifetimes and re-checks (not
 *   for ID token checks). Default `Date.now`.
 * - `logger`: pino-shaped logger. Default: silent. No password, code or token is logged.
 */
export interface OidcLoginOptions {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly baseUrl: string;
  readonly cookieSecret: string;
  readonly registryHost: string;
  readonly scopes?: readonly string[];
  readonly authorizationParams?: Readonly<Record<string, string>>;
  readonly accountClaim?: string;
  readonly labelClaims?: Readonly<Record<string, string>>;
  readonly allowedDomains?: readonly string[];
  readonly passwordLifetime?: number;
  readonly recheckInterval?: number;
  readonly maxPasswordsPerAccount?: number;
  readonly loginTimeout?: number;
  readonly sessionLifetime?: number;
  readonly providerName?: string;
  readonly store?: RegistryPasswordStore;
  readonly name?: string;
  readonly allowInsecureHttp?: boolean;
  readonly fetch?: typeof fetch;
  readonly clock?: () => number;
  readonly logger?: Logger;
}

/**
 * What {@link createOidcLogin} returns.
 *
 * - `handler`: the pages, a Web-standard `(request) => Promise<Response>`.
 *   It serves, under the path of `baseUrl`: `GET /` the sign-in page,
 *   `GET /login` (redirects to the provider), `GET /callback` (the redirect
 *   URI; answers with the new password, shown once), `POST /signout`
 *   (revokes all the account's passwords). Other paths get 404, other methods 405.
 * - `authenticator`: checks registry passwords; put it in the token
 *   handler's `authenticators`. Its `lookup` (a refresh token's account)
 *   allows an account while it holds a registry password, with the labels of
 *   its most recently checked one.
 * - `revokeAccount(account)`: revokes every password of `account` (an admin
 *   action, or when the user leaves); resolves how many there were.
 * - `close()`: closes the store.
 */
export interface OidcLogin {
  readonly handler: (request: Request) => Promise<Response>;
  readonly authenticator: Authenticator;
  revokeAccount(account: string): Promise<number>;
  close(): Promise<void>;
}

const RESERVED_PARAMS = [
  "client_id",
  "redirect_uri",
  "response_type",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
];

const optionsSchema = z.strictObject({
  issuer: z.url({ protocol: /^https?$/ }),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  baseUrl: z.url({ protocol: /^https?$/ }),
  cookieSecret: z.string().min(32, "expected at least 32 characters of secret text"),
  registryHost: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "expected host or host:port"),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "expected a scope token"))
    .refine((scopes) => scopes.includes("openid"), "must include openid")
    .default([...DEFAULT_OIDC_SCOPES]),
  authorizationParams: z
    .record(z.string(), z.string())
    .refine(
      (params) => !Object.keys(params).some((key) => RESERVED_PARAMS.includes(key)),
      `cannot set ${RESERVED_PARAMS.join(", ")}`,
    )
    .default({}),
  accountClaim: z.string().min(1).default("email"),
  labelClaims: z.record(z.string().min(1), z.string().min(1)).default({}),
  allowedDomains: z
    .array(z.string().regex(/^[a-z0-9.-]+$/, "expected a lower-case domain"))
    .default([]),
  passwordLifetime: z
    .number()
    .int()
    .min(60)
    .max(31_536_000)
    .default(DEFAULT_OIDC_PASSWORD_LIFETIME),
  recheckInterval: z.number().int().min(0).max(31_536_000).default(DEFAULT_OIDC_RECHECK_INTERVAL),
  maxPasswordsPerAccount: z.number().int().min(1).max(1_000).default(10),
  loginTimeout: z.number().int().min(30).max(86_400).default(600),
  sessionLifetime: z.number().int().min(60).max(86_400).default(3_600),
  providerName: z.string().min(1).max(100).optional(),
  store: z
    .custom<RegistryPasswordStore>(
      (value) =>
        typeof value === "object" &&
        value !== null &&
        ["save", "list", "update", "revoke", "revokeAccount"].every(
          (method) => typeof (value as Record<string, unknown>)[method] === "function",
        ),
      "expected a RegistryPasswordStore",
    )
    .optional(),
  name: z.string().min(1).default("oidc"),
  allowInsecureHttp: z.boolean().default(false),
  fetch: z
    .custom<typeof fetch>((value) => typeof value === "function", "expected a function")
    .optional(),
  clock: z
    .custom<() => number>((value) => typeof value === "function", "expected a function")
    .default(() => Date.now),
  logger: z
    .custom<Logger>(
      (value) =>
        typeof value === "object" &&
        value !== null &&
        ["debug", "info", "warn", "error"].every(
          (method) => typeof (value as Record<string, unknown>)[method] === "function",
        ),
      "expected a logger with debug, info, warn and error",
    )
    .default(silentLogger),
});

const LOGIN_COOKIE = "regauth_oidc_login";
const SESSION_COOKIE = "regauth_oidc_session";

interface LoginState {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly exp: number;
}

interface SessionState {
  readonly account: string;
  readonly csrf: string;
  readonly exp: number;
}

/** A sign-in that ended in a refusal page. */
class Refusal extends Error {
  constructor(
    readonly reason: OidcLoginFailure,
    readonly detail?: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

const FAILURES: Record<OidcLoginFailure, { status: number; message: string }> = {
  login_expired: {
    status: 400,
    message: "No sign-in is in progress in this browser, or it took too long.",
  },
  state_mismatch: {
    status: 400,
    message: "The answer from the identity provider does not belong to this sign-in.",
  },
  provider_refused: { status: 400, message: "The identity provider did not sign you in." },
  grant_failed: {
    status: 400,
    message: "The identity provider refused the sign-in code (already used or expired).",
  },
  id_token_invalid: {
    status: 400,
    message: "The identity provider's ID token failed verification.",
  },
  account_missing: {
    status: 403,
    message: "The identity provider did not say which account you are.",
  },
  email_unverified: {
    status: 403,
    message: "Your email address is not verified at the identity provider.",
  },
  domain_not_allowed: {
    status: 403,
    message: "Accounts of your domain may not use this registry.",
  },
  csrf_invalid: {
    status: 403,
    message: "This form is no longer valid. Reload the page and try again.",
  },
  provider_unavailable: {
    status: 503,
    message: "The identity provider cannot be reached. Try again later.",
  },
};

/** Maps an openid-client failure to a refusal reason. */
function classify(error: unknown): Refusal {
  if (error instanceof Refusal) return error;
  if (error instanceof client.AuthorizationResponseError) {
    return new Refusal("provider_refused", error.error, { cause: error });
  }
  if (error instanceof client.ResponseBodyError) {
    return error.status >= 500
      ? new Refusal("provider_unavailable", undefined, { cause: error })
      : new Refusal("grant_failed", error.error, { cause: error });
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (
    typeof code === "string" &&
    /^OAUTH_(JWT_|JWS_|JWE_|KEY_SELECTION|INVALID_RESPONSE|JSON_ATTRIBUTE)/.test(code)
  ) {
    return new Refusal("id_token_invalid", undefined, { cause: error });
  }
  return new Refusal("provider_unavailable", undefined, { cause: error });
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Creates an OpenID Connect relying party that hands out registry passwords,
 * as docker_auth's `google_auth`, for any OpenID Connect provider (Google,
 * GitLab, Keycloak, Dex, Entra ID...): a user signs in at the provider in a
 * browser and gets a random registry password for
 * `docker login -u <account>`; the provider's groups or roles become labels.
 *
 * The flow is the authorization code flow (OpenID Connect Core 1.0 §3.1)
 * with PKCE S256 (RFC 7636), `state` bound to the browser by a sealed
 * HttpOnly cookie, and `nonce`. The ID token is verified by openid-client
 * (signature from the provider's JWKS, `iss`, `aud` = `clientId`, `exp`,
 * `iat`, `nonce`; §3.1.3.7); UserInfo claims (§5.3) are merged under it.
 *
 * Registry passwords are 256 random bits (prefixed `rgo_`), shown once and
 * stored only as a SHA-256 hash; the authenticator compares hashes with
 * `crypto.timingSafeEqual`. When the provider issued a refresh token, the
 * authenticator re-checks the user at the provider (refresh grant, OpenID
 * Connect Core 1.0 §12) once `recheckInterval` has passed: a refused refresh,
 * a changed subject or claims that no longer pass revoke every password of
 * the account. The token handler's credential cache (`credentialCacheTtl`,
 * default 60 s) may still accept a revoked password for that long.
 *
 * Pages are plain HTML without script, every provider value escaped, sent
 * with `Cache-Control: no-store`, a strict Content-Security-Policy and
 * `Referrer-Policy: same-origin`. The sign-out form carries a token bound to
 * the session cookie and its `Origin` must be `baseUrl`'s.
 *
 * The authenticator answers `no-match` for a password that is not one of
 * ours (no `rgo_` prefix) or an account without passwords, `deny` for a
 * wrong or revoked password, and throws `ERR_BACKEND_UNAVAILABLE` (503)
 * when the provider cannot be reached for a due re-check.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options,
 *   naming the option. Discovery happens on first use: a provider that
 *   cannot be reached gives a 503 page (`provider_unavailable`), and is
 *   tried again on the next request.
 *
 * @example
 * const login = createOidcLogin({
 *   issuer: GOOGLE_ISSUER,
 *   clientId: process.env.GOOGLE_CLIENT_ID!,
 *   clientSecret: process.env.GOOGLE_CLIENT_SECRET!,
 *   authorizationParams: { access_type: "offline", prompt: "consent" },
 *   baseUrl: "https://auth.example.com/oidc",
 *   cookieSecret: process.env.OIDC_COOKIE_SECRET!,
 *   registryHost: "registry.example.com",
 *   allowedDomains: ["example.com"],
 * });
 * const tokens = createTokenHandler({ authenticators: [login.authenticator], ... });
 * const handler = (request: Request) =>
 *   new URL(request.url).pathname.startsWith("/oidc") ? login.handler(request) : tokens(request);
 */
export function createOidcLogin(options: OidcLoginOptions): OidcLogin {
  const config = parseOptions(optionsSchema, options);
  const store = config.store ?? createMemoryRegistryPasswordStore({ clock: config.clock });
  const log = config.logger;
  const base = new URL(config.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, "");
  const redirectUri = `${base.origin}${basePath}/callback`;
  const paths = {
    home: `${basePath}/`,
    login: `${basePath}/login`,
    signOut: `${basePath}/signout`,
  };
  const cookieScope: CookieScope = {
    path: basePath === "" ? "/" : basePath,
    secure: base.protocol === "https:",
  };
  const cookieSealer = createSealer(config.cookieSecret, "cookie");
  const tokenSealer = createSealer(config.cookieSecret, "refresh-token");
  const providerName = config.providerName ?? new URL(config.issuer).host;
  const rules = {
    accountClaim: config.accountClaim,
    labelClaims: config.labelClaims,
    allowedDomains: config.allowedDomains,
  };

  const userFetch = config.fetch;
  let discovered: Promise<client.Configuration> | undefined;
  function provider(): Promise<client.Configuration> {
    discovered ??= client
      .discovery(
        new URL(config.issuer),
        config.clientId,
        config.clientSecret === undefined ? {} : { client_secret: config.clientSecret },
        config.clientSecret === undefined
          ? client.None()
          : client.ClientSecretBasic(config.clientSecret),
        {
          ...(config.allowInsecureHttp ? { execute: [client.allowInsecureRequests] } : {}),
          ...(userFetch === undefined
            ? {}
            : {
                [client.customFetch]: (url: string, init: client.CustomFetchOptions) =>
                  userFetch(url, init as RequestInit),
              }),
        },
      )
      .catch((error: unknown) => {
        discovered = undefined;
        throw new Refusal("provider_unavailable", undefined, { cause: error });
      });
    return discovered;
  }

  function sealJson(value: object): string {
    return cookieSealer.seal(JSON.stringify(value));
  }
  function openJson<T extends { exp: number }>(sealed: string | undefined): T | undefined {
    if (sealed === undefined) return undefined;
    const text = cookieSealer.open(sealed);
    if (text === undefined) return undefined;
    const value = JSON.parse(text) as T;
    return typeof value.exp === "number" && value.exp > config.clock() ? value : undefined;
  }

  function respond(status: number, body: string, cookies: string[] = []): Response {
    const headers = new Headers(PAGE_HEADERS);
    for (const cookie of cookies) headers.append("set-cookie", cookie);
    return new Response(body, { status, headers });
  }

  function refusalResponse(refusal: Refusal, cookies: string[] = []): Response {
    const failure = FAILURES[refusal.reason];
    const fields = { reason: refusal.reason, detail: refusal.detail, err: describe(refusal.cause) };
    if (refusal.reason === "provider_unavailable") log.error(fields, "oidc sign-in failed");
    else log.info(fields, "oidc sign-in refused");
    return respond(
      failure.status,
      failurePage(refusal.reason, failure.message, paths.home, refusal.detail),
      cookies,
    );
  }

  /** Fetches UserInfo when the provider has it and merges the ID token's claims over it. */
  async function userClaims(
    configuration: client.Configuration,
    tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
    subject: string,
  ): Promise<Record<string, unknown>> {
    const idClaims = (tokens.claims() ?? {}) as Record<string, unknown>;
    if (configuration.serverMetadata().userinfo_endpoint === undefined) return idClaims;
    const info = await client.fetchUserInfo(configuration, tokens.access_token, subject);
    return { ...info, ...idClaims };
  }

  async function startLogin(): Promise<Response> {
    const configuration = await provider();
    const login: LoginState = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier: client.randomPKCECodeVerifier(),
      exp: config.clock() + config.loginTimeout * 1000,
    };
    const url = client.buildAuthorizationUrl(configuration, {
      ...config.authorizationParams,
      redirect_uri: redirectUri,
      scope: config.scopes.join(" "),
      state: login.state,
      nonce: login.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(login.verifier),
      code_challenge_method: "S256",
    });
    const headers = new Headers({ location: url.href, "cache-control": "no-store" });
    headers.append(
      "set-cookie",
      serializeCookie(LOGIN_COOKIE, sealJson(login), config.loginTimeout, cookieScope),
    );
    return new Response(null, { status: 303, headers });
  }

  async function finishLogin(request: Request): Promise<Response> {
    const clearLogin = serializeCookie(LOGIN_COOKIE, "", 0, cookieScope);
    const query = new URL(request.url).searchParams;
    const login = openJson<LoginState>(readCookie(request.headers.get("cookie"), LOGIN_COOKIE));
    if (login === undefined) throw new Refusal("login_expired");
    // Checked here too (openid-client checks it again) so that a forged callback
    // never reaches the provider and gets its own answer.
    const state = query.get("state");
    if (state === null || !sameText(state, login.state)) throw new Refusal("state_mismatch");
    const configuration = await provider();
    // The URL the provider redirected to: the registered redirect URI with the
    // response's parameters (the request may arrive through a proxy under another host).
    const currentUrl = new URL(redirectUri);
    currentUrl.search = new URL(request.url).search;
    const tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
      pkceCodeVerifier: login.verifier,
      expectedState: login.state,
      expectedNonce: login.nonce,
      idTokenExpected: true,
    });
    const subject = tokens.claims()?.sub;
    if (subject === undefined) throw new Refusal("id_token_invalid");
    const decision = evaluateClaims(await userClaims(configuration, tokens, subject), rules);
    if (!decision.ok) throw new Refusal(decision.reason);

    const now = config.clock();
    const password = generatePassword();
    const record: RegistryPasswordRecord = {
      id: generateId(),
      account: decision.account,
      hash: hashPassword(password),
      labels: decision.labels,
      subject,
      ...(tokens.refresh_token === undefined
        ? {}
        : { refreshToken: tokenSealer.seal(tokens.refresh_token) }),
      issuedAt: now,
      expiresAt: now + config.passwordLifetime * 1000,
      checkedAt: now,
    };
    await store.save(record);
    const existing = await store.list(decision.account);
    for (const old of existing.slice(
      0,
      Math.max(0, existing.length - config.maxPasswordsPerAccount),
    )) {
      await store.revoke(old.id);
    }
    log.info(
      { account: record.account, id: record.id, recheck: record.refreshToken !== undefined },
      "oidc registry password issued",
    );
    const session: SessionState = {
      account: decision.account,
      csrf: randomBytes(24).toString("base64url"),
      exp: now + config.sessionLifetime * 1000,
    };
    return respond(
      200,
      passwordPage({
        account: record.account,
        password,
        registryHost: config.registryHost,
        expiresAt: new Date(record.expiresAt),
        labels: record.labels,
        signOutPath: paths.signOut,
        csrf: session.csrf,
      }),
      [
        clearLogin,
        serializeCookie(SESSION_COOKIE, sealJson(session), config.sessionLifetime, cookieScope),
      ],
    );
  }

  async function revokeProviderTokens(records: readonly RegistryPasswordRecord[]): Promise<void> {
    const configuration = await provider().catch(() => undefined);
    if (configuration?.serverMetadata().revocation_endpoint === undefined) return;
    await Promise.all(
      records.map(async (record) => {
        const token = record.refreshToken && tokenSealer.open(record.refreshToken);
        if (!token) return;
        try {
          await client.tokenRevocation(configuration, token, { token_type_hint: "refresh_token" });
        } catch (error) {
          log.warn(
            { account: record.account, err: describe(error) },
            "oidc token revocation failed",
          );
        }
      }),
    );
  }

  async function revokeAccount(account: string): Promise<number> {
    const records = await store.list(account);
    const gone = await store.revokeAccount(account);
    await revokeProviderTokens(records);
    log.info({ account, revoked: gone }, "oidc registry passwords revoked");
    return gone;
  }

  async function signOut(request: Request): Promise<Response> {
    const clearSession = serializeCookie(SESSION_COOKIE, "", 0, cookieScope);
    const origin = request.headers.get("origin");
    if (origin !== null && origin !== base.origin) throw new Refusal("csrf_invalid");
    const session = openJson<SessionState>(
      readCookie(request.headers.get("cookie"), SESSION_COOKIE),
    );
    const type = request.headers.get("content-type") ?? "";
    if (session === undefined || !type.startsWith("application/x-www-form-urlencoded")) {
      throw new Refusal("csrf_invalid");
    }
    const body = await request.text();
    if (body.length > 4096) throw new Refusal("csrf_invalid");
    const csrf = new URLSearchParams(body).get("csrf");
    if (csrf === null || !sameText(csrf, session.csrf)) throw new Refusal("csrf_invalid");
    const revoked = await revokeAccount(session.account);
    return respond(200, signedOutPage(paths.home, revoked), [clearSession]);
  }

  async function handler(request: Request): Promise<Response> {
    const pathname = new URL(request.url).pathname;
    const route = pathname.startsWith(basePath) ? pathname.slice(basePath.length) : pathname;
    const routes: Record<string, { method: string; run: () => Promise<Response> }> = {
      "": { method: "GET", run: async () => respond(200, signInPage(providerName, paths.login)) },
      "/": { method: "GET", run: async () => respond(200, signInPage(providerName, paths.login)) },
      "/login": { method: "GET", run: startLogin },
      "/callback": { method: "GET", run: () => finishLogin(request) },
      "/signout": { method: "POST", run: () => signOut(request) },
    };
    const target = Object.hasOwn(routes, route) ? routes[route] : undefined;
    if (target === undefined) return new Response("not found\n", { status: 404 });
    if (
      request.method !== target.method &&
      !(target.method === "GET" && request.method === "HEAD")
    ) {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { allow: target.method },
      });
    }
    try {
      return await target.run();
    } catch (error) {
      const cookies =
        route === "/callback" ? [serializeCookie(LOGIN_COOKIE, "", 0, cookieScope)] : [];
      if (error instanceof RegauthError) {
        // A store fault.
        log.error({ err: describe(error) }, "oidc request failed");
        return respond(
          503,
          failurePage(
            "provider_unavailable",
            "The service is unavailable. Try again later.",
            paths.home,
          ),
          cookies,
        );
      }
      return refusalResponse(classify(error), cookies);
    }
  }

  const rechecks = new Map<string, Promise<AuthnResult>>();

  /** Refreshes at the provider and applies the answer; `deny` when the user lost access. */
  async function recheck(
    record: RegistryPasswordRecord,
    refreshToken: string,
  ): Promise<AuthnResult> {
    const configuration = await provider().catch((error: unknown) => {
      throw new RegauthError("ERR_BACKEND_UNAVAILABLE", "oidc provider discovery failed", {
        cause: error,
      });
    });
    let claims: Record<string, unknown>;
    let rotated: string | undefined;
    try {
      const tokens = await client.refreshTokenGrant(configuration, refreshToken);
      rotated = tokens.refresh_token;
      claims = await userClaims(configuration, tokens, record.subject);
    } catch (error) {
      const refused =
        (error instanceof client.ResponseBodyError && error.status < 500) ||
        (error instanceof client.WWWAuthenticateChallengeError && error.status === 401);
      if (!refused) {
        const subjectChanged =
          (error as { code?: unknown } | null)?.code === "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED";
        if (!subjectChanged) {
          throw new RegauthError("ERR_BACKEND_UNAVAILABLE", "oidc provider re-check failed", {
            cause: error,
          });
        }
      }
      log.info(
        { account: record.account, err: describe(error) },
        "oidc provider refused the user at re-check",
      );
      await store.revokeAccount(record.account);
      return { result: "deny" };
    }
    const decision = evaluateClaims(claims, rules);
    if (!decision.ok || decision.account !== record.account || claims.sub !== record.subject) {
      log.info(
        { account: record.account, reason: decision.ok ? "account_changed" : decision.reason },
        "oidc user no longer accepted at re-check",
      );
      await store.revokeAccount(record.account);
      return { result: "deny" };
    }
    await store.update(record.id, {
      labels: decision.labels,
      checkedAt: config.clock(),
      ...(rotated === undefined ? {} : { refreshToken: tokenSealer.seal(rotated) }),
    });
    return { result: "allow", labels: decision.labels };
  }

  const authenticator: Authenticator = {
    name: config.name,
    async authenticate({ account, password }) {
      if (account === "" || !password.startsWith(PASSWORD_PREFIX)) return { result: "no-match" };
      const records = await store.list(account);
      if (records.length === 0) return { result: "no-match" };
      const hash = hashPassword(password);
      let found: RegistryPasswordRecord | undefined;
      // Every record is compared, so the time does not tell which one matched.
      for (const record of records)
        if (sameHash(hash, record.hash) && found === undefined) found = record;
      if (found === undefined) return { result: "deny" };
      const due = config.clock() - found.checkedAt >= config.recheckInterval * 1000;
      const refreshToken = found.refreshToken && tokenSealer.open(found.refreshToken);
      if (!due || !refreshToken) return { result: "allow", labels: found.labels as Labels };
      let pending = rechecks.get(found.id);
      if (pending === undefined) {
        pending = recheck(found, refreshToken).finally(() => rechecks.delete(found.id));
        rechecks.set(found.id, pending);
      }
      return pending;
    },
    // A refresh token's account: it keeps signing in while it holds a registry
    // password (revoking the passwords, or a failed re-check, ends that).
    async lookup({ account }) {
      if (account === "") return { result: "no-match" };
      const records = await store.list(account);
      const newest = records.reduce<RegistryPasswordRecord | undefined>(
        (best, record) => (best === undefined || record.checkedAt > best.checkedAt ? record : best),
        undefined,
      );
      return newest === undefined
        ? { result: "no-match" }
        : { result: "allow", labels: newest.labels as Labels };
    },
    async close() {
      await store.close?.();
    },
  };

  return {
    handler,
    authenticator,
    revokeAccount,
    close: async () => {
      await store.close?.();
    },
  };
}

/** An error's name, code and message for a log line; never a token. */
function describe(error: unknown): Record<string, unknown> | undefined {
  if (error === undefined) return undefined;
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === "string" ? { code } : {}),
  };
}
