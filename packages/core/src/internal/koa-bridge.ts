import type { TokenReply } from "../create-token-endpoint.js";
import type { KoaContextLike } from "../koa/to-koa-middleware.js";
import {
  type BodySource,
  bodyConsumed,
  closeIfBodyUnread,
  rebuiltBody,
  requestUrl,
  toWebRequest,
} from "./node-bridge.js";

/** Statuses that carry no body (Koa empties the body for them). */
const EMPTY_STATUSES = new Set([204, 205, 304]);

/**
 * The Web `Request` for a Koa context, at the URL the client used
 * (`protocol`, `host`, `originalUrl`: `app.proxy` honoured). With `withBody`,
 * a method that has a body gets it streamed, or, when a body parser consumed
 * it, its `rawBody` or the body rebuilt from `ctx.request.body`; without, no
 * body (for checks that read only headers).
 */
export function koaWebRequest(ctx: KoaContextLike, withBody: boolean): Request {
  const origin = ctx.host ? `${ctx.protocol}://${ctx.host}` : undefined;
  const url = requestUrl(origin, ctx.originalUrl, "http://localhost");
  const body: BodySource = withBody ? koaBody(ctx) : { kind: "rebuilt", body: undefined };
  return toWebRequest(ctx.req, ctx.res, url, body);
}

/**
 * Where a Koa request's body comes from: the socket, or, when a body parser
 * consumed it, its `rawBody` or `ctx.request.body` rebuilt.
 */
export function koaBody(ctx: KoaContextLike): BodySource {
  if (!bodyConsumed(ctx.req)) return { kind: "stream" };
  const { body, rawBody } = ctx.request as { body?: unknown; rawBody?: unknown };
  return { kind: "rebuilt", body: rebuiltBody(ctx.req.headers["content-type"], body, rawBody) };
}

/**
 * Sets a {@link TokenReply} on a Koa context: headers, the body, then the
 * status, so that Koa's body setter does not pick its own. A request whose
 * body was not read to its end (413) also gets its connection closed.
 */
export function writeKoaReply(ctx: KoaContextLike, reply: TokenReply): void {
  for (const [name, value] of Object.entries(reply.headers)) ctx.set(name, value);
  if (closeIfBodyUnread(ctx.req)) ctx.set("Connection", "close");
  ctx.body = reply.body;
  ctx.status = reply.status;
}

/**
 * Sets a Web `Response` on a Koa context: headers (several `Set-Cookie` kept
 * apart), the body as a Buffer (read whole; token answers are small), then
 * the status, so that Koa's body setter does not pick its own.
 */
export async function writeKoaResponse(ctx: KoaContextLike, response: Response): Promise<void> {
  const bytes = response.body === null ? null : Buffer.from(await response.arrayBuffer());
  response.headers.forEach((value, key) => {
    if (key === "set-cookie") ctx.append(key, value);
    else ctx.set(key, value);
  });
  if (closeIfBodyUnread(ctx.req)) ctx.set("Connection", "close");
  ctx.body =
    bytes === null && EMPTY_STATUSES.has(response.status) ? null : (bytes ?? Buffer.alloc(0));
  ctx.status = response.status;
  if (!response.headers.has("content-type")) ctx.remove("Content-Type");
}
