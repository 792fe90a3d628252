import { readFile } from "node:fs/promises";
import { createStaticAuthenticator } from "@regauth/authn";
import { type AclAuthorizer, createAclAuthorizer } from "@regauth/authz";
import type { MongoAclAuthorizer } from "@regauth/authz/mongodb";
import {
  type Authenticator,
  type Authorizer,
  createTokenHandler,
  type Logger,
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
import type { MongoDialInfo, RegauthConfig } from "./load-config.js";

/**
 * Options of {@link createConfiguredHandler}.
 *
 * - `logger`: pino-shaped; gets token decisions and programs' stderr. Default: silent.
 */
export interface ConfiguredHandlerOptions {
  readonly logger?: Logger;
}

/**
 * Everything a {@link RegauthConfig} turns into.
 *
 * - `handler`: the endpoint: `GET|POST <path_prefix>/auth` and
 *   `<path_prefix>/auth/token`; any other path gets 404.
 * - `issuer`: the token signer (its `publicJwk`, `keyId`...).
 * - `authenticators`, `authorizers`: the chains, in order (each named after
 *   its section: `static` for `users`, `ext_auth`, `ldap_auth`, `mongo_auth`;
 *   `acl`, `acl_mongo`, `ext_authz`).
 * - `acl`: the static ACL authorizer when the config has `acl` (for `explain`).
 * - `aclMongo`: the MongoDB ACL authorizer when the config has `acl_mongo`
 *   (for `explain`; its `ready()` resolves once rules are loaded).
 * - `ready()`: resolves once the MongoDB backends can serve (the database
 *   answers, the users index exists, the rules are loaded); rejects with
 *   `ERR_BACKEND_UNAVAILABLE` naming the section otherwise. Optional: they
 *   also connect on first use. `regauth serve` calls it, so that, as with
 *   docker_auth, a database that cannot be reached stops the start (and a
 *   reload, which then keeps the previous config).
 * - `close()`: closes every backend.
 */
export interface ConfiguredHandler {
  readonly handler: TokenHandler;
  readonly issuer: RegistryTokenIssuer;
  readonly authenticators: readonly Authenticator[];
  readonly authorizers: readonly Authorizer[];
  readonly acl: AclAuthorizer | undefined;
  readonly aclMongo: MongoAclAuthorizer | undefined;
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

function errorBody(status: number, code: string, message: string): Response {
  return Response.json({ errors: [{ code, message }], details: message }, { status });
}

/**
 * Builds the token endpoint a {@link RegauthConfig} describes, as docker_auth
 * would run it: authenticators `users`, `ext_auth`, `ldap_auth`, `mongo_auth`
 * in that order; authorizers `acl`, `acl_mongo`, `ext_authz`; tokens signed
 * with `token.key` (or the server's TLS key). Reads and checks the key and
 * certificate files, the programs, the LDAP CA file and the LDAP and MongoDB
 * password files, so a config that builds will serve (the directory and the
 * database are reached on first use, or by `ready()`).
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
  let acl: AclAuthorizer | undefined;
  let aclMongo: MongoAclAuthorizer | undefined;
  const closeAll = () =>
    Promise.allSettled([
      ...authenticators.map((member) => member.close?.()),
      ...authorizers.map((member) => member.close?.()),
    ]);
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
  });

  const prefix = config.server.pathPrefix;
  const routes = new Set([`${prefix}/auth`, `${prefix}/auth/token`]);
  const realIpHeader = config.server.realIpHeader;
  const handler: TokenHandler = async (request: Request, context?: RequestContext) => {
    if (!routes.has(new URL(request.url).pathname)) return errorBody(404, "NOT_FOUND", "not found");
    if (realIpHeader !== undefined && !request.headers.has(realIpHeader)) {
      return errorBody(400, "INVALID_REQUEST", `the ${realIpHeader} header is required`);
    }
    return tokenHandler(request, context);
  };

  return {
    handler,
    issuer,
    authenticators,
    authorizers,
    acl,
    aclMongo,
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
