import { realpathSync } from "node:fs";
import { isIP } from "node:net";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_BCRYPT_COST, hashPassword } from "@regauth/authn";
import { isRegauthError, type Labels } from "@regauth/core";
import { pino } from "pino";
import { createConfiguredHandler } from "../create-configured-handler.js";
import { ensureDevConfig } from "../ensure-dev-config.js";
import { explainAccess, formatExplanation } from "../explain-access.js";
import { redisWhere } from "../internal/redis-client.js";
import { loadConfig, type MongoDialInfo, type RegauthConfig } from "../load-config.js";
import { registryTokenConfig } from "../registry-token-config.js";
import { startServer } from "../start-server.js";
import { readPassword } from "./read-password.js";

/** Where the CLI reads and writes; the process's streams by default. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

const USAGE = `usage: regauth <command> [options]

  serve [CONFIG]        serve a docker_auth-style config (reloads on change;
                        SIGTERM/SIGINT drain and exit 0, SIGHUP reloads).
                        Without CONFIG: the development default (a key, a
                        certificate, users admin and reader, made on first run).
      --log-level L     trace, debug, info, warn, error          default info
      --no-watch        do not reload when the file changes
    development default only:
      --addr HOST:PORT  loopback only                           default 127.0.0.1:5001
      --state-dir DIR   where the key, passwords and config live default .state/regauth-dev
      --service NAME    the registry's auth.token.service       default regauth-dev-registry
      --issuer NAME     the registry's auth.token.issuer        default regauth-dev
      --x5c             send the certificate in the tokens' x5c header

  check CONFIG          validate everything (YAML, schema, keys, programs,
                        password and secret files; LDAP, MongoDB, Redis and
                        identity providers are not contacted)
                        and print the registry's auth.token block and the JWKS
      --realm URL       the realm to print (default: built from server.addr)

  explain CONFIG        what a request would be granted, and which ACL entry (or
                        acl_mongo rule, read from the database) decided
      --account A       the account ("" for anonymous)           required
      --scope S         a scope, such as repository:team/app:pull,push (repeat)
      --label K=V       a label the authenticator would attach (repeat)
      --ip IP           the client address
      --service NAME    default: the first of token.services
      --json            print JSON

  hash-password         print a bcrypt hash for users: entries; the password
                        comes from stdin, or a prompt on a terminal (never argv)
      --cost N          bcrypt cost, 4 to 31                   default ${DEFAULT_BCRYPT_COST}

  help                  this text`;

class UsageError extends Error {}

function loopback(addr: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr);
  const host = match?.[1] ?? match?.[2] ?? "";
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

function parseLabels(values: readonly string[]): Labels {
  const labels: Record<string, string[]> = {};
  for (const value of values) {
    const equals = value.indexOf("=");
    if (equals <= 0)
      throw new UsageError(`--label: expected KEY=VALUE, got ${JSON.stringify(value)}`);
    const key = value.slice(0, equals);
    labels[key] = [...(labels[key] ?? []), value.slice(equals + 1)];
  }
  return labels;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
    if (chunks.reduce((sum, c) => sum + c.length, 0) > 4096) {
      throw new UsageError("hash-password: the password on stdin is longer than 4096 bytes");
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function serve(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "log-level": { type: "string", default: "info" },
      "no-watch": { type: "boolean", default: false },
      addr: { type: "string" },
      "state-dir": { type: "string" },
      service: { type: "string" },
      issuer: { type: "string" },
      x5c: { type: "boolean" },
    },
  });
  if (positionals.length > 1) throw new UsageError("serve: expected at most one CONFIG");
  const log = pino({ level: values["log-level"] });
  let configPath = positionals[0];
  let banner: string | undefined;
  if (configPath === undefined) {
    const addr = values.addr ?? "127.0.0.1:5001";
    if (!loopback(addr)) {
      throw new UsageError(
        `--addr: expected a loopback HOST:PORT such as 127.0.0.1:5001, got ${JSON.stringify(addr)}; the development default never listens beyond this machine`,
      );
    }
    const dev = await ensureDevConfig({
      addr,
      ...(values["state-dir"] === undefined ? {} : { stateDir: values["state-dir"] }),
      ...(values.service === undefined ? {} : { service: values.service }),
      ...(values.issuer === undefined ? {} : { issuer: values.issuer }),
      ...(values.x5c === undefined ? {} : { x5c: values.x5c }),
    });
    configPath = dev.configPath;
    const users = Object.entries(dev.credentials)
      .map(([account, password]) => `    ${account}: ${password}`)
      .join("\n");
    banner = `
================================================================================
  WARNING: DEVELOPMENT DEFAULTS. The signing key, certificate and passwords in
  ${dev.stateDir}
  are made for trying regauth on this machine. Do not use them in production.
================================================================================

${dev.created ? "made new" : "reusing"} development state in ${dev.stateDir}
config: ${dev.configPath} (edit it: it reloads)

Users (anonymous requests are refused):
${users}
  admin may push, pull, delete and list the catalog; reader may only pull.
`;
  } else if (values.addr ?? values["state-dir"] ?? values.service ?? values.issuer ?? values.x5c) {
    throw new UsageError(
      "serve: --addr, --state-dir, --service, --issuer and --x5c are for the development default; with CONFIG, set them in the file",
    );
  }
  const server = await startServer({ configPath, logger: log, watch: !values["no-watch"] });
  const block = registryTokenConfig(server.config, server.issuer, server.realm).yaml;
  const signIn = [server.config.googleAuth, server.config.oidcAuth]
    .filter((section) => section !== undefined)
    .map((section) => `sign-in pages (${section.section}) at ${section.baseUrl}/\n`)
    .join("");
  io.stdout.write(
    `${banner ?? ""}
regauth token server listening on ${server.realm}
${signIn}
Paste this into the registry's config.yml (docker-registry 2.8):
${block}
`,
  );
  return new Promise<number>((done) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping");
      process.off("SIGHUP", onHup);
      server.close().then(
        () => done(0),
        () => done(1),
      );
    };
    const onHup = () => void server.reload();
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", onHup);
  });
}

function where(dial: MongoDialInfo, collection: string): string {
  return `${dial.database}.${collection} at ${dial.addrs.join(", ")}${dial.username === undefined ? "" : ` as ${dial.username}`}, timeout ${dial.timeoutMs / 1000} s`;
}

/** One line per LDAP, MongoDB, OpenID Connect or refresh token section, and the warnings they deserve. */
function describeBackends(config: RegauthConfig): { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  const ldap = config.ldapAuth;
  if (ldap) {
    const bind = ldap.initialBindAsUser
      ? `binding as ${ldap.bindDn ?? "?"}`
      : ldap.bindDn === undefined
        ? "searching anonymously"
        : `searching as ${ldap.bindDn}`;
    const labels = Object.entries(ldap.labels).map(
      ([name, label]) =>
        `${name} <- ${label.attribute}${label.parseCn ? " (parse_cn)" : ""}${label.lowerCase ? " (lower_case)" : ""}`,
    );
    lines.push(
      `  ldap_auth:      ${ldap.url}${ldap.tls === "starttls" ? " with StartTLS" : ""}, base ${JSON.stringify(ldap.base)}, filter ${ldap.filter}, ${bind}${labels.length > 0 ? `; labels ${labels.join(", ")}` : ""}`,
    );
    const host = ldap.addr.slice(0, ldap.addr.lastIndexOf(":")).replace(/^\[|\]$/g, "");
    const loopbackHost = host === "localhost" || host === "::1" || host.startsWith("127.");
    if (ldap.tls === "none" && !loopbackHost) {
      warnings.push(
        "ldap_auth.tls is none: passwords go to the directory in clear text; use starttls or always",
      );
    }
    if (ldap.insecureTlsSkipVerify) {
      warnings.push(
        "ldap_auth.insecure_tls_skip_verify is true: anyone on the network path can pose as the directory and read passwords; for tests only",
      );
    }
  }
  if (config.mongoAuth) {
    lines.push(
      `  mongo_auth:     users in ${where(config.mongoAuth.dialInfo, config.mongoAuth.collection)}`,
    );
    if (config.mongoAuth.allowPasswordless) {
      warnings.push(
        "mongo_auth.allow_passwordless is true: a user document without a password accepts any password (docker_auth's behaviour)",
      );
    }
  }
  for (const oidc of [config.googleAuth, config.oidcAuth]) {
    if (oidc === undefined) continue;
    const key = oidc.section;
    const labels = Object.entries(oidc.labelClaims).map(([label, claim]) =>
      label === claim ? label : `${label} <- ${claim}`,
    );
    lines.push(
      `  ${`${key}:`.padEnd(16)}${oidc.issuer} as client ${oidc.clientId}; sign-in at ${oidc.baseUrl}/ (redirect URI to register: ${oidc.redirectUri}); account <- ${oidc.accountClaim ?? "email"}${labels.length > 0 ? `; labels ${labels.join(", ")}` : ""}${oidc.allowedDomains.length > 0 ? `; domains ${oidc.allowedDomains.join(", ")}` : ""}; passwords ${oidc.redis ? `in redis at ${redisWhere(oidc.redis.url)}` : "in memory"}`,
    );
    if (oidc.redis === undefined) {
      warnings.push(
        `${key} keeps registry passwords in this process's memory: a restart signs everyone out and several instances do not share them; set ${key}.redis`,
      );
    }
    if (oidc.allowInsecureHttp) {
      warnings.push(
        `${key}.allow_insecure_http is true: the provider is reached over plain HTTP; for tests only`,
      );
    }
    const host = new URL(oidc.baseUrl).hostname;
    if (oidc.baseUrl.startsWith("http:") && !["localhost", "127.0.0.1", "[::1]"].includes(host)) {
      warnings.push(
        `${key}.base_url is http: the sign-in cookies are not Secure and the password page travels in clear text; serve it over https`,
      );
    }
  }
  const refresh = config.token.refreshTokens;
  if (refresh) {
    lines.push(
      `  refresh tokens: ${refresh.lifetime} s, ${refresh.bindClientId ? "bound to the client_id they were issued to" : "any client_id"}, ${refresh.redis ? `in redis at ${redisWhere(refresh.redis.url)}` : "in memory"}`,
    );
    if (refresh.redis === undefined) {
      warnings.push(
        "token.refresh_tokens keeps tokens in this process's memory: a restart ends them all and several instances do not share them; set token.refresh_tokens.redis",
      );
    }
  }
  if (config.aclMongo) {
    lines.push(
      `  acl_mongo:      rules in ${where(config.aclMongo.dialInfo, config.aclMongo.collection)}, reloaded every ${config.aclMongo.cacheTtl} s`,
    );
  }
  return { lines, warnings };
}

async function check(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { realm: { type: "string" } },
  });
  const path = positionals[0];
  if (path === undefined || positionals.length > 1) throw new UsageError("check: expected CONFIG");
  const config = await loadConfig({ path });
  const built = await createConfiguredHandler(config);
  const registry = registryTokenConfig(config, built.issuer, values.realm);
  const chain = (names: string[]) => (names.length === 0 ? "(none)" : names.join(" -> "));
  const backends = describeBackends(config);
  const warnings: string[] = [...backends.warnings];
  if (config.token.services === undefined) {
    warnings.push(
      "token.services is not set: tokens are issued for any service a client names (as docker_auth); set it to refuse others",
    );
  }
  if (config.server.realIpHeader !== undefined && config.server.realIpPos >= 0) {
    warnings.push(
      `server.real_ip_pos is ${config.server.realIpPos}: entries counted from the start of ${config.server.realIpHeader} are written by the client; -1 (the entry your proxy appends) cannot be forged`,
    );
  }
  io.stdout.write(`${config.path}: OK
  authenticators: ${chain(built.authenticators.map((a) => a.name ?? "?"))}
  authorizers:    ${chain(built.authorizers.map((a) => a.name ?? "?"))}${config.acl ? ` (acl: ${config.acl.length} entries)` : ""}
${backends.lines.map((line) => `${line}\n`).join("")}  token:          issuer ${JSON.stringify(config.token.issuer)}, ${built.issuer.algorithm}, kid ${built.issuer.keyId ?? "(none)"}${config.token.x5c ? ", x5c" : ""}, ${config.token.expiration} s
${warnings.map((warning) => `  warning: ${warning}\n`).join("")}
Registry config.yml (distribution 2.8 and 3.x):
${registry.yaml}

Distribution 3.x can instead find the key in a JWKS file: write this to a file
and add "jwks: /path/to/that/file" under auth.token:
${JSON.stringify(registry.jwks, null, 2)}
`);
  await built.close();
  return 0;
}

async function explain(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      account: { type: "string" },
      scope: { type: "string", multiple: true, default: [] },
      label: { type: "string", multiple: true, default: [] },
      ip: { type: "string" },
      service: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const path = positionals[0];
  if (path === undefined || positionals.length > 1)
    throw new UsageError("explain: expected CONFIG");
  if (values.account === undefined)
    throw new UsageError('explain: --account is required ("" for anonymous)');
  if (values.scope.length === 0) throw new UsageError("explain: give at least one --scope");
  if (values.ip !== undefined && isIP(values.ip) === 0) {
    throw new UsageError(
      `--ip: expected an IPv4 or IPv6 address, got ${JSON.stringify(values.ip)}`,
    );
  }
  const config = await loadConfig({ path });
  const built = await createConfiguredHandler(config);
  // The rules must be read before they can be explained; a failure is explained instead.
  await built.aclMongo?.ready().catch(() => undefined);
  const request = {
    account: values.account,
    labels: parseLabels(values.label),
    ip: values.ip,
    service: values.service,
    scopes: values.scope,
  };
  const result = explainAccess(config, built, request);
  io.stdout.write(
    values.json
      ? `${JSON.stringify(result, null, 2)}\n`
      : `${formatExplanation(request, result)}\n`,
  );
  await built.close();
  return 0;
}

async function hash(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { cost: { type: "string", default: String(DEFAULT_BCRYPT_COST) } },
  });
  if (positionals.length > 0) {
    throw new UsageError(
      "hash-password: the password is never taken from the command line; pipe it on stdin or type it at the prompt",
    );
  }
  const cost = Number(values.cost);
  let password: string;
  if (io.stdin.isTTY) {
    password = await readPassword("password: ", io);
    const again = await readPassword("again: ", io);
    if (again !== password) throw new UsageError("hash-password: the passwords differ");
  } else {
    password = (await readAll(io.stdin)).replace(/\r?\n$/, "");
  }
  if (password === "") throw new UsageError("hash-password: the password is empty");
  io.stdout.write(`${await hashPassword(password, cost)}\n`);
  return 0;
}

/**
 * Runs the `regauth` command with `argv` (without `node` and the script) and
 * resolves with the exit code: 0 success, 1 a config or runtime error
 * (printed as `regauth: <message>`), 2 a usage error. `serve` resolves once
 * the server stopped after SIGTERM or SIGINT.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    switch (command) {
      case "serve":
        return await serve(rest, io);
      case "check":
        return await check(rest, io);
      case "explain":
        return await explain(rest, io);
      case "hash-password":
        return await hash(rest, io);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (
      error instanceof UsageError ||
      (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))
    ) {
      io.stderr.write(`regauth: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    const message = isRegauthError(error) ? error.message : (error as Error).message;
    io.stderr.write(`regauth: ${message}\n`);
    return 1;
  }
}

// Run when executed directly (`node src/cli/main.ts`), not when imported.
const script = process.argv[1];
if (script !== undefined && import.meta.url === pathToFileURL(realpathSync(script)).href) {
  process.exitCode = await main(process.argv.slice(2));
}
