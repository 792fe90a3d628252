import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { type AclEntry, aclSchema } from "@regauth/authz";
import {
  DEFAULT_REFRESH_TOKEN_LIFETIME,
  MAX_REFRESH_TOKEN_LIFETIME,
  MIN_REFRESH_TOKEN_LIFETIME,
  parseOptions,
  RegauthError,
} from "@regauth/core";
import { DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME } from "@regauth/token";
import { isDocument, parseDocument } from "yaml";
import { z } from "zod";
import {
  type AclMongoFile,
  aclMongoSchema,
  type DialInfoFile,
  duration,
  type LdapAuthFile,
  ldapAuthSchema,
  ldapTlsMode,
  type MongoAuthFile,
  mongoAuthSchema,
} from "./internal/backend-sections.js";
import { substituteEnv } from "./internal/env.js";
import {
  DEFAULT_EXT_MAX_CONCURRENT,
  DEFAULT_EXT_MAX_OUTPUT_BYTES,
  DEFAULT_EXT_TIMEOUT_MS,
} from "./internal/ext-options.js";
import {
  type GoogleAuthFile,
  googleAuthSchema,
  type OidcAuthFile,
  oidcAuthSchema,
  type RedisFile,
  redisSchema,
} from "./internal/oidc-sections.js";

/**
 * The `server` section: where and how the token endpoint listens.
 *
 * - `addr`: as written (`":5001"`, `"127.0.0.1:5001"`, `"[::1]:5001"`).
 * - `host`: the address to bind; `undefined` for every interface (`":5001"`).
 * - `port`: the TCP port.
 * - `pathPrefix`: prepended to the endpoint paths `/auth` and `/auth/token`;
 *   `""` or an absolute path without trailing slash.
 * - `certificate`, `key`: absolute paths of the TLS certificate (chain) and
 *   key; both or neither. With them the endpoint speaks HTTPS.
 * - `realIpHeader`: the header a trusted proxy puts the client address in;
 *   requests without it are refused (400), as docker_auth does.
 * - `realIpPos`: which comma-separated entry of that header is the client:
 *   0 the first (docker_auth's default), -1 the last, -2 the one before.
 */
export interface ServerSection {
  readonly addr: string;
  readonly host: string | undefined;
  readonly port: number;
  readonly pathPrefix: string;
  readonly certificate: string | undefined;
  readonly key: string | undefined;
  readonly realIpHeader: string | undefined;
  readonly realIpPos: number;
}

/**
 * The `token` section: how tokens are signed.
 *
 * - `issuer`: the `iss` claim, the registry's `auth.token.issuer`.
 * - `expiration`: token lifetime in seconds, 60 to 86400. Default 300.
 * - `certificate`, `key`: absolute paths of the signing certificate (chain,
 *   leaf first) and its private key. When absent, the server's TLS pair signs,
 *   as in docker_auth.
 * - `disableLegacyKeyId`: `kid` is the RFC 7638 thumbprint (what
 *   distribution 3.x looks up) instead of the libtrust key id (2.x).
 * - `services` (regauth extension): the services tokens may be issued for;
 *   a request naming another gets 400. `undefined`: any service, as docker_auth.
 * - `x5c` (regauth extension): also send the certificate chain in the
 *   token header (`x5c`), which registry 2.x and 3.x verify against
 *   their `rootcertbundle` whatever the `kid`.
 * - `refreshTokens` (`refresh_tokens`, regauth extension): see
 *   {@link RefreshTokensSection}; `undefined` (the default, as docker_auth,
 *   which has none): no refresh token is ever issued.
 */
export interface TokenSection {
  readonly issuer: string;
  readonly expiration: number;
  readonly certificate: string;
  readonly key: string;
  readonly disableLegacyKeyId: boolean;
  readonly services: readonly string[] | undefined;
  readonly x5c: boolean;
  readonly refreshTokens: RefreshTokensSection | undefined;
}

/**
 * A `redis` mapping: where a store shared by several instances lives.
 *
 * - `url`: `redis://[user:password@]HOST[:PORT][/DB]` or `rediss://...`
 *   (write the password as `${REDIS_URL}` or `${REDIS_PASSWORD}`); never
 *   printed whole (`check` shows the host).
 * - `keyPrefix` (`key_prefix`): prepended to every key. Default: the store's
 *   (`regauth:refresh:` for refresh tokens, `regauth:oidc:` for registry passwords).
 *
 * The connection is opened on first use (`regauth check` never connects);
 * `regauth serve` waits for it before serving, as for MongoDB.
 */
export interface RedisSection {
  readonly url: string;
  readonly keyPrefix: string | undefined;
}

/**
 * `token.refresh_tokens` (regauth extension): refresh tokens (the OAuth2
 * grant of distribution's token spec, which docker_auth never had), made by
 * `createRefreshTokens` from `@regauth/core`. A `docker login` (GET with
 * `offline_token=true`) and a POST with `access_type=offline` then get a
 * `refresh_token`, and POST `grant_type=refresh_token` is served.
 *
 * - `lifetime`: seconds a refresh token lives (written as a Go duration,
 *   `"720h"`), 60 to 31 536 000. Default 2 592 000 (30 days, `720h`).
 * - `bindClientId` (`bind_client_id`): refuse a token presented with another
 *   `client_id` than the one it was issued to. Default `true`.
 * - `redis`: keep them in Redis (shared by every instance, kept across
 *   restarts); default: this process's memory, kept across config reloads
 *   but lost on restart.
 */
export interface RefreshTokensSection {
  readonly lifetime: number;
  readonly bindClientId: boolean;
  readonly redis: RedisSection | undefined;
}

/**
 * An `oidc_auth` or `google_auth` section, resolved: sign-in at an OpenID
 * Connect provider for registry passwords (`createOidcLogin` from
 * `@regauth/authn/oidc`; its options are named in brackets).
 *
 * - `section`: `"oidc_auth"` or `"google_auth"`, also the authenticator's name.
 * - `issuer` [`issuer`]: the provider. `google_auth`: `https://accounts.google.com`.
 * - `clientId` (`client_id`), `clientSecret` (`client_secret`, for a
 *   `${ENV}` reference) or `clientSecretFile` (`client_secret_file`, read and
 *   trimmed when the server is built) [`clientId`, `clientSecret`]; without a
 *   secret the client is public and PKCE alone binds the code.
 * - `baseUrl` (`base_url`) [`baseUrl`]: the public URL of the sign-in pages.
 *   When `base_url` is an origin only (`https://auth.example.com`), the path
 *   `<path_prefix>/oidc_auth` (or `<path_prefix>/google_auth`, docker_auth's
 *   route) is appended. `path`: its path, where `regauth serve` serves the
 *   pages; `redirectUri`: `<baseUrl>/callback`, to register at the provider.
 * - `cookieSecret` (`cookie_secret`) or `cookieSecretFile`
 *   (`cookie_secret_file`) [`cookieSecret`]: at least 32 characters; every
 *   instance needs the same.
 * - `registryHost` (`registry_url`, docker_auth's oidc_auth key; a host or a
 *   URL) [`registryHost`]: for the `docker login` line shown.
 * - `scopes` [`scopes`]: default `["openid", "email"]`.
 * - `authorizationParams` (`authorization_params`) [`authorizationParams`]:
 *   `google_auth` defaults to `{access_type: offline, prompt: consent}` (so
 *   Google gives the refresh token the re-check needs) and adds `hd` when
 *   `domain` is set; what the file gives is merged over that.
 * - `accountClaim` (`user_claim`) [`accountClaim`]: default `email`.
 * - `labelClaims` (`labels_claims`: a list of claims, each a label of the
 *   same name as in docker_auth, or a mapping of label to claim) [`labelClaims`].
 * - `allowedDomains` (`allowed_domains`; google_auth's `domain`) [`allowedDomains`].
 * - `passwordLifetime`, `recheckInterval`, `loginTimeout`, `sessionLifetime`
 *   (`password_lifetime`, `recheck_interval`, `login_timeout`,
 *   `session_lifetime`, Go durations) in seconds, `maxPasswordsPerAccount`
 *   (`max_passwords_per_account`), `providerName` (`provider_name`),
 *   `allowInsecureHttp` (`allow_insecure_http`): as `createOidcLogin`;
 *   `undefined` keeps its default.
 * - `httpTimeoutMs` (`http_timeout`: a Go duration; google_auth also takes
 *   seconds, docker_auth's type): each call to the provider. Default 10000.
 * - `redis`: keep registry passwords in Redis; default: memory (kept across
 *   config reloads, lost on restart).
 */
export interface OidcAuthSection {
  readonly section: "oidc_auth" | "google_auth";
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly clientSecretFile: string | undefined;
  readonly baseUrl: string;
  readonly path: string;
  readonly redirectUri: string;
  readonly cookieSecret: string | undefined;
  readonly cookieSecretFile: string | undefined;
  readonly registryHost: string;
  readonly scopes: readonly string[] | undefined;
  readonly authorizationParams: Readonly<Record<string, string>>;
  readonly accountClaim: string | undefined;
  readonly labelClaims: Readonly<Record<string, string>>;
  readonly allowedDomains: readonly string[];
  readonly passwordLifetime: number | undefined;
  readonly recheckInterval: number | undefined;
  readonly maxPasswordsPerAccount: number | undefined;
  readonly loginTimeout: number | undefined;
  readonly sessionLifetime: number | undefined;
  readonly providerName: string | undefined;
  readonly allowInsecureHttp: boolean;
  readonly httpTimeoutMs: number;
  readonly redis: RedisSection | undefined;
}

/**
 * One static user: a bcrypt `password` hash (read from `password_file` when
 * the config names a file) and `labels`. `password` is `undefined` only for
 * the anonymous user `""`.
 */
export interface UserEntry {
  readonly password?: string;
  readonly labels: Readonly<Record<string, readonly string[]>>;
}

/**
 * An `ext_auth` or `ext_authz` section: the program and its limits.
 *
 * - `command`: absolute path, or a name looked up on PATH.
 * - `args`: its arguments.
 * - `timeoutMs` (`timeout_ms`): milliseconds before it is killed. Default 5000.
 * - `maxConcurrent` (`max_concurrent`): programs at once. Default 8.
 * - `maxOutputBytes` (`max_output_bytes`): stdout/stderr bound. Default 65536.
 */
export interface ExtProgramSection {
  readonly command: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
  readonly maxConcurrent: number;
  readonly maxOutputBytes: number;
}

/** How one label is read from the user's LDAP entry (`ldap_auth.labels.NAME`). */
export interface LdapLabelSection {
  readonly attribute: string;
  /** `parse_cn`: keep the common name of a DN value (`cn=QA,ou=groups,...` gives `QA`). */
  readonly parseCn: boolean;
  /** `lower_case`: lower-case the values. */
  readonly lowerCase: boolean;
}

/**
 * The `ldap_auth` section (docker_auth's keys), resolved.
 *
 * - `addr`: `HOST:PORT` as written; `url`: what is dialled, `ldap://addr`, or
 *   `ldaps://addr` when `tls` is `always`.
 * - `tls`: `none`, `starttls` (upgrade `ldap://` before anything is sent) or
 *   `always` (LDAPS). Unset: `always` when `addr` ends in `:636`, else `none`,
 *   as docker_auth.
 * - `insecureTlsSkipVerify` (`insecure_tls_skip_verify`): accept any server
 *   certificate. For tests only.
 * - `caCertificate` (`ca_certificate`): absolute path of the PEM CA file.
 * - `bindDn`, `bindPasswordFile` (`bind_dn`, `bind_password_file`): the
 *   service account the search runs as; the file is read (and trimmed, as
 *   docker_auth does) when the server is built. `bindPassword`
 *   (`bind_password`, regauth extension): the password itself, for a
 *   `${ENV}` reference.
 * - `initialBindAsUser` (`initial_bind_as_user`): bind as the user instead,
 *   `bindDn` being the user's DN with `${account}`.
 * - `base`, `filter`: the search; `${account}` is escaped per RFC 4515.
 * - `labels`: label name to {@link LdapLabelSection}.
 */
export interface LdapAuthSection {
  readonly addr: string;
  readonly url: string;
  readonly tls: "none" | "starttls" | "always";
  readonly insecureTlsSkipVerify: boolean;
  readonly caCertificate: string | undefined;
  readonly bindDn: string | undefined;
  readonly bindPasswordFile: string | undefined;
  readonly bindPassword: string | undefined;
  readonly initialBindAsUser: boolean;
  readonly base: string;
  readonly filter: string;
  readonly labels: Readonly<Record<string, LdapLabelSection>>;
}

/**
 * A `dial_info` mapping (mgo's `DialInfo` keys, as docker_auth reads them), resolved.
 *
 * - `addrs`: `HOST` or `HOST:PORT` (port 27017 by default). Required.
 * - `database`: the database. Required.
 * - `timeoutMs` (`timeout`, a Go duration such as `"10s"`): server selection,
 *   connect and per-operation limit, in milliseconds. Default (or `0`): 10000.
 * - `username`, `password` or `passwordFile` (`password_file`, absolute path,
 *   read and trimmed when the server is built): credentials.
 * - `source`: the database credentials are checked against; default
 *   `database`, as mgo.
 * - `replicaSetName` (`replicasetname`), `direct`, `mechanism`,
 *   `enableTls` (`enable_tls`), `poolLimit` (`poollimit`): as in mgo.
 */
export interface MongoDialInfo {
  readonly addrs: readonly string[];
  readonly database: string;
  readonly timeoutMs: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly passwordFile: string | undefined;
  readonly source: string | undefined;
  readonly replicaSetName: string | undefined;
  readonly direct: boolean;
  readonly mechanism: string | undefined;
  readonly enableTls: boolean;
  readonly poolLimit: number | undefined;
}

/**
 * The `mongo_auth` section: users `{ username, password (bcrypt), labels }`.
 *
 * - `dialInfo`: see {@link MongoDialInfo}; `collection`: required.
 * - `allowPasswordless` (`allow_passwordless`, regauth extension): let a user
 *   document without `password` in with any password, as docker_auth does.
 *   Default `false`: such a user is denied.
 * - `createIndex` (`create_index`, regauth extension): create the unique
 *   index on `username`, as docker_auth does. Default `true`.
 */
export interface MongoAuthSection {
  readonly dialInfo: MongoDialInfo;
  readonly collection: string;
  readonly allowPasswordless: boolean;
  readonly createIndex: boolean;
}

/**
 * The `acl_mongo` section: rule documents `{ seq, match, actions, comment }`.
 *
 * - `dialInfo`: see {@link MongoDialInfo}; `collection`: required.
 * - `cacheTtl` (`cache_ttl`, a Go duration such as `"1m"`): seconds between
 *   two loads of the rules, 0.1 to 86400. Default 60.
 */
export interface AclMongoSection {
  readonly dialInfo: MongoDialInfo;
  readonly collection: string;
  readonly cacheTtl: number;
}

/**
 * A docker_auth-style configuration, validated and resolved: relative paths
 * are absolute (relative to the config file's folder), `${ENV}` references are
 * replaced, `users` `password_file`s are read. Sections the file does not have
 * are `undefined`.
 *
 * - `path`: the file it was loaded from, if any.
 * - `files`: every other file it names (keys, certificates, password,
 *   secret and CA files), absolute paths; `regauth serve` reloads when one
 *   of them changes, as when the config file does. External programs are
 *   not in it: they run anew for every request anyway.
 * - The chains run in docker_auth's order: authenticators `users`,
 *   `ext_auth`, `google_auth`, `oidc_auth`, `ldap_auth`, `mongo_auth`;
 *   authorizers `acl`, `acl_mongo`, `ext_authz`.
 */
export interface RegauthConfig {
  readonly path: string | undefined;
  readonly server: ServerSection;
  readonly token: TokenSection;
  readonly users: Readonly<Record<string, UserEntry>> | undefined;
  readonly acl: readonly AclEntry[] | undefined;
  readonly extAuth: ExtProgramSection | undefined;
  readonly extAuthz: ExtProgramSection | undefined;
  readonly ldapAuth: LdapAuthSection | undefined;
  readonly mongoAuth: MongoAuthSection | undefined;
  readonly aclMongo: AclMongoSection | undefined;
  readonly oidcAuth: OidcAuthSection | undefined;
  readonly googleAuth: OidcAuthSection | undefined;
  readonly files: readonly string[];
}

/**
 * Where {@link loadConfig} reads from: a file (`path`), or YAML `text`
 * (relative paths in it resolve against `baseDir`, default the working
 * directory).
 */
export type ConfigSource =
  | { readonly path: string }
  | { readonly text: string; readonly baseDir?: string };

/**
 * Options of {@link loadConfig}.
 *
 * - `env`: the variables `${NAME}` references read. Default `process.env`.
 */
export interface LoadConfigOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** docker_auth sections regauth does not offer, with what to do instead. */
const UNSUPPORTED_SECTIONS: Readonly<Record<string, string>> = {
  github_auth:
    "GitHub is not an OpenID Connect provider for users; use ext_auth or a custom Authenticator",
  gitlab_auth:
    "write it as oidc_auth with issuer: https://gitlab.com (or your GitLab's URL): GitLab is an OpenID Connect provider",
  xorm_auth: "SQL backends are not offered; use ext_auth or a custom Authenticator",
  acl_xorm: "SQL backends are not offered; use ext_authz or a custom Authorizer",
  plugin_authn: "Go plugins cannot load in Node; use ext_auth or a custom Authenticator",
  plugin_authz: "Go plugins cannot load in Node; use ext_authz or a custom Authorizer",
  casbin_authz: "casbin is not offered; use acl, ext_authz or a custom Authorizer",
  kubernetes_auth: "not offered; use ext_auth or a custom Authenticator",
};

/** A key that must be absent, with the message to give when it is there. */
const refused = (message: string) =>
  z
    .unknown()
    .refine(() => false, { error: message })
    .optional();

const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
const TLS_ONLY_HERE =
  "is not supported: regauth serves TLS with Node's defaults; terminate TLS in a proxy to tune it";

const serverSchema = z.strictObject({
  addr: z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[^:[\]\s]*):\d{1,5}$/, {
    error: "expected HOST:PORT, :PORT or [IPv6]:PORT",
  }),
  path_prefix: z
    .string()
    // Only characters a URL carries as they are: a prefix a client must
    // percent-encode (`{`, `%`, non-ASCII) would never match the raw path.
    .regex(/^(\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?$/, {
      error:
        "expected an absolute path such as /registry-auth, of letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ /",
    })
    .default(""),
  certificate: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  real_ip_header: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, { error: "expected a header name" })
    .optional(),
  real_ip_pos: z.number().int().default(0),
  net: refused("only TCP is supported (unix sockets are not)"),
  hsts: refused(`hsts ${TLS_ONLY_HERE}`),
  tls_min_version: refused(`tls_min_version ${TLS_ONLY_HERE}`),
  tls_curve_preferences: refused(`tls_curve_preferences ${TLS_ONLY_HERE}`),
  tls_cipher_suites: refused(`tls_cipher_suites ${TLS_ONLY_HERE}`),
  letsencrypt: refused("letsencrypt is not supported: give certificate and key"),
});

const tokenSchema = z.strictObject({
  issuer: z.string().min(1, { error: "expected a non-empty issuer" }),
  expiration: z
    .number()
    .int()
    .min(MIN_TOKEN_LIFETIME, { error: `expected at least ${MIN_TOKEN_LIFETIME} seconds` })
    .max(MAX_TOKEN_LIFETIME, { error: `expected at most ${MAX_TOKEN_LIFETIME} seconds` })
    .default(DEFAULT_TOKEN_LIFETIME),
  certificate: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  disable_legacy_key_id: z.boolean().default(false),
  services: z.array(z.string().min(1)).min(1).optional(),
  x5c: z.boolean().default(false),
  refresh_tokens: z
    .strictObject(
      {
        lifetime: duration(MIN_REFRESH_TOKEN_LIFETIME * 1000, MAX_REFRESH_TOKEN_LIFETIME * 1000)
          .optional()
          .transform((ms) =>
            ms === undefined ? DEFAULT_REFRESH_TOKEN_LIFETIME : Math.round(ms / 1000),
          ),
        bind_client_id: z.boolean({ error: "expected true or false" }).default(true),
        redis: redisSchema.optional(),
      },
      { error: "expected a mapping with lifetime, bind_client_id and redis ({} for the defaults)" },
    )
    .optional(),
});

const userSchema = z
  .strictObject({
    password: z
      .string()
      .regex(BCRYPT_HASH, { error: "expected a bcrypt hash ($2a$, $2b$ or $2y$)" })
      .optional(),
    password_file: z.string().min(1).optional(),
    labels: z.record(z.string(), z.array(z.string())).default({}),
  })
  .refine((user) => user.password === undefined || user.password_file === undefined, {
    error: "give password or password_file, not both",
  });

const extSchema = z.strictObject({
  command: z.string().min(1, { error: "expected a program path or name" }),
  args: z.array(z.string()).default([]),
  timeout_ms: z.number().int().min(1).max(600_000).default(DEFAULT_EXT_TIMEOUT_MS),
  max_concurrent: z.number().int().min(1).max(1024).default(DEFAULT_EXT_MAX_CONCURRENT),
  max_output_bytes: z
    .number()
    .int()
    .min(1024)
    .max(16_777_216)
    .default(DEFAULT_EXT_MAX_OUTPUT_BYTES),
});

const fileSchema = z
  .strictObject(
    {
      server: serverSchema,
      token: tokenSchema,
      users: z.record(z.string(), userSchema).optional(),
      acl: aclSchema.optional(),
      ext_auth: extSchema.optional(),
      ext_authz: extSchema.optional(),
      ldap_auth: ldapAuthSchema.optional(),
      mongo_auth: mongoAuthSchema.optional(),
      acl_mongo: aclMongoSchema.optional(),
      oidc_auth: oidcAuthSchema.optional(),
      google_auth: googleAuthSchema.optional(),
      ...Object.fromEntries(
        Object.entries(UNSUPPORTED_SECTIONS).map(([key, why]) => [
          key,
          refused(`docker_auth's ${key} is not supported: ${why}`),
        ]),
      ),
    },
    { error: "expected a mapping with server, token, and at least users or ext_auth" },
  )
  .superRefine((file, context) => {
    const issue = (path: PropertyKey[], message: string) =>
      context.addIssue({ code: "custom", path, message });
    if ((file.server.certificate === undefined) !== (file.server.key === undefined)) {
      issue(
        ["server", file.server.key === undefined ? "key" : "certificate"],
        "required with the other of certificate and key",
      );
    }
    if ((file.token.certificate === undefined) !== (file.token.key === undefined)) {
      issue(
        ["token", file.token.key === undefined ? "key" : "certificate"],
        "required with the other of certificate and key",
      );
    }
    if (file.token.certificate === undefined && file.server.certificate === undefined) {
      issue(
        ["token", "certificate"],
        "required (with token.key), or a TLS pair in server.certificate and server.key to sign with",
      );
    }
    if (
      file.users === undefined &&
      file.ext_auth === undefined &&
      file.ldap_auth === undefined &&
      file.mongo_auth === undefined &&
      file.oidc_auth === undefined &&
      file.google_auth === undefined
    ) {
      issue(
        ["users"],
        "no authentication configured: add users (an empty map denies everyone), ext_auth, ldap_auth, mongo_auth, oidc_auth or google_auth",
      );
    }
    const prefix = file.server.path_prefix.replace(/\/+$/, "");
    const taken = [`${prefix}/auth`, `${prefix}/auth/token`];
    const pagePaths: Array<[string, string]> = [];
    for (const key of ["google_auth", "oidc_auth"] as const) {
      const section = file[key];
      if (section === undefined) continue;
      // A base_url that failed its own check is reported there.
      if (!URL.canParse(section.base_url)) continue;
      const path = pagesPath(section.base_url, prefix, key);
      if (taken.some((route) => route === path || route.startsWith(`${path}/`))) {
        issue(
          [key, "base_url"],
          `the sign-in pages cannot be at ${path}: the token endpoint is at ${prefix}/auth; use another path, such as ${prefix}/${key}`,
        );
      }
      for (const [other, otherPath] of pagePaths) {
        if (
          path === otherPath ||
          path.startsWith(`${otherPath}/`) ||
          otherPath.startsWith(`${path}/`)
        ) {
          issue(
            [key, "base_url"],
            `the sign-in pages need another path than ${other}'s (${otherPath})`,
          );
        }
      }
      pagePaths.push([key, path]);
    }
    if (file.acl === undefined && file.acl_mongo === undefined && file.ext_authz === undefined) {
      issue(
        ["acl"],
        "no authorization configured: add acl (an empty list denies everything), acl_mongo or ext_authz",
      );
    }
    for (const [account, user] of Object.entries(file.users ?? {})) {
      if (account === "" && (user.password !== undefined || user.password_file !== undefined)) {
        issue(["users", account, "password"], "the anonymous entry takes no password");
      }
      if (account !== "" && user.password === undefined && user.password_file === undefined) {
        issue(["users", account, "password"], "required (or password_file)");
      }
      if (account.includes(":")) {
        issue(["users", account], "an account name cannot contain ':'");
      }
    }
  });

type FileConfig = z.output<typeof fileSchema>;

/** The path of the sign-in pages: `base_url`'s, or `<prefix>/<section>` when it has none. */
function pagesPath(baseUrl: string, prefix: string, section: string): string {
  const path = new URL(baseUrl).pathname.replace(/\/+$/, "");
  return path === "" ? `${prefix}/${section}` : path;
}

function redisSection(redis: RedisFile | undefined): RedisSection | undefined {
  return redis === undefined ? undefined : { url: redis.url, keyPrefix: redis.key_prefix };
}

/** Google's issuer (`GOOGLE_ISSUER` of `@regauth/authn/oidc`, not imported: openid-client stays unloaded). */
const GOOGLE_ISSUER = "https://accounts.google.com";
const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

function oidcSection(
  key: "oidc_auth" | "google_auth",
  section: OidcAuthFile | GoogleAuthFile | undefined,
  prefix: string,
  at: (path: string) => string,
): OidcAuthSection | undefined {
  if (section === undefined) return undefined;
  const google = key === "google_auth";
  const url = new URL(section.base_url);
  const path = pagesPath(section.base_url, prefix, key);
  const baseUrl = `${url.origin}${path}`;
  const domain = "domain" in section ? section.domain : undefined;
  const labels = section.labels_claims ?? [];
  return {
    section: key,
    issuer:
      "issuer" in section && typeof section.issuer === "string" ? section.issuer : GOOGLE_ISSUER,
    clientId: section.client_id,
    clientSecret: section.client_secret,
    clientSecretFile:
      section.client_secret_file === undefined ? undefined : at(section.client_secret_file),
    baseUrl,
    path,
    redirectUri: `${baseUrl}/callback`,
    cookieSecret: section.cookie_secret,
    cookieSecretFile:
      section.cookie_secret_file === undefined ? undefined : at(section.cookie_secret_file),
    registryHost: section.registry_url,
    scopes: section.scopes,
    authorizationParams: {
      ...(google ? { access_type: "offline", prompt: "consent" } : {}),
      ...(google && domain !== undefined ? { hd: domain } : {}),
      ...section.authorization_params,
    },
    accountClaim: section.user_claim,
    labelClaims: Array.isArray(labels)
      ? Object.fromEntries(labels.map((claim) => [claim, claim]))
      : labels,
    allowedDomains: section.allowed_domains ?? (domain === undefined ? [] : [domain]),
    passwordLifetime: seconds(section.password_lifetime),
    recheckInterval: seconds(section.recheck_interval),
    maxPasswordsPerAccount: section.max_passwords_per_account,
    loginTimeout: seconds(section.login_timeout),
    sessionLifetime: seconds(section.session_lifetime),
    providerName: section.provider_name ?? (google ? "Google" : undefined),
    allowInsecureHttp: section.allow_insecure_http,
    httpTimeoutMs: section.http_timeout ?? DEFAULT_HTTP_TIMEOUT_MS,
    redis: redisSection(section.redis),
  };
}

function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms / 1000);
}

function configError(message: string, cause?: unknown): RegauthError {
  return new RegauthError(
    "ERR_CONFIG_INVALID",
    message,
    cause === undefined ? undefined : { cause },
  );
}

/** Parses YAML text, strictly: duplicate keys and syntax errors name line and column. */
function parseYaml(text: string, where: string): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true, strict: true });
  const problem = document.errors[0];
  if (problem !== undefined) {
    const position = problem.linePos?.[0];
    const at = position ? `:${position.line}:${position.col}` : "";
    const message = (problem.message.split("\n")[0] ?? problem.message).replace(
      / at line \d+, column \d+:?$/,
      "",
    );
    throw configError(`${where}${at}: invalid YAML: ${lowerFirst(message)}`, problem);
  }
  if (!isDocument(document)) throw configError(`${where}: invalid YAML`);
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw configError(`${where}: invalid YAML: ${lowerFirst((error as Error).message)}`, error);
  }
}

function lowerFirst(message: string): string {
  return /^[A-Z][a-z]/.test(message) ? message.charAt(0).toLowerCase() + message.slice(1) : message;
}

function parseAddr(addr: string): { host: string | undefined; port: number } {
  const colon = addr.lastIndexOf(":");
  let host = addr.slice(0, colon);
  if (host.startsWith("[")) host = host.slice(1, -1);
  return { host: host === "" ? undefined : host, port: Number(addr.slice(colon + 1)) };
}

async function readPasswordFile(path: string, where: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw configError(
      `${where}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
      error,
    );
  }
  const hash = text.trim();
  if (!BCRYPT_HASH.test(hash)) {
    throw configError(`${where}: ${path} does not hold a bcrypt hash ($2a$, $2b$ or $2y$)`);
  }
  return hash;
}

function extSection(section: FileConfig["ext_auth"], base: string): ExtProgramSection | undefined {
  if (section === undefined) return undefined;
  const command =
    section.command.includes("/") && !isAbsolute(section.command)
      ? resolve(base, section.command)
      : section.command;
  return {
    command,
    args: section.args,
    timeoutMs: section.timeout_ms,
    maxConcurrent: section.max_concurrent,
    maxOutputBytes: section.max_output_bytes,
  };
}

function ldapSection(
  section: LdapAuthFile | undefined,
  at: (path: string) => string,
): LdapAuthSection | undefined {
  if (section === undefined) return undefined;
  const tls = ldapTlsMode(section.addr, section.tls);
  return {
    addr: section.addr,
    url: `${tls === "always" ? "ldaps" : "ldap"}://${section.addr}`,
    tls,
    insecureTlsSkipVerify: section.insecure_tls_skip_verify,
    caCertificate: section.ca_certificate === undefined ? undefined : at(section.ca_certificate),
    bindDn: section.bind_dn,
    bindPasswordFile:
      section.bind_password_file === undefined ? undefined : at(section.bind_password_file),
    bindPassword: section.bind_password,
    initialBindAsUser: section.initial_bind_as_user,
    base: section.base,
    filter: section.filter,
    labels: Object.fromEntries(
      Object.entries(section.labels).map(([name, label]) => [
        name,
        { attribute: label.attribute, parseCn: label.parse_cn, lowerCase: label.lower_case },
      ]),
    ),
  };
}

function dialInfo(dial: DialInfoFile, at: (path: string) => string): MongoDialInfo {
  return {
    addrs: dial.addrs,
    database: dial.database,
    timeoutMs: dial.timeout,
    username: dial.username,
    password: dial.password,
    passwordFile: dial.password_file === undefined ? undefined : at(dial.password_file),
    source: dial.source,
    replicaSetName: dial.replicasetname,
    direct: dial.direct,
    mechanism: dial.mechanism,
    enableTls: dial.enable_tls,
    poolLimit: dial.poollimit,
  };
}

function mongoAuthSection(
  section: MongoAuthFile | undefined,
  at: (path: string) => string,
): MongoAuthSection | undefined {
  if (section === undefined) return undefined;
  return {
    dialInfo: dialInfo(section.dial_info, at),
    collection: section.collection,
    allowPasswordless: section.allow_passwordless,
    createIndex: section.create_index,
  };
}

function aclMongoSection(
  section: AclMongoFile | undefined,
  at: (path: string) => string,
): AclMongoSection | undefined {
  if (section === undefined) return undefined;
  return {
    dialInfo: dialInfo(section.dial_info, at),
    collection: section.collection,
    cacheTtl: section.cache_ttl / 1000,
  };
}

/**
 * Loads a docker_auth-style YAML configuration (cesanta/docker_auth's
 * `auth_config.yml`) into one typed, validated {@link RegauthConfig}.
 *
 * Sections: `server` (addr, path_prefix, certificate, key, real_ip_header,
 * real_ip_pos), `token` (issuer, expiration, certificate, key,
 * disable_legacy_key_id; regauth adds services, x5c, refresh_tokens.{lifetime,
 * bind_client_id, redis}), `users`, `acl`,
 * `ext_auth`, `ext_authz` (regauth adds timeout_ms, max_concurrent,
 * max_output_bytes), `ldap_auth` (addr, tls, insecure_tls_skip_verify,
 * ca_certificate, bind_dn, bind_password_file, initial_bind_as_user, base,
 * filter, labels.NAME.{attribute, parse_cn, lower_case}; regauth adds
 * bind_password), `mongo_auth` (dial_info, collection; regauth adds
 * allow_passwordless, create_index) and `acl_mongo` (dial_info, collection,
 * cache_ttl), where `dial_info` takes mgo's keys (addrs, database, timeout,
 * username, password, password_file, source, replicasetname, direct,
 * mechanism, enable_tls, poollimit), `oidc_auth` (issuer, client_id,
 * client_secret, client_secret_file, base_url, cookie_secret,
 * cookie_secret_file, registry_url, scopes, authorization_params, user_claim,
 * labels_claims, allowed_domains, password_lifetime, recheck_interval,
 * max_passwords_per_account, login_timeout, session_lifetime, provider_name,
 * allow_insecure_http, http_timeout, redis) and `google_auth` (the same keys
 * but issuer, which is Google's, plus docker_auth's domain; see
 * {@link OidcAuthSection}), where `redis` is `{url, key_prefix}`. docker_auth
 * sections regauth does not offer (github_auth, gitlab_auth, plugin_authn,
 * casbin_authz...), docker_auth keys that do not apply (google_auth's
 * token_db...) and every unknown key are errors naming their path: nothing
 * is ignored.
 *
 * Strings outside `acl` may reference environment variables as `${NAME}`
 * (NAME upper case; `$${NAME}` is a literal); lower-case `${account}` and the
 * ACL's placeholders are left alone. Relative paths (certificates, keys,
 * password files, a `command` holding `/`) are relative to the config file's
 * folder. `users.NAME.password_file` (regauth extension) reads the bcrypt
 * hash from a file.
 *
 * Keys, certificates, programs, CA files, the LDAP and MongoDB password
 * files and the OpenID Connect client and cookie secret files are read when
 * a server is built from the config (`createConfiguredHandler`), not here,
 * and the directory, database, Redis and identity provider are first reached
 * then too.
 *
 * @param source `{ path }` of a file, or `{ text, baseDir? }`.
 * @param options See {@link LoadConfigOptions}.
 * @returns The configuration.
 * @throws RegauthError `ERR_CONFIG_INVALID`: the file cannot be read; invalid
 *   YAML (`config.yml:4:3: invalid YAML: ...`); every schema problem by its
 *   dotted path (`acl[2].match.nmae: unknown key`, `token.expiration:
 *   expected at least 60 seconds`, `ldap_auth.labels.groups.attribute:
 *   expected an attribute name such as memberOf`, `acl_mongo.cache_ttl:
 *   expected a duration such as "10s", "1m" or "1m30s"`, `github_auth:
 *   docker_auth's github_auth is not supported: ...`, `google_auth.token_db:
 *   docker_auth's token_db (LevelDB) is not applicable: ...`); an unset variable (`token.key: environment variable
 *   KEY_PATH is not set`). Values are never quoted.
 *
 * @example
 * const config = await loadConfig({ path: "/etc/regauth/auth_config.yml" });
 * config.token.issuer; // "Acme auth server"
 * config.acl?.length;  // 10
 */
export async function loadConfig(
  source: ConfigSource,
  options: LoadConfigOptions = {},
): Promise<RegauthConfig> {
  let text: string;
  let base: string;
  let path: string | undefined;
  if ("path" in source) {
    path = resolve(source.path);
    base = dirname(path);
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw configError(`${path}: cannot read the config file: ${code}`, error);
    }
  } else {
    text = source.text;
    base = resolve(source.baseDir ?? ".");
  }
  const where = path ?? "config";
  const raw = parseYaml(text, where);
  if (raw === null || raw === undefined) throw configError(`${where}: the config is empty`);

  const env = options.env ?? process.env;
  const substituted = substituteEnv(raw, env, new Set(["acl"]));
  if (substituted.missing.length > 0) {
    const lines = substituted.missing.map(
      (miss) => `${formatPath(miss.path)}: environment variable ${miss.name} is not set`,
    );
    throw configError(lines.join("; "));
  }

  const file = parseOptions(fileSchema, substituted.value);
  // Every file the config names, for `serve` to reload when one changes.
  const files = new Set<string>();
  const at = (value: string) => {
    const absolute = isAbsolute(value) ? value : resolve(base, value);
    files.add(absolute);
    return absolute;
  };

  const users: Record<string, UserEntry> | undefined = file.users === undefined ? undefined : {};
  for (const [account, user] of Object.entries(file.users ?? {})) {
    const password =
      user.password_file === undefined
        ? user.password
        : await readPasswordFile(
            at(user.password_file),
            formatPath(["users", account, "password_file"]),
          );
    if (users)
      users[account] =
        password === undefined ? { labels: user.labels } : { password, labels: user.labels };
  }

  const serverCert =
    file.server.certificate === undefined ? undefined : at(file.server.certificate);
  const serverKey = file.server.key === undefined ? undefined : at(file.server.key);
  const tokenCert = file.token.certificate === undefined ? serverCert : at(file.token.certificate);
  const tokenKey = file.token.key === undefined ? serverKey : at(file.token.key);
  // The schema refused a config with neither pair, so both are set here.
  if (tokenCert === undefined || tokenKey === undefined) {
    throw new RegauthError("ERR_INTERNAL", "token certificate and key missing after validation");
  }

  const prefix = file.server.path_prefix.replace(/\/+$/, "");
  return {
    path,
    server: {
      addr: file.server.addr,
      ...parseAddr(file.server.addr),
      pathPrefix: prefix,
      certificate: serverCert,
      key: serverKey,
      realIpHeader: file.server.real_ip_header,
      realIpPos: file.server.real_ip_pos,
    },
    token: {
      issuer: file.token.issuer,
      expiration: file.token.expiration,
      certificate: tokenCert,
      key: tokenKey,
      disableLegacyKeyId: file.token.disable_legacy_key_id,
      services: file.token.services,
      x5c: file.token.x5c,
      refreshTokens:
        file.token.refresh_tokens === undefined
          ? undefined
          : {
              lifetime: file.token.refresh_tokens.lifetime,
              bindClientId: file.token.refresh_tokens.bind_client_id,
              redis: redisSection(file.token.refresh_tokens.redis),
            },
    },
    users,
    acl: file.acl,
    extAuth: extSection(file.ext_auth, base),
    extAuthz: extSection(file.ext_authz, base),
    ldapAuth: ldapSection(file.ldap_auth, at),
    mongoAuth: mongoAuthSection(file.mongo_auth, at),
    aclMongo: aclMongoSection(file.acl_mongo, at),
    oidcAuth: oidcSection("oidc_auth", file.oidc_auth, prefix, at),
    googleAuth: oidcSection("google_auth", file.google_auth, prefix, at),
    // Last: every section above has named its files by now.
    files: [...files],
  };
}

/** `users.alice.password`, `users[""].labels`, `acl[3].match`: as core's config errors write paths. */
function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else if (typeof key === "string" && !/^[A-Za-z_$][\w$-]*$/.test(key)) {
      text += `[${JSON.stringify(key)}]`;
    } else text += text === "" ? String(key) : `.${String(key)}`;
  }
  return text === "" ? "(config)" : text;
}
