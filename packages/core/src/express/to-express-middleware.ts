import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { TokenEndpoint } from "../create-token-endpoint.js";
import type { RequestContext } from "../create-token-handler.js";
import { pathsSchema } from "../internal/adapter-options.js";
import { endpointOf } from "../internal/endpoint-of.js";
import { expressBody, expressWebRequest } from "../internal/express-bridge.js";
import { nodeTokenRequest, writeNodeReply, writeNodeResponse } from "../internal/node-bridge.js";
import { parseOptions } from "../parse-options.js";

/**
 * What the Express adapters read of a request: an Express 5 `Request`
 * satisfies it. Declared here so that `@regauth/core` needs neither
 * `express` nor `@types/express` to type-check.
 *
 * - `originalUrl`: path and query as the client sent them, mount path included.
 * - `path`: the path below the mount point (`/auth` for `/registry/auth` when
 *   mounted with `app.use("/registry", ...)`).
 * - `protocol`, `host`: as Express reports them, which honours `trust proxy`.
 * - `ip`: the client address as Express reports it, which honours `trust proxy`.
 * - `route`: set by Express when the request matched a route (`app.get(...)`).
 * - `body`: what a body parser mounted earlier left, if any.
 * - `query`, `params`: the parsed query and route parameters.
 */
export interface ExpressRequestLike extends IncomingMessage {
  readonly originalUrl: string;
  readonly path: string;
  readonly protocol: string;
  readonly host?: string | undefined;
  readonly ip?: string | undefined;
  readonly route?: unknown;
  readonly body?: unknown;
  readonly query?: Readonly<Record<string, unknown>>;
  readonly params?: Readonly<Record<string, unknown>>;
}

/** Express's `next`: call it to pass the request on, or with an error to fail it. */
export type ExpressNext = (error?: unknown) => void;

/** An Express middleware as this package builds them; `app.use` and `app.get` accept it. */
export type ExpressMiddleware = (
  req: ExpressRequestLike,
  res: ServerResponse,
  next: ExpressNext,
) => void;

/**
 * Options of {@link toExpressMiddleware}.
 *
 * - `paths`: the paths served, below the mount path. Default
 *   `["/auth", "/auth/token"]`, docker_auth's, so a migrated registry keeps
 *   its `realm`. `"any"` serves every request that reaches the middleware.
 *   Requests to other paths go on to the next middleware. When Express calls
 *   the middleware as a route handler (`app.get("/token", ...)`, where
 *   `req.route` is set), the route has already chosen the path and every
 *   request is served.
 */
export interface ExpressMiddlewareOptions {
  readonly paths?: readonly string[] | "any";
}

const optionsSchema = z.strictObject({ paths: pathsSchema });

/**
 * Adapts a Web-standard handler (such as {@link createTokenHandler}'s) to an
 * Express 5 middleware, for an existing Express service.
 *
 * - Mount path: the paths are matched below where the middleware is mounted
 *   (`req.path`), and the handler gets the URL the client used
 *   (`req.originalUrl`, prefix included).
 * - Client address: `req.ip`, which follows the app's `trust proxy` setting
 *   (leave the handler's `realIpHeader` unset and configure the proxy in
 *   Express instead).
 * - Body parsers: when `express.json()`, `express.urlencoded()` or another
 *   parser ran before and consumed the body, the handler gets the body rebuilt
 *   from `req.body` (a form or JSON) instead of a stream that never ends, so a
 *   POST (the OAuth2 grant containerd and the docker CLI send) still gets its form.
 * - A handler that throws is passed to `next(error)`, Express's error handling.
 * - A handler made by `createTokenHandler` is served without Web objects (its
 *   endpoint is called directly), as `toNodeListener` does.
 *
 * @param handler A Web-standard handler `(request, context?) => Promise<Response>`.
 * @param options See {@link ExpressMiddlewareOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` for bad options, naming the option.
 *
 * @example
 * import express from "express";
 * import { toExpressMiddleware } from "@regauth/core/express";
 * const app = express();
 * app.set("trust proxy", "loopback");
 * app.use("/registry", toExpressMiddleware(handler)); // realm: https://host/registry/auth
 * app.get("/healthz", (_req, res) => { res.json({ ok: true }) });
 */
export function toExpressMiddleware(
  handler: (request: Request, context?: RequestContext) => Promise<Response>,
  options: ExpressMiddlewareOptions = {},
): ExpressMiddleware {
  const { paths } = parseOptions(optionsSchema, options);
  const served = paths === "any" ? undefined : new Set(paths);
  const endpoint = endpointOf(handler);
  return (req, res, next) => {
    if (served !== undefined && req.route === undefined && !served.has(req.path)) {
      next();
      return;
    }
    const serving = endpoint ? serveEndpoint(endpoint, req, res) : serve(handler, req, res);
    void serving.catch((error: unknown) => {
      if (!res.headersSent) next(error);
      else res.destroy();
    });
  };
}

async function serveEndpoint(
  endpoint: TokenEndpoint,
  req: ExpressRequestLike,
  res: ServerResponse,
): Promise<void> {
  const request = nodeTokenRequest(req, req.originalUrl, expressBody(req), req.ip);
  writeNodeReply(await endpoint(request), res);
}

async function serve(
  handler: (request: Request, context?: RequestContext) => Promise<Response>,
  req: ExpressRequestLike,
  res: ServerResponse,
): Promise<void> {
  const request = expressWebRequest(req, res, true);
  const response = await handler(request, { clientIp: req.ip });
  await writeNodeResponse(response, res, request.method);
}
