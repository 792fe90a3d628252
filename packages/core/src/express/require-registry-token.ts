import type { ServerResponse } from "node:http";
import { RegauthError } from "../errors.js";
import { isGuard, readRequiredAccess, requireOptionsSchema } from "../internal/adapter-options.js";
import { expressWebRequest } from "../internal/express-bridge.js";
import { writeNodeResponse } from "../internal/node-bridge.js";
import type { AccessEntry } from "../model.js";
import { parseOptions } from "../parse-options.js";
import type { RequiredAccess, TokenGuard, VerifiedToken } from "../token-guard.js";
import type { ExpressNext, ExpressRequestLike } from "./to-express-middleware.js";

/** An Express response as {@link requireRegistryToken} uses it: `res.locals` for the token. */
export interface ExpressResponseLike extends ServerResponse {
  locals: Record<string, unknown>;
}

/**
 * Options of {@link requireRegistryToken}.
 *
 * - `access`: what the token must grant, as scope strings
 *   (`"repository:team/app:pull"`) or access entries
 *   (`{ type, name, actions }`), or a function of the request returning them
 *   (for access that depends on the path or query). Default `[]`: any valid
 *   token passes. Every action listed must be granted (an entry with `*`
 *   grants all actions on its resource).
 */
export interface RequireRegistryTokenOptions {
  readonly access?: RequiredAccess | ((req: ExpressRequestLike) => RequiredAccess);
}

/**
 * An Express middleware that lets a request through only with a registry
 * token that the guard accepts and that grants `access`: for services beside
 * a registry that take its tokens. A missing, invalid or insufficient token
 * gets the registry's answer: 401, `WWW-Authenticate: Bearer
 * realm=..,service=..,scope=..[,error=..]` and the `errors` body. A request
 * that passes finds the verified token in `res.locals.registryToken`
 * (`{ subject, access, ... }`).
 *
 * The body is never read, so it stays for the route's own parser.
 *
 * @param guard A {@link TokenGuard}: `createRegistryTokenGuard` from `@regauth/token`.
 * @param options See {@link RequireRegistryTokenOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options;
 *   a scope string that does not parse (`ERR_SCOPE_INVALID`) or an `access`
 *   function that throws reaches `next(error)`.
 *
 * @example
 * import { createRegistryTokenGuard } from "@regauth/token";
 * import { requireRegistryToken } from "@regauth/core/express";
 * const guard = createRegistryTokenGuard({ realm, service, issuer, rootCertificates });
 * app.get(
 *   "/api/notes",
 *   requireRegistryToken(guard, {
 *     access: (req) => [`repository:${String(req.query.repository)}:pull`],
 *   }),
 *   (_req, res) => { res.json({ account: res.locals.registryToken.subject }) },
 * );
 */
export function requireRegistryToken(
  guard: TokenGuard<VerifiedToken>,
  options: RequireRegistryTokenOptions = {},
): (req: ExpressRequestLike, res: ExpressResponseLike, next: ExpressNext) => void {
  if (!isGuard(guard)) {
    throw new RegauthError("ERR_CONFIG_INVALID", "guard: expected a TokenGuard with check()");
  }
  const { access } = parseOptions(requireOptionsSchema, options);
  const fixed: AccessEntry[] | undefined =
    typeof access === "function" ? undefined : readRequiredAccess(access as RequiredAccess);
  const accessOf = access as (req: ExpressRequestLike) => RequiredAccess;

  return (req, res, next) => {
    void (async () => {
      const required = fixed ?? readRequiredAccess(accessOf(req));
      const result = await guard.check(expressWebRequest(req, res, false), required);
      if (result.ok) {
        res.locals.registryToken = result.token;
        next();
        return;
      }
      await writeNodeResponse(result.response, res, req.method ?? "GET");
    })().catch((error: unknown) => {
      if (!res.headersSent) next(error);
      else res.destroy();
    });
  };
}
