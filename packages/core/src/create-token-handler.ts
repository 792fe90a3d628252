import { z } from "zod";
import { chainAuthenticators } from "./chain-authenticators.js";
import { chainAuthorizers } from "./chain-authorizers.js";
import { isRegauthError, RegauthError } from "./errors.js";
import { parseBasicAuthorization } from "./internal/basic-auth.js";
import { resolveClientIp } from "./internal/client-ip.js";
import { describeError } from "./internal/describe-error.js";
import { HTTP_ERRORS } from "./internal/http-errors.js";
import { errorResponse, jsonResponse } from "./internal/respond.js";
import { intersectActions } from "./intersect-actions.js";
import { type Logger, silentLogger } from "./logger.js";
import type { AccessEntry, Authenticator, Authorizer, Labels, TokenIssuer } from "./model.js";
import { parseOptions } from "./parse-options.js";
import { parseScopes } from "./parse-scope.js";
import { DEFAULT_MAX_SCOPE_LENGTH, DEFAULT_MAX_SCOPES, type Scope } from "./scope.js";

/** Longest request URL accepted, in characters (path and query). */
export const MAX_URL_LENGTH = 16384;
/** Most query parameters accepted in one token request. */
export const MAX_QUERY_PARAMETERS = 256;

/**
 * The one value of a parameter that must not disagree with itself: repeating it
 * with the same value is tolerated, two different values are refused (400).
 * Missing gives `""`.
 */
function singleValue(query: URLSearchParams, name: string): string {
  const values = query.getAll(name);
  const first = values[0] ?? "";
  if (values.some((value) => value !== first)) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `parameter ${name} given twice with different values`,
    );
  }
  return first;
}

/**
 * Options of {@link createTokenHandler}.
 *
 * - `authenticators`: tried in order as a chain (protocol.md §4). Required, at least one.
 * - `authorizers`: asked in order for every scope. Required, at least one.
 * - `issuer`: signs the tokens (`createTokenIssuer` from `@regauth/token`). Required.
 * - `services`: the services (token audiences) this endpoint issues tokens for.
 *   A request naming another gets 400; a request with no or an empty `service`
 *   gets the first. Required, at least one.
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
 * - `logger`: pino-shaped logger. Default: silent.
 */
export interface TokenHandlerOptions {
  readonly authenticators: readonly Authenticator[];
  readonly authorizers: readonly Authorizer[];
  readonly issuer: TokenIssuer;
  readonly services: readonly string[];
  readonly realm?: string;
  readonly realIpHeader?: string;
  readonly realIpPosition?: number;
  readonly maxScopes?: number;
  readonly maxScopeLength?: number;
  readonly logger?: Logger;
}

/**
 * What an adapter knows about the connection that a `Request` does not carry.
 *
 * - `clientIp`: the socket's remote address, as the transport reports it.
 */
export interface RequestContext {
  readonly clientIp?: string | undefined;
}

/** A Web-standard token endpoint: a `Request` in, a `Response` out. */
export type TokenHandler = (request: Request, context?: RequestContext) => Promise<Response>;

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
  services: z.array(z.string().min(1)).min(1),
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
  logger: z
    .custom<Logger>(
      (value) => ["debug", "info", "warn", "error"].every((m) => hasMethod(m)(value)),
      "expected a logger with debug, info, warn and error",
    )
    .default(silentLogger),
});

/**
 * Creates the GET token endpoint of distribution's token auth
 * (docs/spec/auth/token.md; protocol.md §2) as a Web-standard handler:
 * `(request, context?) => Promise<Response>`. Mount it anywhere; it does not
 * look at the path. Adapters for node:http (`@regauth/core/node`), Express and
 * Koa pass the socket address in `context.clientIp`.
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
 * - POST: 404 (the OAuth2 grant is not served; containerd then falls back to GET).
 * - Other methods: 405 with `Allow: GET`.
 *
 * `account`, `client_id`, `offline_token` and unknown parameters are accepted
 * and do not change the answer (beyond the `account` check: a non-empty
 * `account` must equal the Basic user; without credentials it is ignored).
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options,
 *   naming the option (`services[0]: ...`).
 *
 * @example
 * const handler = createTokenHandler({
 *   authenticators: [createStaticAuthenticator({ users })],
 *   authorizers: [createAclAuthorizer({ acl })],
 *   issuer: createTokenIssuer({ issuer: "regauth", privateKey }),
 *   services: ["registry.example.com"],
 * });
 * const response = await handler(new Request("http://x/auth?service=registry.example.com"));
 */
export function createTokenHandler(options: TokenHandlerOptions): TokenHandler {
  const config = parseOptions(optionsSchema, options);
  const authenticator = chainAuthenticators(config.authenticators);
  const authorizer = chainAuthorizers(config.authorizers);
  const proxy =
    config.realIpHeader === undefined
      ? undefined
      : { header: config.realIpHeader, position: config.realIpPosition };
  const challenge = { "WWW-Authenticate": `Basic realm="${config.realm}"` };
  const limits = { maxScopes: config.maxScopes, maxScopeLength: config.maxScopeLength };
  const log = config.logger;

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

  async function handleGet(
    request: Request,
    context: RequestContext | undefined,
    secrets: string[],
  ) {
    if (request.url.length > MAX_URL_LENGTH) {
      throw new RegauthError(
        "ERR_REQUEST_INVALID",
        `request URL too long: more than ${MAX_URL_LENGTH} characters`,
      );
    }
    const query = new URL(request.url).searchParams;
    if (query.size > MAX_QUERY_PARAMETERS) {
      throw new RegauthError(
        "ERR_REQUEST_INVALID",
        `too many query parameters: more than ${MAX_QUERY_PARAMETERS}`,
      );
    }
    const requestedService = singleValue(query, "service");
    const service = requestedService === "" ? (config.services[0] as string) : requestedService;
    if (!config.services.includes(service)) {
      throw new RegauthError(
        "ERR_REQUEST_INVALID",
        `unknown service ${JSON.stringify(service.slice(0, 100))}`,
      );
    }
    const scopes = parseScopes(query.getAll("scope"), limits);
    const credentials = parseBasicAuthorization(request.headers.get("authorization"));
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
    const clientIp = resolveClientIp(request.headers, context?.clientIp, proxy);

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
    return jsonResponse(200, {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
    });
  }

  return async function tokenHandler(request, context) {
    // What must never reach a log line, even inside a backend's own error message.
    const secrets: string[] = [];
    try {
      if (request.method === "GET") return await handleGet(request, context, secrets);
      if (request.method === "POST") {
        throw new RegauthError(
          "ERR_NOT_FOUND",
          "the OAuth2 token grant is not served here; use GET with Basic credentials",
        );
      }
      throw new RegauthError("ERR_METHOD_NOT_ALLOWED", `method ${request.method} not allowed`);
    } catch (error) {
      // A bug or a misuse surfacing mid-request (ERR_INTERNAL, ERR_CONFIG_INVALID,
      // anything not ours) is logged whole and answered with a bare 500: its
      // message may describe configuration the client has no business seeing.
      if (!isRegauthError(error) || HTTP_ERRORS[error.code].status === 500) {
        log.error({ err: describeError(error, secrets) }, "token request failed");
        return errorResponse(new RegauthError("ERR_INTERNAL", "internal error", { cause: error }));
      }
      if (error.code === "ERR_BACKEND_UNAVAILABLE") {
        log.error(
          { err: describeError(error.cause ?? error, secrets), message: error.message },
          "backend unavailable",
        );
      }
      return errorResponse(error, error.code === "ERR_UNAUTHENTICATED" ? challenge : undefined);
    }
  };
}
