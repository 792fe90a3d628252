import { RegauthError } from "../errors.js";
import { isGuard, readRequiredAccess, requireOptionsSchema } from "../internal/adapter-options.js";
import { koaWebRequest, writeKoaResponse } from "../internal/koa-bridge.js";
import type { AccessEntry } from "../model.js";
import { parseOptions } from "../parse-options.js";
import type { RequiredAccess, TokenGuard, VerifiedToken } from "../token-guard.js";
import type { KoaContextLike, KoaMiddleware } from "./to-koa-middleware.js";

/**
 * Options of {@link requireRegistryToken}.
 *
 * - `access`: what the token must grant, as scope strings
 *   (`"repository:team/app:pull"`) or access entries
 *   (`{ type, name, actions }`), or a function of the context returning them
 *   (for access that depends on the path or query). Default `[]`: any valid
 *   token passes. Every action listed must be granted (an entry with `*`
 *   grants all actions on its resource).
 */
export interface RequireRegistryTokenOptions {
  readonly access?: RequiredAccess | ((ctx: KoaContextLike) => RequiredAccess);
}

/**
 * A Koa middleware that lets a request through only with a registry token
 * that the guard accepts and that grants `access`: for services beside a
 * registry that take its tokens. A missing, invalid or insufficient token
 * gets the registry's answer: 401, `WWW-Authenticate: Bearer
 * realm=..,service=..,scope=..[,error=..]` and the `errors` body, and
 * downstream middleware does not run. A request that passes finds the
 * verified token in `ctx.state.registryToken` (`{ subject, access, ... }`).
 *
 * The body is never read, so it stays for the route's own parser.
 *
 * @param guard A {@link TokenGuard}: `createRegistryTokenGuard` from `@regauth/token`.
 * @param options See {@link RequireRegistryTokenOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options;
 *   a scope string that does not parse (`ERR_SCOPE_INVALID`) or an `access`
 *   function that throws rejects the middleware (Koa's error handling answers).
 *
 * @example
 * import { createRegistryTokenGuard } from "@regauth/token";
 * import { requireRegistryToken } from "@regauth/core/koa";
 * const guard = createRegistryTokenGuard({ realm, service, issuer, rootCertificates });
 * router.get(
 *   "/api/notes",
 *   requireRegistryToken(guard, {
 *     access: (ctx) => [`repository:${new URL(ctx.originalUrl, "http://x").searchParams.get("repository")}:pull`],
 *   }),
 *   (ctx) => { ctx.body = { account: ctx.state.registryToken.subject } },
 * );
 */
export function requireRegistryToken(
  guard: TokenGuard<VerifiedToken>,
  options: RequireRegistryTokenOptions = {},
): KoaMiddleware {
  if (!isGuard(guard)) {
    throw new RegauthError("ERR_CONFIG_INVALID", "guard: expected a TokenGuard with check()");
  }
  const { access } = parseOptions(requireOptionsSchema, options);
  const fixed: AccessEntry[] | undefined =
    typeof access === "function" ? undefined : readRequiredAccess(access as RequiredAccess);
  const accessOf = access as (ctx: KoaContextLike) => RequiredAccess;

  return async (ctx, next) => {
    const required = fixed ?? readRequiredAccess(accessOf(ctx));
    const result = await guard.check(koaWebRequest(ctx, false), required);
    if (!result.ok) {
      await writeKoaResponse(ctx, result.response);
      return;
    }
    ctx.state.registryToken = result.token;
    await next();
  };
}
