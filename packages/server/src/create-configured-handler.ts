import { readFile } from "node:fs/promises";
import { createStaticAuthenticator } from "@regauth/authn";
import { type AclAuthorizer, createAclAuthorizer } from "@regauth/authz";
import {
  type Authenticator,
  type Authorizer,
  createTokenHandler,
  DEFAULT_MAX_BODY_BYTES,
  type Logger,
  RegauthError,
  type RequestContext,
  silentLogger,
  type TokenHandler,
} from "@regauth/core";
import { createTokenIssuer, type RegistryTokenIssuer } from "@regauth/token";
import { createExtAuthenticator } from "./create-ext-authenticator.js";
import { createExtAuthorizer } from "./create-ext-authorizer.js";
import type { RegauthConfig } from "./load-config.js";

/** How many per-service handlers are kept when `token.services` is not set. */
const SERVICE_HANDLERS = 64;

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
 * - `authenticators`, `authorizers`: the chains, in order.
 * - `acl`: the static ACL authorizer when the config has `acl` (for `explain`).
 * - `close()`: closes every backend.
 */
export interface ConfiguredHandler {
  readonly handler: TokenHandler;
  readonly issuer: RegistryTokenIssuer;
  readonly authenticators: readonly Authenticator[];
  readonly authorizers: readonly Authorizer[];
  readonly acl: AclAuthorizer | undefined;
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

/** Prefixes a factory's config error with the section it came from. */
function inSection<T>(section: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof RegauthError && error.code === "ERR_CONFIG_INVALID") {
      const message = error.message.startsWith(`${section}.`)
        ? error.message
        : error.message
            .split("; ")
            .map((line) => `${section}.${line}`)
            .join("; ");
      throw new RegauthError("ERR_CONFIG_INVALID", message, { cause: error });
    }
    throw error;
  }
}

/**
 * Reads a request body of at most `maxBytes` bytes, stopping as soon as it is
 * longer: `"too large"` then.
 */
async function readBoundedBody(
  request: Request,
  maxBytes: number,
): Promise<Uint8Array | "too large"> {
  if (Number(request.headers.get("content-length") ?? "0") > maxBytes) return "too large";
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return "too large";
    }
    chunks.push(value);
  }
  const body = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The `service` field of a form body, `""` when there is none or it is not a form. */
function postedService(headers: Headers, body: Uint8Array): string {
  const type = (headers.get("content-type") ?? "").split(";", 1)[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return "";
  return new URLSearchParams(new TextDecoder().decode(body)).get("service") ?? "";
}

function errorBody(status: number, code: string, message: string): Response {
  return Response.json({ errors: [{ code, message }], details: message }, { status });
}

/**
 * Builds the token endpoint a {@link RegauthConfig} describes, as docker_auth
 * would run it: authenticators `users` then `ext_auth`, authorizers `acl`
 * then `ext_authz`, tokens signed with `token.key` (or the server's TLS key).
 * Reads and checks the key and certificate files and the programs, so a
 * config that builds will serve.
 *
 * Without `token.services`, tokens are issued for whatever `service` a
 * request names (as docker_auth does; a request without one gets 400).
 * With `server.real_ip_header`, requests that lack the header get 400.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` naming the key: unreadable files
 *   (`token.key: cannot read /etc/x.pem: ENOENT`), a key that does not match
 *   its certificate (`token.certificateChain: ...`), a program not found
 *   (`ext_auth.command: not found on PATH`).
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

  const authenticators: Authenticator[] = [];
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
  const authorizers: Authorizer[] = [];
  let acl: AclAuthorizer | undefined;
  if (config.acl) {
    const entries = config.acl;
    acl = createAclAuthorizer({ acl: entries, name: "acl" });
    authorizers.push(acl);
  }
  if (config.extAuthz) {
    const ext = config.extAuthz;
    authorizers.push(
      inSection("ext_authz", () => createExtAuthorizer({ ...ext, logger, name: "ext_authz" })),
    );
  }

  const realm =
    /^[\x20-\x7e]*$/.test(config.token.issuer) && !/["\\]/.test(config.token.issuer)
      ? config.token.issuer
      : "regauth";
  const realIp =
    config.server.realIpHeader === undefined
      ? {}
      : { realIpHeader: config.server.realIpHeader, realIpPosition: config.server.realIpPos };
  const make = (services: readonly string[]) =>
    createTokenHandler({ authenticators, authorizers, issuer, services, realm, logger, ...realIp });

  let tokenHandler: TokenHandler;
  if (config.token.services) {
    tokenHandler = make(config.token.services);
  } else {
    // docker_auth issues tokens for any service; one handler per service seen, the
    // least recently used dropped first.
    const byService = new Map<string, TokenHandler>();
    // Answers what does not depend on the service (POST 404, other methods 405).
    const anyService = make(["-"]);
    tokenHandler = async (request, context) => {
      let service = new URL(request.url).searchParams.get("service") ?? "";
      if (request.method === "POST") {
        // The OAuth2 grant names the service in its form body: read it (bounded)
        // and hand the handler a copy of the request with the same body.
        const body = await readBoundedBody(request, DEFAULT_MAX_BODY_BYTES);
        if (body === "too large") {
          return errorBody(
            413,
            "SIZE_INVALID",
            `request body over ${DEFAULT_MAX_BODY_BYTES} bytes`,
          );
        }
        request = new Request(request.url, { method: "POST", headers: request.headers, body });
        if (service === "") service = postedService(request.headers, body);
      } else if (request.method !== "GET") {
        return anyService(request, context);
      }
      if (service === "" || service.length > 256) {
        return errorBody(
          400,
          "INVALID_REQUEST",
          "the service parameter is required (1-256 characters)",
        );
      }
      let handler = byService.get(service);
      if (handler === undefined) {
        handler = make([service]);
        if (byService.size >= SERVICE_HANDLERS) {
          const oldest = byService.keys().next().value;
          if (oldest !== undefined) byService.delete(oldest);
        }
      } else {
        byService.delete(service);
      }
      byService.set(service, handler);
      return handler(request, context);
    };
  }

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
    async close() {
      await Promise.allSettled([
        ...authenticators.map((member) => member.close?.()),
        ...authorizers.map((member) => member.close?.()),
      ]);
    },
  };
}
