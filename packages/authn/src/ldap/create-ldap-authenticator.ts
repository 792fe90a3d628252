import { readFileSync } from "node:fs";
import {
  type AccountLookup,
  type Authenticator,
  type AuthnResult,
  type Labels,
  type Logger,
  parseOptions,
  RegauthError,
  silentLogger,
} from "@regauth/core";
import { FilterParser } from "ldapts";
import { z } from "zod";
import { LdapConnection, type SearchEntry, type ServerSpec } from "./internal/connection.js";
import {
  ACCOUNT_PLACEHOLDER,
  escapeDnValue,
  escapeFilterValue,
  fillTemplate,
  unknownPlaceholders,
} from "./internal/escape.js";
import { labelsOf } from "./internal/labels.js";
import { ConnectionPool } from "./internal/pool.js";

/**
 * How one label is read from the user's directory entry (docker_auth's
 * `labels:` mapping of `ldap_auth`).
 *
 * - `attribute`: the attribute whose values become the label's values, such as
 *   `memberOf` (an operational attribute: it is asked for by name). Required.
 * - `parseCN`: each value is a DN and the label takes the common name of its
 *   first RDN: `cn=QA,ou=groups,dc=example,dc=org` gives `QA`. A value whose
 *   first RDN has no `cn` is left out. Default `false`.
 * - `lowerCase`: values are lower-cased (after `parseCN`). Default `false`.
 *
 * Duplicate values are kept once, in the directory's order.
 */
export interface LdapLabelMapping {
  readonly attribute: string;
  readonly parseCN?: boolean;
  readonly lowerCase?: boolean;
}

/**
 * Options of {@link createLdapAuthenticator}.
 *
 * Where to connect:
 * - `url`: the server, `ldap://host[:port]` (port 389 by default) or
 *   `ldaps://host[:port]` (TLS from the first byte, port 636 by default), or a
 *   list of them: a new connection tries them in order and takes the first
 *   that answers. Scheme, host and port only. Required.
 * - `startTls`: upgrade `ldap://` connections with StartTLS (RFC 4513 §3)
 *   before anything is sent; a refused or failed upgrade is an error, never a
 *   fallback to clear text. Not with `ldaps://` URLs. Default `false`.
 * - `ca`: PEM certificate(s) the server's certificate must chain to, instead
 *   of Node's built-in list. Default: Node's list.
 * - `caFile`: path(s) of PEM files with such certificates, read at construction
 *   and added to `ca`.
 * - `insecureSkipTlsVerify`: accept any server certificate. Anyone on the path
 *   can then pose as the directory and read every password: for tests only. A
 *   warning is logged at construction. Default `false`.
 *
 * How to find the user (protocol.md §4):
 * - `bindDn` and `bindPassword` or `bindPasswordFile`: the service account the
 *   search runs as. The file is read at construction; trailing line breaks are
 *   dropped. Without `bindDn` the search is anonymous.
 * - `initialBindAsUser`: instead of a service account, bind as the user: a DN
 *   template with `${account}` (escaped per RFC 4514), such as
 *   `uid=${account},ou=people,dc=example,dc=org`; the search then runs with the
 *   user's rights and must find the user's own entry. Not with `bindDn`.
 * - `base`: the DN the search starts at (whole subtree). Required.
 * - `filter`: an RFC 4515 filter with `${account}`, such as
 *   `(&(objectClass=inetOrgPerson)(uid=${account}))`. The account is escaped
 *   per RFC 4515 (`*`, `(`, `)`, `\`, NUL) before it is put in. Required.
 * - `labels`: label name to {@link LdapLabelMapping}. Default `{}`.
 *
 * Connections and time:
 * - `connectTimeoutMs`: milliseconds for TCP connect plus TLS handshake (or the
 *   StartTLS upgrade). Default 5 000.
 * - `operationTimeoutMs`: milliseconds each LDAP operation (bind, search) may
 *   take, and the longest a request waits for a free connection. Default 5 000.
 * - `maxConnections`: most connections open at once for searches, and as many
 *   again for password checks; more requests at once wait for one (up to
 *   `operationTimeoutMs`). Default 4.
 * - `idleTimeoutMs`: milliseconds an unused connection is kept open. Default
 *   60 000 (below the idle limits servers and firewalls commonly apply).
 * - `reuseConnections`: keep connections for the next request; `false` opens
 *   one connection per request (service bind, search, user bind, close), as
 *   docker_auth does: several times slower, for servers that limit connection
 *   lifetimes, and for comparison. Default `true`.
 *
 * - `name`: for logs. Default `"ldap"`.
 * - `logger`: pino-shaped logger for warnings and connection events. Default: silent.
 */
export interface LdapAuthenticatorOptions {
  readonly url: string | readonly string[];
  readonly startTls?: boolean;
  readonly ca?: string | readonly string[];
  readonly caFile?: string | readonly string[];
  readonly insecureSkipTlsVerify?: boolean;
  readonly bindDn?: string;
  readonly bindPassword?: string;
  readonly bindPasswordFile?: string;
  readonly initialBindAsUser?: string;
  readonly base: string;
  readonly filter: string;
  readonly labels?: Readonly<Record<string, LdapLabelMapping>>;
  readonly connectTimeoutMs?: number;
  readonly operationTimeoutMs?: number;
  readonly maxConnections?: number;
  readonly idleTimeoutMs?: number;
  readonly reuseConnections?: boolean;
  readonly name?: string;
  readonly logger?: Logger;
}

/** The LDAP authenticator: an {@link Authenticator} whose `close` must be called. */
export interface LdapAuthenticator extends Authenticator {
  readonly name: string;
  /**
   * Closes the pooled connections (waiting for the requests in flight);
   * `authenticate` then throws `ERR_BACKEND_UNAVAILABLE`. (Idle pooled
   * connections do not keep the process alive meanwhile.)
   */
  close(): Promise<void>;
}

const oneOrMany = (item: z.ZodString) =>
  z
    .union([item, z.array(item).min(1)])
    .transform((value) => (Array.isArray(value) ? value : [value]));

const urlSchema = z.string().superRefine((text, context) => {
  const problem = urlProblem(text);
  if (problem !== undefined) context.addIssue({ code: "custom", message: problem });
});

const templateSchema = z.string().superRefine((text, context) => {
  if (!text.includes(ACCOUNT_PLACEHOLDER)) {
    context.addIssue({
      code: "custom",
      message: `expected ${ACCOUNT_PLACEHOLDER} in the template`,
    });
  }
  const unknown = unknownPlaceholders(text);
  if (unknown.length > 0) {
    context.addIssue({
      code: "custom",
      message: `unknown placeholder ${unknown[0]}; only ${ACCOUNT_PLACEHOLDER} is replaced`,
    });
  }
});

const hasMethods = (value: unknown) =>
  typeof value === "object" &&
  value !== null &&
  ["debug", "info", "warn", "error"].every(
    (method) => typeof (value as Record<string, unknown>)[method] === "function",
  );

const milliseconds = (fallback: number) => z.number().int().min(1).max(600_000).default(fallback);

const optionsSchema = z
  .strictObject({
    url: oneOrMany(urlSchema),
    startTls: z.boolean().default(false),
    ca: oneOrMany(z.string().min(1)).optional(),
    caFile: oneOrMany(z.string().min(1)).optional(),
    insecureSkipTlsVerify: z.boolean().default(false),
    bindDn: z.string().min(1).optional(),
    bindPassword: z
      .string()
      .min(1, "must not be empty (that would be an anonymous bind)")
      .optional(),
    bindPasswordFile: z.string().min(1).optional(),
    initialBindAsUser: templateSchema.optional(),
    base: z.string().min(1),
    filter: templateSchema.superRefine((text, context) => {
      const problem = filterProblem(text);
      if (problem !== undefined) context.addIssue({ code: "custom", message: problem });
    }),
    labels: z
      .record(
        z.string().min(1),
        z.strictObject({
          attribute: z
            .string()
            .regex(
              /^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)$/,
              "expected an attribute name such as memberOf",
            ),
          parseCN: z.boolean().default(false),
          lowerCase: z.boolean().default(false),
        }),
      )
      .default({}),
    connectTimeoutMs: milliseconds(5_000),
    operationTimeoutMs: milliseconds(5_000),
    maxConnections: z.number().int().min(1).max(1_000).default(4),
    idleTimeoutMs: z.number().int().min(1).max(86_400_000).default(60_000),
    reuseConnections: z.boolean().default(true),
    name: z.string().min(1).default("ldap"),
    logger: z
      .custom<Logger>(hasMethods, "expected a logger with debug, info, warn and error")
      .default(silentLogger),
  })
  .superRefine((config, context) => {
    const issue = (path: string, message: string) =>
      context.addIssue({ code: "custom", path: [path], message });
    if (config.bindPassword !== undefined && config.bindPasswordFile !== undefined) {
      issue("bindPasswordFile", "give bindPassword or bindPasswordFile, not both");
    }
    const hasPassword = config.bindPassword !== undefined || config.bindPasswordFile !== undefined;
    if (config.bindDn !== undefined && !hasPassword) {
      issue("bindPassword", "required with bindDn (or bindPasswordFile)");
    }
    if (config.bindDn === undefined && hasPassword) {
      issue("bindDn", "required with a bind password");
    }
    if (config.initialBindAsUser !== undefined && config.bindDn !== undefined) {
      issue("initialBindAsUser", "cannot be combined with bindDn: choose one way to search");
    }
    // Runs even when a field above failed: `url` may then be the raw input.
    const urls: unknown[] = Array.isArray(config.url) ? config.url : [config.url];
    const ldaps = urls.findIndex((url) => String(url).toLowerCase().startsWith("ldaps:"));
    if (config.startTls && ldaps >= 0) {
      issue("startTls", `not with an ldaps:// url (url[${ldaps}]): that is TLS already`);
    }
    const usesTls = config.startTls || ldaps >= 0;
    if (!usesTls) {
      for (const key of ["ca", "caFile"] as const) {
        if (config[key] !== undefined) issue(key, "no url uses TLS (ldaps:// or startTls)");
      }
      if (config.insecureSkipTlsVerify) {
        issue("insecureSkipTlsVerify", "no url uses TLS (ldaps:// or startTls)");
      }
    }
  });

/**
 * Authenticates against an LDAP directory (OpenLDAP, Active Directory, 389-DS,
 * ...) the way docker_auth's `ldap_auth` does (protocol.md §4):
 *
 * 1. an empty account or password is no-match, and nothing is sent: an empty
 *    password would make the bind "unauthenticated", which servers accept;
 * 2. bind as the service account (`bindDn`) or, with `initialBindAsUser`, as
 *    the user; search `base` with `filter`, `${account}` escaped per RFC 4515;
 * 3. no entry: no-match (the next authenticator is asked); more than one:
 *    error, since the account is ambiguous;
 * 4. bind as the entry's DN with the password, on a connection other than the
 *    search's (with `reuseConnections: false`, on the search's, which is then
 *    closed): result 49 (invalidCredentials) is deny, success is allow with
 *    the labels read from the entry (see {@link LdapLabelMapping}).
 *
 * With `initialBindAsUser`, step 2's bind is the password check: result 49
 * there is deny (the directory does not tell an unknown DN from a wrong
 * password), and step 4 is skipped.
 *
 * Every connection is leased to one request at a time, so binds of concurrent
 * requests never mix; connections are kept for the next request (see
 * `reuseConnections`) and replaced when the server closed them or they failed.
 * A connection used for the search stays bound as the service account.
 *
 * A directory that cannot be reached, times out, fails the TLS handshake or
 * answers with another error makes `authenticate` throw (the token handler
 * answers 503), never deny and never allow. The password is never logged nor
 * put in an error.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction naming the field:
 *   a URL that is not `ldap://` or `ldaps://` (`url[1]: ...`), a template
 *   without `${account}` or with another placeholder, a filter that does not
 *   parse, `startTls` with `ldaps://`, `bindDn` without a password (or the
 *   reverse), both `bindDn` and `initialBindAsUser`, `ca`/`caFile`/
 *   `insecureSkipTlsVerify` with no TLS URL, an unreadable `caFile` or
 *   `bindPasswordFile`, an empty password file, unknown keys.
 * @returns An {@link LdapAuthenticator}: `authenticate` throws
 *   `ERR_BACKEND_UNAVAILABLE` for the directory faults above; call `close()`
 *   when done. With a service account (`bindDn`) it also has `lookup` (a
 *   refresh token's account, checked without a password): the search alone,
 *   allow with the entry's current labels, no-match when the entry is gone.
 *
 * @example
 * import { createLdapAuthenticator } from "@regauth/authn/ldap";
 *
 * const ldap = createLdapAuthenticator({
 *   url: "ldap://ldap.example.org",
 *   startTls: true,
 *   caFile: "/etc/regauth/ldap-ca.pem",
 *   bindDn: "cn=registry,ou=services,dc=example,dc=org",
 *   bindPasswordFile: "/run/secrets/ldap-bind-password",
 *   base: "ou=people,dc=example,dc=org",
 *   filter: "(&(objectClass=inetOrgPerson)(uid=${account}))",
 *   labels: { groups: { attribute: "memberOf", parseCN: true, lowerCase: true } },
 * });
 * // ... createTokenHandler({ authenticators: [ldap], ... }); later: await ldap.close();
 */
export function createLdapAuthenticator(options: LdapAuthenticatorOptions): LdapAuthenticator {
  const config = parseOptions(optionsSchema, options);
  const log = config.logger;
  const name = config.name;

  const caField = (index: number) =>
    Array.isArray(options.caFile) ? `caFile[${index}]` : "caFile";
  const ca = [
    ...(config.ca ?? []),
    ...(config.caFile ?? []).map((path, index) => readCaFile(path, caField(index))),
  ];
  const bindPassword =
    config.bindPasswordFile !== undefined
      ? readPasswordFile(config.bindPasswordFile)
      : config.bindPassword;
  const service =
    config.bindDn !== undefined && bindPassword !== undefined
      ? { dn: config.bindDn, password: bindPassword }
      : undefined;

  if (config.insecureSkipTlsVerify) {
    log.warn(
      { authenticator: name, urls: config.url },
      "ldap: TLS certificate verification is OFF (insecureSkipTlsVerify): anyone on the network path can pose as the directory and read the passwords; use it for tests only",
    );
  }
  const clearText = config.url.filter(
    (url) => url.toLowerCase().startsWith("ldap:") && !config.startTls && !isLoopbackUrl(url),
  );
  if (clearText.length > 0) {
    log.warn(
      { authenticator: name, urls: clearText },
      "ldap: passwords go to the directory in clear text; use ldaps:// or startTls",
    );
  }

  const servers: ServerSpec[] = config.url.map((url) => ({
    url,
    startTls: config.startTls,
    tls: {
      ...(ca.length > 0 ? { ca } : {}),
      rejectUnauthorized: !config.insecureSkipTlsVerify,
    },
    connectTimeoutMs: config.connectTimeoutMs,
    operationTimeoutMs: config.operationTimeoutMs,
  }));

  /** Opens a connection to the first server that answers. */
  async function connect(role: string): Promise<LdapConnection> {
    let lastError: unknown;
    for (const server of servers) {
      try {
        const connection = await LdapConnection.open(server);
        log.debug({ authenticator: name, url: server.url, role }, "ldap: connection opened");
        return connection;
      } catch (error) {
        lastError = error;
        log.warn(
          { authenticator: name, url: server.url, role, err: describe(error) },
          "ldap: cannot open a connection",
        );
      }
    }
    throw lastError;
  }

  const poolOptions = {
    max: config.maxConnections,
    reuse: config.reuseConnections,
    idleTimeoutMs: config.idleTimeoutMs,
    waitTimeoutMs: config.operationTimeoutMs,
  };
  // Searches run on connections bound as the service account (or anonymous);
  // password checks on others, so a user's bind never changes who searches.
  const searchPool = new ConnectionPool({
    ...poolOptions,
    open: async () => {
      const connection = await connect("search");
      if (service === undefined) return connection;
      try {
        if (await connection.bind(service.dn, service.password)) return connection;
      } catch (error) {
        connection.destroy();
        throw error;
      }
      connection.destroy();
      log.error(
        { authenticator: name, url: connection.url, bindDn: service.dn },
        "ldap: the directory refused the service account's password (result 49)",
      );
      throw new RegauthError(
        "ERR_BACKEND_UNAVAILABLE",
        "ldap: the directory refused the service account's credentials",
      );
    },
  });
  const bindPool = new ConnectionPool({ ...poolOptions, open: () => connect("bind") });

  const attributes = [...new Set(Object.values(config.labels).map((label) => label.attribute))];
  const timeLimitSeconds = Math.max(1, Math.ceil(config.operationTimeoutMs / 1000));
  let closed = false;

  /** Searches for the account's entries (at most 2: one more than allowed). */
  const search = (connection: LdapConnection, account: string) =>
    connection.search(
      config.base,
      fillTemplate(config.filter, escapeFilterValue(account)),
      attributes.length > 0 ? attributes : ["1.1"], // 1.1: no attributes (RFC 4511 §4.5.1.8)
      2,
      timeLimitSeconds,
    );

  /** The one entry of a search result, `undefined` for none; throws for several. */
  function decide(account: string, entries: SearchEntry[]): SearchEntry | undefined {
    if (entries.length > 1) {
      log.error(
        { authenticator: name, account, entries: entries.map((entry) => entry.dn) },
        "ldap: more than one entry matches the account; check the filter",
      );
      throw new RegauthError(
        "ERR_BACKEND_UNAVAILABLE",
        "ldap: more than one directory entry matches the account",
      );
    }
    const entry = entries[0];
    if (entry !== undefined && entry.dn === "") {
      // A bind with an empty DN is anonymous whatever the password.
      throw new RegauthError("ERR_BACKEND_UNAVAILABLE", "ldap: the search returned an empty DN");
    }
    return entry;
  }

  async function authenticateWithService(account: string, password: string): Promise<AuthnResult> {
    if (!config.reuseConnections) {
      // The connection is closed after this request: search and bind on it alone.
      return withConnection(searchPool, async (c) => {
        const entry = decide(account, await search(c, account));
        if (entry === undefined) return { result: "no-match" };
        return (await c.bind(entry.dn, password)) ? allow(entry) : { result: "deny" };
      });
    }
    const entry = decide(account, await withConnection(searchPool, (c) => search(c, account)));
    if (entry === undefined) return { result: "no-match" };
    const accepted = await withConnection(bindPool, (c) => c.bind(entry.dn, password));
    return accepted ? allow(entry) : { result: "deny" };
  }

  async function authenticateAsUser(
    template: string,
    account: string,
    password: string,
  ): Promise<AuthnResult> {
    const dn = fillTemplate(template, escapeDnValue(account));
    // Bind and search on one leased connection: nobody else's bind comes between.
    const found = await withConnection(bindPool, async (c) =>
      (await c.bind(dn, password)) ? { entries: await search(c, account) } : undefined,
    );
    if (found === undefined) return { result: "deny" };
    const entry = decide(account, found.entries);
    return entry === undefined ? { result: "no-match" } : allow(entry);
  }

  function allow(entry: SearchEntry): AuthnResult {
    const labels: Labels = labelsOf(entry, config.labels);
    return { result: "allow", labels };
  }

  return {
    name,
    async authenticate({ account, password }) {
      if (account === "" || password === "") return { result: "no-match" };
      if (closed) {
        throw new RegauthError("ERR_BACKEND_UNAVAILABLE", "ldap: the authenticator is closed");
      }
      const result =
        config.initialBindAsUser === undefined
          ? await authenticateWithService(account, password)
          : await authenticateAsUser(config.initialBindAsUser, account, password);
      log.debug({ authenticator: name, account, result: result.result }, "ldap: decided");
      return result;
    },
    // Without a service account the directory is searched only after the
    // user's own bind, so an account cannot be looked up without its password.
    ...(config.initialBindAsUser === undefined
      ? {
          async lookup({ account }: AccountLookup): Promise<AuthnResult> {
            if (account === "") return { result: "no-match" };
            if (closed) {
              throw new RegauthError(
                "ERR_BACKEND_UNAVAILABLE",
                "ldap: the authenticator is closed",
              );
            }
            const entry = decide(
              account,
              await withConnection(searchPool, (c) => search(c, account)),
            );
            const result: AuthnResult = entry === undefined ? { result: "no-match" } : allow(entry);
            log.debug({ authenticator: name, account, result: result.result }, "ldap: looked up");
            return result;
          },
        }
      : {}),
    async close() {
      closed = true;
      await Promise.all([searchPool.close(), bindPool.close()]);
    },
  };
}

/**
 * Runs `work` on a leased connection and gives it back. When a connection that
 * had been waiting in the pool turns out to be gone (the server closed it
 * while idle), the work is tried once more on a fresh connection.
 */
async function withConnection<T>(
  pool: ConnectionPool,
  work: (connection: LdapConnection) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const connection = await pool.lease();
    const reused = connection.uses > 0;
    connection.failure = undefined;
    try {
      const result = await work(connection);
      pool.release(connection);
      return result;
    } catch (error) {
      pool.release(connection, true);
      if (attempt === 1 && reused && connection.failure === "lost") continue;
      throw error;
    }
  }
}

/** Why `text` is not an acceptable server URL, or `undefined` when it is. */
function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "expected an ldap:// or ldaps:// url";
  }
  if (url.protocol !== "ldap:" && url.protocol !== "ldaps:") {
    return "expected an ldap:// or ldaps:// url";
  }
  if (url.hostname === "") return "expected a host name or address";
  if (url.username !== "" || url.password !== "") {
    return "credentials do not belong in the url: use bindDn and bindPassword";
  }
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
    return "expected scheme, host and port only: the search base goes in base";
  }
  return undefined;
}

/** Why `template` (with `${account}` filled in) is not a filter ldapts can send. */
function filterProblem(template: string): string | undefined {
  if (!template.includes(ACCOUNT_PLACEHOLDER)) return undefined; // reported already
  const problem = `expected an RFC 4515 filter in parentheses, such as (uid=${ACCOUNT_PLACEHOLDER})`;
  const filter = fillTemplate(template, "account");
  // ldapts forgives a missing parenthesis; a template should not need that.
  let depth = 0;
  for (let index = 0; index < filter.length; index++) {
    const char = filter[index];
    if (char === "(") depth++;
    if (char === ")") depth--;
    if (depth < 0 || (depth === 0 && index < filter.length - 1) || (index === 0 && char !== "(")) {
      return problem;
    }
  }
  if (depth !== 0) return problem;
  try {
    FilterParser.parseString(filter);
    return undefined;
  } catch {
    return problem;
  }
}

function isLoopbackUrl(text: string): boolean {
  const host = new URL(text).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

function readCaFile(path: string, field: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new RegauthError("ERR_CONFIG_INVALID", `${field}: cannot read ${path}`, { cause: error });
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      `${field}: expected PEM certificates in ${path}, found none`,
    );
  }
  return text;
}

function readPasswordFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new RegauthError("ERR_CONFIG_INVALID", `bindPasswordFile: cannot read ${path}`, {
      cause: error,
    });
  }
  const password = text.replace(/[\r\n]+$/, "");
  if (password === "") {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      "bindPasswordFile: the file is empty (an empty password would be an anonymous bind)",
    );
  }
  return password;
}

/** An error's message (and its cause's) for a log line. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
