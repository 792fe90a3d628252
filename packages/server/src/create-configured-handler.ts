import { readFile } from "node:fs/promises";
import { createStaticAuthenticator } from "@regauth/authn";
import type { OidcLogin, RegistryPasswordStore } from "@regauth/authn/oidc";
import { type AclAuthorizer, createAclAuthorizer } from "@regauth/authz";
import type { MongoAclAuthorizer } from "@regauth/authz/mongodb";
import {
  type Authenticator,
  type Authorizer,
  chainAuthenticators,
  createMemoryRefreshTokenStore,
  createRefreshTokens,
  createTokenHandler,
  type Logger,
  type RefreshTokenOptions,
  type RefreshTokenStore,
  type RefreshTokens,
  RegauthError,
  type RequestContext,
  silentLogger,
  type TokenHandler,
} from "@regauth/core";
import { createTokenIssuer, type RegistryTokenIssuer } from "@regauth/token";
import { createExtAuthenticator } from "./create-ext-authenticator.js";
import { createExtAuthorizer } from "./create-ext-authorizer.js";
import {
  LDAP_KEYS,
  ldapOptions,
  MONGO_KEYS,
  mongoConnectionOptions,
  readSecretFile,
  renameKeys,
} from "./internal/backend-options.js";
import { type LazyRedis, lazyRedis } from "./internal/redis-client.js";
import type { MongoDialInfo, OidcAuthSection, RegauthConfig } from "./load-config.js";

/**
 * In-memory stores a handler may take over from the one it replaces, so that
 * a config reload keeps refresh tokens and OpenID Connect registry passwords
 * (`startServer` passes the same object to every build). Filled by
 * {@link createConfiguredHandler} when a section uses memory and the entry is
 * empty; keyed by section.
 */
export interface MemoryStores {
  refreshTokens?: RefreshTokenStore;
  oidc_auth?: RegistryPasswordStore;
  google_auth?: RegistryPasswordStore;
}

/**
 * Options of {@link createConfiguredHandler}.
 *
 * - `logger`: pino-shaped; gets token decisions and programs' stderr. Default: silent.
 * - `memoryStores`: see {@link MemoryStores}. Default: new stores.
 */
export interface ConfiguredHandlerOptions {
  readonly logger?: Logger;
  readonly memoryStores?: MemoryStores;
}

/** One `oidc_auth` or `google_auth` section, built: its pages are served under `path`. */
export interface ConfiguredOidcLogin {
  readonly section: "oidc_auth" | "google_auth";
  readonly path: string;
  readonly login: OidcLogin;
}

/**
 * Everything a {@link RegauthConfig} turns into.
 *
 * - `handler`: the endpoint: `GET|POST <path_prefix>/auth` and
 *   `<path_prefix>/auth/token`, and the sign-in pages of `google_auth` and
 *   `oidc_auth` under their paths; any other path gets 404.
 * - `tokenHandler`, `isTokenRequest(pathname, hasHeader)`: the token
 *   endpoint alone, and the rule `handler` routes by, for a server that routes
 *   itself: a request for which `isTokenRequest` holds (a token path, with the
 *   `real_ip_header` when one is set) gets the same answer from
 *   `tokenHandler` as from `handler` (and `toNodeListener` serves it without
 *   Web objects).
 * - `issuer`: the token signer (its `publicJwk`, `keyId`...).
 * - `authenticators`, `authorizers`: the chains, in order (each named after
 *   its section: `static` for `users`, `ext_auth`, `google_auth`,
 *   `oidc_auth`, `ldap_auth`, `mongo_auth`; `acl`, `acl_mongo`, `ext_authz`).
 * - `refreshTokens`: with `token.refresh_tokens`, the refresh tokens (to
 *   revoke one, or an account's: `revokeAccount`).
 * - `oidcLogins`: the built `google_auth` and `oidc_auth` sections (their
 *   `login.revokeAccount` revokes a user's registry passwords).
 * - `acl`: the static ACL authorizer when the config has `acl` (for `explain`).
 * - `aclMongo`: the MongoDB ACL authorizer when the config has `acl_mongo`
 *   (for `explain`; its `ready()` resolves once rules are loaded).
 * - `ready()`: resolves once the MongoDB backends can serve (the database
 *   answers, the users index exists, the rules are loaded) and the Redis
 *   stores answer; rejects with `ERR_BACKEND_UNAVAILABLE` naming the section
 *   otherwise. Optional: they
 *   also connect on first use. `regauth serve` calls it, so that, as with
 *   docker_auth, a database that cannot be reached stops the start (and a
 *   reload, which then keeps the previous config).
 * - `close()`: closes every backend.
 */
export interface ConfiguredHandler {
  readonly handler: TokenHandler;
  readonly tokenHandler: TokenHandler;
  isTokenRequest(pathname: string, hasHeader: (name: string) => boolean): boolean;
  readonly issuer: RegistryTokenIssuer;
  readonly authenticators: readonly Authenticator[];
  readonly authorizers: readonly Authorizer[];
  readonly acl: AclAuthorizer | undefined;
  readonly aclMongo: MongoAclAuthorizer | undefined;
  readonly refreshTokens: RefreshTokens | undefined;
  readonly oidcLogins: readonly ConfiguredOidcLogin[];
  ready(): Promise<void>;
  close(): Promise<void>;
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      `${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
      { cause: error },
    );
  }
}

/**
 * Prefixes a factory's config error with the section it came from, its
 * option names first renamed to the section's keys (`keys`).
 */
function inSection<T>(section: string, build: () => T, keys?: Readonly<Record<string, string>>): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof RegauthError && error.code === "ERR_CONFIG_INVALID") {
      const renamed = keys === undefined ? error.message : renameKeys(error.message, keys);
      const message = renamed.startsWith(`${section}.`)
        ? renamed
        : renamed
            .split("; ")
            .map((line) => `${section}.${line}`)
            .join("; ");
      throw new RegauthError("ERR_CONFIG_INVALID", message, { cause: error });
    }
    throw error;
  }
}

/** The `uri` and `clientOptions` of a `dial_info`, its password file read. */
async function mongoConnection(dial: MongoDialInfo, section: string) {
  const password =
    dial.passwordFile === undefined
      ? dial.password
      : await readSecretFile(dial.passwordFile, `${section}.dial_info.password_file`);
  return {
    ...mongoConnectionOptions(dial, password),
    database: dial.database,
    timeoutMs: dial.timeoutMs,
  };
}

/** A backend's readiness error, named by its section, with the reason it gives. */
function notReady(section: string, error: unknown): RegauthError {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
  const text = message.startsWith(`${section}:`) ? message : `${section}: ${message}`;
  return new RegauthError(
    "ERR_BACKEND_UNAVAILABLE",
    cause === undefined ? text : `${text} (${cause.message})`,
    { cause: error },
  );
}

/** createOidcLogin's option names to the section's keys. */
const OIDC_KEYS: Readonly<Record<string, string>> = {
  clientId: "client_id",
  clientSecret: "client_secret",
  baseUrl: "base_url",
  cookieSecret: "cookie_secret",
  registryHost: "registry_url",
  authorizationParams: "authorization_params",
  accountClaim: "user_claim",
  labelClaims: "labels_claims",
  allowedDomains: "allowed_domains",
  passwordLifetime: "password_lifetime",
  recheckInterval: "recheck_interval",
  maxPasswordsPerAccount: "max_passwords_per_account",
  loginTimeout: "login_timeout",
  sessionLifetime: "session_lifetime",
  providerName: "provider_name",
  allowInsecureHttp: "allow_insecure_http",
};

/** `fetch` with a time limit on every call (`http_timeout`). */
function fetchWithTimeout(timeoutMs: number): typeof fetch {
  return (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return fetch(input, { ...init, signal });
  };
}

/** createOidcLogin's options for a section (secrets already read), without the store. */
function oidcOptions(
  section: OidcAuthSection,
  clientSecret: string | undefined,
  cookieSecret: string,
) {
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
  return {
    issuer: section.issuer,
    clientId: section.clientId,
    ...optional("clientSecret", clientSecret),
    baseUrl: section.baseUrl,
    cookieSecret,
    registryHost: section.registryHost,
    ...optional("scopes", section.scopes),
    authorizationParams: section.authorizationParams,
    ...optional("accountClaim", section.accountClaim),
    labelClaims: section.labelClaims,
    allowedDomains: section.allowedDomains,
    ...optional("passwordLifetime", section.passwordLifetime),
    ...optional("recheckInterval", section.recheckInterval),
    ...optional("maxPasswordsPerAccount", section.maxPasswordsPerAccount),
    ...optional("loginTimeout", section.loginTimeout),
    ...optional("sessionLifetime", section.sessionLifetime),
    ...optional("providerName", section.providerName),
    allowInsecureHttp: section.allowInsecureHttp,
    fetch: fetchWithTimeout(section.httpTimeoutMs),
    name: section.section,
  };
}

/**
 * The account check of refresh tokens: on every use, the authenticators that
 * can look an account up without its password (users, htpasswd, ldap_auth
 * with a service account, mongo_auth, the sign-in sections) are asked in
 * order, so a removed account (`no-match` from all of them) or a disabled one
 * (`deny`) loses its refresh tokens at once, and one still there gets its
 * current labels. When some authenticator cannot look accounts up
 * (`ext_auth`, `ldap_auth` binding as the user), an account nobody knows may
 * be one of its own: it keeps the labels it had at login, and a warning at
 * start says so. `undefined` when no authenticator can look up.
 */
function refreshAccountCheck(
  authenticators: readonly Authenticator[],
  logger: Logger,
): RefreshTokenOptions["checkAccount"] {
  const checkable = authenticators.filter((member) => member.lookup !== undefined);
  const blind = authenticators
    .filter((member) => member.lookup === undefined)
    .map((member) => member.name ?? "authenticator");
  if (blind.length > 0) {
    logger.warn(
      { authenticators: blind },
      "token.refresh_tokens: these authenticators cannot check an account without its password; " +
        "an account they knew keeps its refresh tokens until they expire or are revoked",
    );
  }
  const lookup = checkable.length > 0 ? chainAuthenticators(checkable).lookup : undefined;
  if (lookup === undefined) return undefined;
  return async ({ account, service, clientIp, labels }) => {
    const outcome = await lookup({ account, service, clientIp });
    return outcome.result === "no-match" && blind.length > 0
      ? { result: "allow", labels }
      : outcome;
  };
}

function errorBody(status: number, code: string, message: string): Response {
  return Response.json({ errors: [{ code, message }], details: message }, { status });
}

/**
 * Builds the token endpoint a {@link RegauthConfig} describes, as docker_auth
 * would run it: authenticators `users`, `ext_auth`, `google_auth`,
 * `oidc_auth`, `ldap_auth`, `mongo_auth` in that order (docker_auth's, which
 * puts its browser logins after `ext_auth`); authorizers `acl`, `acl_mongo`,
 * `ext_authz`; tokens signed with `token.key` (or the server's TLS key).
 * Reads and checks the key and certificate files, the programs, the LDAP CA
 * file, the LDAP and MongoDB password files and the OpenID Connect secret
 * files, so a config that builds will serve (the directory, the database,
 * Redis and the identity provider are reached on first use, or, but for the
 * provider, by `ready()`).
 *
 * With `google_auth` or `oidc_auth`, their sign-in pages are served under
 * their `path`; the authenticator answers only for registry passwords it
 * issued (`rgo_...`), so the other authenticators see every other password.
 * With `token.refresh_tokens`, the token endpoint issues and redeems refresh
 * tokens (`createRefreshTokens`), checking at each use that the account is
 * still there (see `refreshAccountCheck` below: the authenticators' `lookup`).
 *
 * Without `token.services`, tokens are issued for whatever `service` a
 * request names (as docker_auth does; a request without one gets 400).
 * With `server.real_ip_header`, requests that lack the header get 400.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` naming the key: unreadable files
 *   (`token.key: cannot read /etc/x.pem: ENOENT`), a key that does not match
 *   its certificate (`token.certificateChain: ...`), a program not found
 *   (`ext_auth.command: not found on PATH`), an unreadable password or CA
 *   file (`ldap_auth.bind_password_file: cannot read /run/x: ENOENT`), a
 *   filter that does not parse (`ldap_auth.filter: ...`).
 *
 * @example
 * const config = await loadConfig({ path: "auth_config.yml" });
 * const { handler, close } = await createConfiguredHandler(config, { logger: pino() });
 * createServer(toNodeListener(handler)).listen(config.server.port, config.server.host);
 */
export async function createConfiguredHandler(
  config: RegauthConfig,
  options: ConfiguredHandlerOptions = {},
): Promise<ConfiguredHandler> {
  const logger = options.logger ?? silentLogger;
  const privateKey = await readPem(config.token.key, "token.key");
  const certificateChain = await readPem(config.token.certificate, "token.certificate");
  const issuer = inSection("token", () =>
    createTokenIssuer({
      issuer: config.token.issuer,
      privateKey,
      certificateChain,
      keyId: config.token.disableLegacyKeyId ? "thumbprint" : "libtrust",
      x5c: config.token.x5c,
      lifetime: config.token.expiration,
    }),
  );

  // docker_auth's order (server.go NewAuthServer): users, ext_auth, ..., ldap_auth, mongo_auth;
  // acl, acl_mongo, ext_authz.
  const authenticators: Authenticator[] = [];
  const authorizers: Authorizer[] = [];
  const waitFor: Array<{ section: string; ready: () => Promise<void> }> = [];
  const redisClients: LazyRedis[] = [];
  const oidcLogins: ConfiguredOidcLogin[] = [];
  const memoryStores = options.memoryStores ?? {};
  let acl: AclAuthorizer | undefined;
  let aclMongo: MongoAclAuthorizer | undefined;
  let refreshTokens: RefreshTokens | undefined;
  const closeAll = async () => {
    await Promise.allSettled([
      ...authenticators.map((member) => member.close?.()),
      ...authorizers.map((member) => member.close?.()),
    ]);
    await Promise.allSettled(redisClients.map((redis) => redis.close()));
  };
  const redisFor = (redis: NonNullable<OidcAuthSection["redis"]>, section: string) => {
    const made = lazyRedis(redis, section, logger);
    redisClients.push(made);
    waitFor.push({ section, ready: () => made.ready() });
    return made;
  };
  try {
    if (config.users) {
      const users = config.users;
      authenticators.push(inSection("users", () => createStaticAuthenticator({ users })));
    }
    if (config.extAuth) {
      const ext = config.extAuth;
      authenticators.push(
        inSection("ext_auth", () => createExtAuthenticator({ ...ext, logger, name: "ext_auth" })),
      );
    }
    // docker_auth: users, ext_auth, google_auth, github_auth, oidc_auth, gitlab_auth, ldap_auth...
    for (const section of [config.googleAuth, config.oidcAuth]) {
      if (section === undefined) continue;
      const key = section.section;
      const clientSecret =
        section.clientSecretFile === undefined
          ? section.clientSecret
          : await readSecretFile(section.clientSecretFile, `${key}.client_secret_file`);
      const cookieSecret =
        section.cookieSecretFile === undefined
          ? (section.cookieSecret ?? "")
          : await readSecretFile(section.cookieSecretFile, `${key}.cookie_secret_file`);
      if (section.cookieSecretFile !== undefined && cookieSecret.length < 32) {
        throw new RegauthError(
          "ERR_CONFIG_INVALID",
          `${key}.cookie_secret_file: ${section.cookieSecretFile} holds fewer than 32 characters; expected at least 32 characters of secret text`,
        );
      }
      // Loaded only when configured: openid-client stays out of a server without it.
      const oidc = await import("@regauth/authn/oidc");
      let store: RegistryPasswordStore;
      if (section.redis) {
        const redis = redisFor(section.redis, `${key}.redis`);
        store = oidc.createRedisRegistryPasswordStore({
          client: redis.client,
          ...(section.redis.keyPrefix === undefined ? {} : { keyPrefix: section.redis.keyPrefix }),
        });
      } else {
        memoryStores[key] ??= oidc.createMemoryRegistryPasswordStore();
        store = memoryStores[key];
      }
      const login = inSection(
        key,
        () =>
          oidc.createOidcLogin({
            ...oidcOptions(section, clientSecret, cookieSecret),
            store,
            logger,
          }),
        OIDC_KEYS,
      );
      authenticators.push(login.authenticator);
      oidcLogins.push({ section: key, path: section.path, login });
    }
    if (config.ldapAuth) {
      const section = config.ldapAuth;
      const bindPassword =
        section.bindPasswordFile === undefined
          ? section.bindPassword
          : await readSecretFile(section.bindPasswordFile, "ldap_auth.bind_password_file");
      // Loaded only when configured: ldapts stays out of a server without LDAP.
      const { createLdapAuthenticator } = await import("@regauth/authn/ldap");
      authenticators.push(
        inSection(
          "ldap_auth",
          () =>
            createLdapAuthenticator({
              ...ldapOptions(section, bindPassword),
              name: "ldap_auth",
              logger,
            }),
          LDAP_KEYS,
        ),
      );
    }
    if (config.mongoAuth) {
      const section = config.mongoAuth;
      const connection = await mongoConnection(section.dialInfo, "mongo_auth");
      const { createMongoAuthenticator } = await import("@regauth/authn/mongodb");
      const mongo = inSection(
        "mongo_auth",
        () =>
          createMongoAuthenticator({
            ...connection,
            collection: section.collection,
            createIndex: section.createIndex,
            allowPasswordless: section.allowPasswordless,
            name: "mongo_auth",
            logger,
          }),
        MONGO_KEYS,
      );
      authenticators.push(mongo);
      waitFor.push({ section: "mongo_auth", ready: () => mongo.ready() });
    }
    if (config.acl) {
      const entries = config.acl;
      acl = createAclAuthorizer({ acl: entries, name: "acl" });
      authorizers.push(acl);
    }
    if (config.aclMongo) {
      const section = config.aclMongo;
      const connection = await mongoConnection(section.dialInfo, "acl_mongo");
      const { createMongoAclAuthorizer } = await import("@regauth/authz/mongodb");
      const rules = inSection(
        "acl_mongo",
        () =>
          createMongoAclAuthorizer({
            ...connection,
            collection: section.collection,
            cacheTtl: section.cacheTtl,
            name: "acl_mongo",
            logger,
          }),
        MONGO_KEYS,
      );
      aclMongo = rules;
      authorizers.push(rules);
      waitFor.push({ section: "acl_mongo", ready: () => rules.ready() });
    }
    if (config.extAuthz) {
      const ext = config.extAuthz;
      authorizers.push(
        inSection("ext_authz", () => createExtAuthorizer({ ...ext, logger, name: "ext_authz" })),
      );
    }
    if (config.token.refreshTokens) {
      const section = config.token.refreshTokens;
      let store: RefreshTokenStore;
      if (section.redis) {
        const redis = redisFor(section.redis, "token.refresh_tokens.redis");
        const { createRedisRefreshTokenStore } = await import("@regauth/core/redis");
        store = createRedisRefreshTokenStore({
          client: redis.client,
          ...(section.redis.keyPrefix === undefined ? {} : { keyPrefix: section.redis.keyPrefix }),
        });
      } else {
        memoryStores.refreshTokens ??= createMemoryRefreshTokenStore();
        store = memoryStores.refreshTokens;
      }
      const checkAccount = refreshAccountCheck(authenticators, logger);
      refreshTokens = inSection("token.refresh_tokens", () =>
        createRefreshTokens({
          store,
          lifetime: section.lifetime,
          bindClientId: section.bindClientId,
          ...(checkAccount === undefined ? {} : { checkAccount }),
        }),
      );
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const realm =
    /^[\x20-\x7e]*$/.test(config.token.issuer) && !/["\\]/.test(config.token.issuer)
      ? config.token.issuer
      : "regauth";
  const realIp =
    config.server.realIpHeader === undefined
      ? {}
      : { realIpHeader: config.server.realIpHeader, realIpPosition: config.server.realIpPos };
  // Without token.services, docker_auth issues tokens for any service named.
  const tokenHandler: TokenHandler = createTokenHandler({
    authenticators,
    authorizers,
    issuer,
    services: config.token.services ?? "any",
    realm,
    logger,
    ...realIp,
    ...(refreshTokens === undefined ? {} : { refreshTokens }),
  });

  const prefix = config.server.pathPrefix;
  const routes = new Set([`${prefix}/auth`, `${prefix}/auth/token`]);
  const realIpHeader = config.server.realIpHeader;
  const isTokenRequest = (pathname: string, hasHeader: (name: string) => boolean) =>
    routes.has(pathname) && (realIpHeader === undefined || hasHeader(realIpHeader));
  const handler: TokenHandler = async (request: Request, context?: RequestContext) => {
    const pathname = new URL(request.url).pathname;
    if (isTokenRequest(pathname, (name) => request.headers.has(name))) {
      return tokenHandler(request, context);
    }
    if (routes.has(pathname)) {
      // A token path without the proxy's header: not from the proxy.
      return errorBody(400, "INVALID_REQUEST", `the ${realIpHeader} header is required`);
    }
    for (const { path, login } of oidcLogins) {
      if (pathname === path || pathname.startsWith(`${path}/`)) return login.handler(request);
    }
    return errorBody(404, "NOT_FOUND", "not found");
  };

  return {
    handler,
    tokenHandler,
    isTokenRequest,
    issuer,
    authenticators,
    authorizers,
    acl,
    aclMongo,
    refreshTokens,
    oidcLogins,
    async ready() {
      const results = await Promise.allSettled(waitFor.map((member) => member.ready()));
      const failed = results.findIndex((result) => result.status === "rejected");
      if (failed >= 0) {
        const reason = (results[failed] as PromiseRejectedResult).reason;
        throw notReady((waitFor[failed] as (typeof waitFor)[number]).section, reason);
      }
    },
    async close() {
      await closeAll();
    },
  };
}
