import { z } from "zod";
import { chainAuthenticators } from "./chain-authenticators.js";
import { chainAuthorizers } from "./chain-authorizers.js";
import type { RefreshTokens } from "./create-refresh-tokens.js";
import { isRegauthError, RegauthError } from "./errors.js";
import { createAuthenticationGate } from "./internal/authentication-gate.js";
import { parseBasicAuthorization } from "./internal/basic-auth.js";
import { resolveClientIp } from "./internal/client-ip.js";
import { describeError } from "./internal/describe-error.js";
import { handleTokenPost } from "./internal/handle-token-post.js";
import { HTTP_ERRORS } from "./internal/http-errors.js";
import { formatIssuedAt, resolveService, singleValue } from "./internal/params.js";
import { errorReply, jsonReply } from "./internal/respond.js";
import { intersectActions } from "./intersect-actions.js";
import { type Logger, silentLogger } from "./logger.js";
import type {
  AccessEntry,
  Authenticator,
  AuthnRequest,
  Authorizer,
  Labels,
  TokenIssuer,
} from "./model.js";
import { parseOptions } from "./parse-options.js";
import { parseScopes } from "./parse-scope.js";
import { DEFAULT_MAX_SCOPE_LENGTH, DEFAULT_MAX_SCOPES, type Scope } from "./scope.js";

/** Longest request URL accepted, in characters (path and query). */
export const MAX_URL_LENGTH = 16384;
/** Most query parameters accepted in one token request. */
export const MAX_QUERY_PARAMETERS = 256;
/** Default `maxBodyBytes`: the largest POST body read, in bytes. */
export const DEFAULT_MAX_BODY_BYTES = 65_536;

/**
 * Options of {@link createTokenHandler}.
 *
 * - `authenticators`: tried in order as a chain (protocol.md §4). Required, at least one.
 * - `authorizers`: asked in order for every scope. Required, at least one.
 * - `issuer`: signs the tokens (`createTokenIssuer` from `@regauth/token`). Required.
 * - `services`: the services (token audiences) this endpoint issues tokens for.
 *   A request naming another gets 400; a request with no or an empty `service`
 *   gets the first. Required, at least one. `"any"` issues tokens for whatever
 *   service a request names (docker_auth's behaviour; each registry still only
 *   accepts its own audience), and a request naming none gets 400.
 * - `realm`: the realm in the `WWW-Authenticate: Basic realm="..."` challenge.
 *   Default `"regauth"`.
 * - `realIpHeader`: a header set by a trusted reverse proxy that carries the
 *   client address (`X-Forwarded-For`, `X-Real-IP`). Default: none, the socket
 *   address is used. Set it only behind a proxy that overwrites it.
 * - `realIpPosition`: which comma-separated entry of `realIpHeader` is the
 *   client: 0 the first, -1 the last (what a single proxy appended), -2 the one
 *   before. Default -1.
 * - `maxScopes`: most scopes per request. Default 64.
 * - `maxScopeLength`: longest scope, in characters. Default 512.
 * - `refreshTokens`: enables refresh tokens (`createRefreshTokens`): GET with
 *   `offline_token=true` and POST with `access_type=offline` then return a
 *   `refresh_token`, and POST `grant_type=refresh_token` is served. Default:
 *   none (no refresh token is ever returned; that grant gets 400
 *   `unsupported_grant_type`).
 * - `maxBodyBytes`: largest POST body read, in bytes; more gets 413. Default 65 536.
 * - `credentialCacheTtl`: seconds a successful authentication is remembered,
 *   so a returning user costs no bcrypt, bind or query. Default 60; 0 turns the
 *   cache off. Only successes are kept, keyed by an HMAC-SHA256 (random
 *   per-process key) of the chain, account, password, service and client
 *   address (so an authenticator that decides on the address or the service
 *   is asked again for another one): neither password nor hash is kept. Trade-off: a password changed or removed in the backend still
 *   works on this process until its entry expires. A new handler (a config
 *   reload) starts empty.
 * - `credentialCacheMaxEntries`: most remembered authentications, least
 *   recently used dropped first. Default 10 000.
 * - `maxAuthenticationsInFlight`: most authentications running at once (cache
 *   misses: bcrypt verifications, LDAP binds, queries). One more is answered
 *   503 with `Retry-After: 1` (`ERR_OVERLOADED`) instead of joining an
 *   unbounded queue, so a flood of bad passwords cannot starve returning users
 *   (they come from the cache). Default 32.
 * - `maxAuthenticationsInFlightPerClient`: most of those for one client
 *   address (as `realIpHeader` resolves it), so that one address flooding
 *   wrong passwords leaves slots for everyone else's first logins. Default:
 *   half of `maxAuthenticationsInFlight` (16). Requests whose address is
 *   unknown (no `clientIp`) are bound by `maxAuthenticationsInFlight` only.
 *   Behind a proxy, set `realIpHeader`, or every client shares the proxy's
 *   address and this bound.
 * - `logger`: pino-shaped logger. Default: silent.
 */
export interface TokenHandlerOptions {
  readonly authenticators: readonly Authenticator[];
  readonly authorizers: readonly Authorizer[];
  readonly issuer: TokenIssuer;
  readonly services: readonly string[] | "any";
  readonly realm?: string;
  readonly realIpHeader?: string;
  readonly realIpPosition?: number;
  readonly maxScopes?: number;
  readonly maxScopeLength?: number;
  readonly refreshTokens?: RefreshTokens;
  readonly maxBodyBytes?: number;
  readonly credentialCacheTtl?: number;
  readonly credentialCacheMaxEntries?: number;
  readonly maxAuthenticationsInFlight?: number;
  readonly maxAuthenticationsInFlightPerClient?: number;
  readonly logger?: Logger;
}

/**
 * A token request as any transport hands it to {@link createTokenEndpoint}:
 * what the endpoint reads of an HTTP request, and nothing more.
 *
 * - `method`: the HTTP method as sent (`"GET"`, `"POST"`).
 * - `target`: the request target, path and query (`/auth?service=...`) or an
 *   absolute URL; only its query is read, and it may be at most
 *   {@link MAX_URL_LENGTH} characters.
 * - `header(name)`: a header's value by its lower-case name, repeated headers
 *   joined with `", "` (as Fetch's `Headers.get`); `undefined` when absent.
 * - `readBody(maxBytes)`: the whole body, as bytes (UTF-8 expected) or text.
 *   It rejects with `ERR_REQUEST_TOO_LARGE` past `maxBytes` bytes and with
 *   `ERR_REQUEST_INVALID` when the client leaves before the end. Absent: the
 *   request has no body. Only a POST's body is read.
 * - `clientIp`: the client's address as the transport sees it (the socket's
 *   remote address); `realIpHeader` overrides it when configured.
 */
export interface TokenRequest {
  readonly method: string;
  readonly target: string;
  header(name: string): string | undefined;
  readBody?(maxBytes: number): Promise<Uint8Array | string>;
  readonly clientIp?: string | undefined;
}

/**
 * The endpoint's answer, for the transport to write.
 *
 * - `status`: the HTTP status code.
 * - `headers`: header names as written on the wire (`Content-Type`,
 *   `Cache-Control`, `WWW-Authenticate`...), one value each.
 * - `body`: the JSON body as text, written as UTF-8.
 */
export interface TokenReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The transport-neutral token endpoint: a {@link TokenRequest} in, a
 * {@link TokenReply} out. It never rejects: every failure is an answer.
 */
export type TokenEndpoint = (request: TokenRequest) => Promise<TokenReply>;

const hasMethod = (method: string) => (value: unknown) =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as Record<string, unknown>)[method] === "function";

const optionsSchema = z.strictObject({
  authenticators: z
    .array(z.custom<Authenticator>(hasMethod("authenticate"), "expected an Authenticator"))
    .min(1),
  authorizers: z
    .array(z.custom<Authorizer>(hasMethod("authorize"), "expected an Authorizer"))
    .min(1),
  issuer: z.custom<TokenIssuer>(hasMethod("issue"), "expected a TokenIssuer"),
  services: z.union([z.array(z.string().min(1)).min(1), z.literal("any")], {
    error: 'expected a non-empty array of service names, or "any"',
  }),
  realm: z
    .string()
    .regex(/^[\x20-\x7e]*$/, "printable ASCII expected")
    .refine((value) => !value.includes('"') && !value.includes("\\"), "no quotes or backslashes")
    .default("regauth"),
  realIpHeader: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, "a header name expected")
    .optional(),
  realIpPosition: z.number().int().default(-1),
  maxScopes: z.number().int().min(1).max(10_000).default(DEFAULT_MAX_SCOPES),
  maxScopeLength: z.number().int().min(64).max(65_536).default(DEFAULT_MAX_SCOPE_LENGTH),
  refreshTokens: z
    .custom<RefreshTokens>(
      (value) => hasMethod("issue")(value) && hasMethod("redeem")(value),
      "expected refresh tokens from createRefreshTokens",
    )
    .optional(),
  maxBodyBytes: z.number().int().min(1024).max(16_777_216).default(DEFAULT_MAX_BODY_BYTES),
  credentialCacheTtl: z.number().min(0).max(86_400).default(60),
  credentialCacheMaxEntries: z.number().int().min(1).max(10_000_000).default(10_000),
  maxAuthenticationsInFlight: z.number().int().min(1).max(100_000).default(32),
  maxAuthenticationsInFlightPerClient: z.number().int().min(1).max(100_000).optional(),
  logger: z
    .custom<Logger>(
      (value) => ["debug", "info", "warn", "error"].every((m) => hasMethod(m)(value)),
      "expected a logger with debug, info, warn and error",
    )
    .default(silentLogger),
});

/**
 * Creates the token endpoint of distribution's token auth (GET,
 * docs/spec/auth/token.md; POST, docs/spec/auth/oauth.md; protocol.md §2) as
 * a transport-neutral function: a {@link TokenRequest} in, a
 * {@link TokenReply} out. It does not look at the path. Most users want
 * {@link createTokenHandler} (Web `Request`/`Response`) and its adapters for
 * node:http, Express and Koa, which call this endpoint directly, without
 * Web objects; call it yourself to serve another transport (Fastify,
 * uWebSockets.js, a test) at the same speed.
 *
 * GET `?service=S&scope=..&scope=..[&account=U]` with HTTP Basic credentials or
 * none (anonymous):
 * - 200 `{token, access_token, expires_in, issued_at}`: `expires_in` an integer
 *   number of seconds, `issued_at` RFC 3339. Every requested scope appears in
 *   the token's `access` with the requested actions that were allowed, possibly `[]`.
 * - 401 with `WWW-Authenticate: Basic realm="..."` and
 *   `{"errors":[{"code":"UNAUTHORIZED",...}],"details":...}` when the
 *   authenticators deny or nobody knows the account. The body does not tell an
 *   unknown account from a wrong password.
 * - 400 for malformed input (scopes, Basic header, `account` that differs from
 *   the Basic user, unknown `service`, too many parameters).
 * - 503 when a backend fails (`ERR_BACKEND_UNAVAILABLE`), never 401 nor a token.
 * - With `offline_token=true`, an authenticated (not anonymous) request and
 *   `refreshTokens` set, the answer also has `refresh_token`, bound to the
 *   account, the service and `client_id` (what `docker login` asks for).
 *
 * POST (OAuth2, RFC 6749 §4.3 and §6), an `application/x-www-form-urlencoded`
 * body of at most `maxBodyBytes` with `grant_type=password` (`username`,
 * `password`) or `grant_type=refresh_token` (`refresh_token`), and `service`,
 * `client_id` (optional), `access_type=offline`, `scope` (space-separated
 * and/or repeated; empty or missing means no scopes). Parameters of the URL's
 * query count too (the realm's own query); one given twice must hold one value;
 * `password` and `refresh_token` are refused there (400: a URL ends up in logs).
 * - 200 `{token, access_token, token_type: "Bearer", expires_in, issued_at,
 *   scope}` (`scope`: the granted scopes, space-separated), plus
 *   `refresh_token` when `access_type=offline` was asked and `refreshTokens`
 *   is set (a refresh grant returns the same token: no rotation).
 * - 400 `{"error":"invalid_grant",...}` for a wrong username or password and
 *   for a refresh token that is unknown, expired, revoked, or issued for
 *   another service or `client_id`. 400, not 401: RFC 6749 §5.2 keeps 401 for
 *   client authentication, and no client falls back to GET on 400 or 401
 *   (containerd falls back only on 404, and on 405 for the password grant),
 *   so a wrong password stays an error instead of being retried.
 * - 400 `invalid_request` (missing `grant_type`, `username` or
 *   `refresh_token`; a parameter with two values; another Content-Type;
 *   unknown `service`), `invalid_scope` (bad scopes), `unsupported_grant_type`
 *   (another grant, or `refresh_token` without `refreshTokens`); 413 for a
 *   larger body. Every POST error body has `error` and `error_description`
 *   besides the docker `errors` envelope.
 * - 503 `temporarily_unavailable` when a backend fails.
 * - Other methods: 405 with `Allow: GET, POST`.
 *
 * `account` and unknown parameters are accepted and do not change the answer
 * (beyond the `account` check: a non-empty `account` must equal the Basic
 * user; without credentials it is ignored).
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options,
 *   naming the option (`services[0]: ...`).
 *
 * @example
 * const endpoint = createTokenEndpoint({
 *   authenticators: [createStaticAuthenticator({ users })],
 *   authorizers: [createAclAuthorizer({ acl })],
 *   issuer: createTokenIssuer({ issuer: "regauth", privateKey }),
 *   services: ["registry.example.com"],
 * });
 * const reply = await endpoint({
 *   method: "GET",
 *   target: "/auth?service=registry.example.com&scope=repository:team/app:pull",
 *   header: (name) => (name === "authorization" ? basicHeader : undefined),
 * });
 * // reply.status 200, reply.body '{"token":"eyJ...","access_token":...}'
 */
export function createTokenEndpoint(options: TokenHandlerOptions): TokenEndpoint {
  const config = parseOptions(optionsSchema, options);
  const authenticator = createAuthenticationGate(chainAuthenticators(config.authenticators), {
    cacheTtl: config.credentialCacheTtl,
    cacheMaxEntries: config.credentialCacheMaxEntries,
    maxInFlight: config.maxAuthenticationsInFlight,
    maxInFlightPerClient:
      config.maxAuthenticationsInFlightPerClient ??
      Math.max(1, Math.ceil(config.maxAuthenticationsInFlight / 2)),
  });
  const authorizer = chainAuthorizers(config.authorizers);
  const proxy =
    config.realIpHeader === undefined
      ? undefined
      : { header: config.realIpHeader, position: config.realIpPosition };
  const challenge = { "WWW-Authenticate": `Basic realm="${config.realm}"` };
  const limits = { maxScopes: config.maxScopes, maxScopeLength: config.maxScopeLength };
  const log = config.logger;
  // Refusals for overload are counted and logged at most every 10 s: a flood
  // of bad passwords shows in the log without writing one line per request.
  let overloadRefusals = 0;
  let overloadLoggedAt = 0;
  const noteOverload = () => {
    overloadRefusals++;
    const now = Date.now();
    if (now - overloadLoggedAt < 10_000) return;
    log.warn(
      { refused: overloadRefusals, maxAuthenticationsInFlight: config.maxAuthenticationsInFlight },
      "too many authentications in flight: requests refused with 503",
    );
    overloadRefusals = 0;
    overloadLoggedAt = now;
  };
  const { refreshTokens } = config;

  async function authorizeAll(
    account: string,
    service: string,
    clientIp: string | undefined,
    labels: Labels,
    scopes: readonly Scope[],
  ): Promise<AccessEntry[]> {
    return Promise.all(
      scopes.map(async (scope) => {
        const decision = await authorizer.authorize({ account, service, clientIp, labels, scope });
        const actions =
          decision.result === "grant" ? intersectActions(scope.actions, decision.actions) : [];
        return scope.class === undefined
          ? { type: scope.type, name: scope.name, actions }
          : { type: scope.type, class: scope.class, name: scope.name, actions };
      }),
    );
  }

  async function handleGet(request: TokenRequest, secrets: string[]): Promise<TokenReply> {
    const query = readQuery(request.target);
    const service = resolveService(query, config.services);
    const scopes = parseScopes(query.getAll("scope"), limits);
    const credentials = parseBasicAuthorization(request.header("authorization"));
    if (credentials) secrets.push(credentials.password);
    const account = credentials?.account ?? "";
    // docker_auth reads an empty `account=` as no account at all.
    const claimedAccount = singleValue(query, "account");
    if (credentials && claimedAccount !== "" && claimedAccount !== account) {
      throw new RegauthError(
        "ERR_REQUEST_INVALID",
        "the account parameter differs from the user in the Basic credentials",
      );
    }
    const clientIp = resolveClientIp(request, request.clientIp, proxy);

    const authn = await authenticator.authenticate({
      account,
      password: credentials?.password ?? "",
      service,
      clientIp,
    });
    if (authn.result !== "allow") {
      log.info({ account, service, clientIp, outcome: authn.result }, "authentication refused");
      throw new RegauthError(
        "ERR_UNAUTHENTICATED",
        credentials ? "invalid username or password" : "authentication required",
      );
    }
    const labels = authn.labels ?? {};
    const access = await authorizeAll(account, service, clientIp, labels, scopes);
    const issued = await config.issuer.issue({ subject: account, audience: service, access });
    log.info({ account, service, clientIp, access }, "token issued");
    const offline = singleValue(query, "offline_token") === "true";
    const refreshToken =
      offline && refreshTokens && account !== ""
        ? await refreshTokens.issue({
            account,
            service,
            clientId: singleValue(query, "client_id"),
            labels,
          })
        : undefined;
    return jsonReply(200, {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: formatIssuedAt(issued.issuedAt),
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    });
  }

  const grantEndpoint = {
    services: config.services,
    limits,
    maxBodyBytes: config.maxBodyBytes,
    maxParameters: MAX_QUERY_PARAMETERS,
    refreshTokens,
    log,
    authenticate: (request: AuthnRequest) => authenticator.authenticate(request),
    async grant(
      account: string,
      service: string,
      clientIp: string | undefined,
      labels: Labels,
      scopes: readonly Scope[],
    ) {
      const access = await authorizeAll(account, service, clientIp, labels, scopes);
      const issued = await config.issuer.issue({ subject: account, audience: service, access });
      return { issued, access };
    },
  };

  return async function tokenEndpoint(request) {
    // What must never reach a log line, even inside a backend's own error message.
    const secrets: string[] = [];
    const oauth = request.method === "POST";
    try {
      if (request.method === "GET") return await handleGet(request, secrets);
      if (oauth) {
        const clientIp = resolveClientIp(request, request.clientIp, proxy);
        return await handleTokenPost(
          request,
          readQuery(request.target),
          clientIp,
          secrets,
          grantEndpoint,
        );
      }
      throw new RegauthError(
        "ERR_METHOD_NOT_ALLOWED",
        `method ${request.method.slice(0, 20)} not allowed`,
      );
    } catch (error) {
      // A bug or a misuse surfacing mid-request (ERR_INTERNAL, ERR_CONFIG_INVALID,
      // anything not ours) is logged whole and answered with a bare 500: its
      // message may describe configuration the client has no business seeing.
      if (!isRegauthError(error) || HTTP_ERRORS[error.code].status === 500) {
        log.error({ err: describeError(error, secrets) }, "token request failed");
        return errorReply(
          new RegauthError("ERR_INTERNAL", "internal error", { cause: error }),
          undefined,
          oauth,
        );
      }
      if (error.code === "ERR_OVERLOADED") noteOverload();
      if (error.code === "ERR_BACKEND_UNAVAILABLE") {
        log.error(
          { err: describeError(error.cause ?? error, secrets), message: error.message },
          "backend unavailable",
        );
      }
      return errorReply(error, error.code === "ERR_UNAUTHENTICATED" ? challenge : undefined, oauth);
    }
  };
}

/**
 * The query of a request target (path and query, or an absolute URL; a
 * fragment is cut off), within the limits on its length and its number of
 * parameters.
 *
 * @throws RegauthError `ERR_REQUEST_INVALID` past {@link MAX_URL_LENGTH}
 *   characters or {@link MAX_QUERY_PARAMETERS} parameters.
 */
function readQuery(target: string): URLSearchParams {
  if (target.length > MAX_URL_LENGTH) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `request URL too long: more than ${MAX_URL_LENGTH} characters`,
    );
  }
  const fragment = target.indexOf("#");
  const end = fragment < 0 ? target.length : fragment;
  const start = target.indexOf("?");
  const query = new URLSearchParams(start < 0 || start > end ? "" : target.slice(start + 1, end));
  if (query.size > MAX_QUERY_PARAMETERS) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `too many query parameters: more than ${MAX_QUERY_PARAMETERS}`,
    );
  }
  return query;
}
