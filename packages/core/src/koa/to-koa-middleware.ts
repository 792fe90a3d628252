import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { RequestContext } from "../create-token-handler.js";
import { pathSchema, pathsSchema } from "../internal/adapter-options.js";
import { endpointOf } from "../internal/endpoint-of.js";
import { koaBody, koaWebRequest, writeKoaReply, writeKoaResponse } from "../internal/koa-bridge.js";
import { nodeTokenRequest } from "../internal/node-bridge.js";
import { parseOptions } from "../parse-options.js";

/**
 * What the Koa adapters read and write of a context: a Koa 2 or 3 `Context`
 * satisfies it. Declared here so that `@regauth/core` needs neither `koa` nor
 * `@types/koa` to type-check.
 *
 * - `req`, `res`: the node:http request and response.
 * - `path`: the request path (below the mount path under `koa-mount`).
 * - `originalUrl`: path and query as the client sent them.
 * - `protocol`, `host`, `ip`: as Koa reports them, which honours `app.proxy`
 *   (and `app.proxyIpHeader`, `app.maxIpsCount`).
 * - `request`: Koa's request; a body parser leaves `body` (and `rawBody`) on it.
 * - `status`, `body`, `set`, `append`, `remove`: the response.
 * - `state`: where `requireRegistryToken` puts the verified token.
 */
export interface KoaContextLike {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly path: string;
  readonly originalUrl: string;
  readonly protocol: string;
  readonly host: string;
  readonly ip: string;
  readonly request: object;
  status: number;
  body: unknown;
  // biome-ignore lint/suspicious/noExplicitAny: Koa types `state` as its app's state type
  state: any;
  set(field: string, value: string | string[]): void;
  append(field: string, value: string | string[]): void;
  remove(field: string): void;
}

/** Koa's `next`: runs the downstream middleware. */
export type KoaNext = () => Promise<unknown>;

/** A Koa middleware as this package builds them; `app.use` and routers accept it. */
export type KoaMiddleware = (ctx: KoaContextLike, next: KoaNext) => Promise<void>;

/**
 * Options of {@link toKoaMiddleware}.
 *
 * - `prefix`: the path the endpoint lives under, as Koa has no mount paths of
 *   its own (`"/registry"` serves `/registry/auth`). Default none. Under
 *   `koa-mount`, which strips its path from `ctx.path`, leave it unset.
 * - `paths`: the paths served below `prefix`. Default `["/auth",
 *   "/auth/token"]`, docker_auth's, so a migrated registry keeps its `realm`.
 *   `"any"` serves every request that reaches the middleware: use it for a
 *   router route (`router.get("/token", toKoaMiddleware(handler, { paths:
 *   "any" }))`). Requests to other paths go on downstream.
 */
export interface KoaMiddlewareOptions {
  readonly prefix?: string;
  readonly paths?: readonly string[] | "any";
}

const optionsSchema = z.strictObject({
  prefix: pathSchema
    .refine((value) => value === "/" || !value.endsWith("/"), "expected no trailing /")
    .optional(),
  paths: pathsSchema,
});

/**
 * Adapts a Web-standard handler (such as {@link createTokenHandler}'s) to a
 * Koa 2 or 3 middleware, for an existing Koa service.
 *
 * - Mount path: `prefix` plus `paths` are matched against `ctx.path`; the
 *   handler gets the URL the client used (`ctx.originalUrl`).
 * - Client address: `ctx.ip`, which follows `app.proxy` (leave the handler's
 *   `realIpHeader` unset and configure the proxy in Koa instead).
 * - Body parsers: when `@koa/bodyparser` (or `koa-bodyparser`) ran before and
 *   consumed the body, the handler gets `ctx.request.rawBody`, or the body
 *   rebuilt from `ctx.request.body`, instead of a stream that never ends, so a
 *   POST (the OAuth2 grant containerd and the docker CLI send) still gets its form.
 * - The answer is set the Koa way (`ctx.status`, headers, `ctx.body` as a
 *   Buffer), so middleware upstream (logging, compression) sees it.
 * - A handler that throws rejects the middleware: Koa's error handling answers.
 * - A handler made by `createTokenHandler` is served without Web objects (its
 *   endpoint is called directly), as `toNodeListener` does.
 *
 * @param handler A Web-standard handler `(request, context?) => Promise<Response>`.
 * @param options See {@link KoaMiddlewareOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` for bad options, naming the option.
 *
 * @example
 * import Koa from "koa";
 * import { toKoaMiddleware } from "@regauth/core/koa";
 * const app = new Koa({ proxy: true });
 * app.use(toKoaMiddleware(handler, { prefix: "/registry" })); // realm: https://host/registry/auth
 */
export function toKoaMiddleware(
  handler: (request: Request, context?: RequestContext) => Promise<Response>,
  options: KoaMiddlewareOptions = {},
): KoaMiddleware {
  const config = parseOptions(optionsSchema, options);
  const prefix = config.prefix === undefined || config.prefix === "/" ? "" : config.prefix;
  const served =
    config.paths === "any" ? undefined : new Set(config.paths.map((path) => `${prefix}${path}`));
  const endpoint = endpointOf(handler);
  return async (ctx, next) => {
    if (served !== undefined && !served.has(ctx.path)) {
      await next();
      return;
    }
    if (endpoint) {
      const request = nodeTokenRequest(ctx.req, ctx.originalUrl, koaBody(ctx), ctx.ip);
      writeKoaReply(ctx, await endpoint(request));
      return;
    }
    const request = koaWebRequest(ctx, true);
    const response = await handler(request, { clientIp: ctx.ip });
    await writeKoaResponse(ctx, response);
  };
}
