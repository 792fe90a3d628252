import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenEndpoint } from "../create-token-endpoint.js";
import type { RequestContext } from "../create-token-handler.js";
import { RegauthError } from "../errors.js";
import { endpointOf } from "../internal/endpoint-of.js";
import {
  nodeTokenRequest,
  requestUrl,
  toWebRequest,
  writeNodeReply,
  writeNodeResponse,
} from "../internal/node-bridge.js";
import { errorReply } from "../internal/respond.js";
import { toWebResponse } from "../internal/web-bridge.js";

/** Methods the Fetch standard refuses to put in a `Request`. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * Options of {@link toNodeListener}.
 *
 * - `baseUrl`: the origin used to build the `Request` URL when the request has
 *   no `Host` header. Default `http://localhost`.
 * - `onError`: called when writing the response fails (the client went away).
 *   Default: ignore.
 */
export interface NodeListenerOptions {
  readonly baseUrl?: string;
  readonly onError?: (error: unknown) => void;
}

/**
 * Adapts a Web-standard handler (such as {@link createTokenHandler}'s) to a
 * node:http request listener. The client address comes from the socket
 * (`context.clientIp`); a request body is streamed, never buffered here.
 *
 * A handler made by `createTokenHandler` is served without Web objects: its
 * endpoint gets the request target, the raw headers and the body straight
 * from node:http, and its answer is written with `res.end` (the same answers,
 * for about a fifth of the CPU time the `Request`/`Response` round trip costs
 * on Node 20). A POST body over `maxBodyBytes` is answered 413 and the
 * connection closed, the rest of the body unread.
 *
 * @example
 * import { createServer } from "node:http";
 * import { toNodeListener } from "@regauth/core/node";
 * createServer(toNodeListener(handler)).listen(5001, "127.0.0.1");
 */
export function toNodeListener(
  handler: (request: Request, context?: RequestContext) => Promise<Response>,
  options: NodeListenerOptions = {},
): (request: IncomingMessage, response: ServerResponse) => void {
  const baseUrl = options.baseUrl ?? "http://localhost";
  const onError = options.onError ?? (() => {});
  const endpoint = endpointOf(handler);
  return (incoming, outgoing) => {
    const served = endpoint
      ? serveEndpoint(endpoint, incoming, outgoing)
      : serve(handler, baseUrl, incoming, outgoing);
    void served.catch((error: unknown) => {
      onError(error);
      if (!outgoing.headersSent) {
        outgoing.statusCode = 500;
        outgoing.end();
      } else {
        outgoing.destroy();
      }
    });
  };
}

async function serveEndpoint(
  endpoint: TokenEndpoint,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  const request = nodeTokenRequest(
    incoming,
    incoming.url ?? "/",
    { kind: "stream" },
    incoming.socket.remoteAddress,
  );
  writeNodeReply(await endpoint(request), outgoing);
}

async function serve(
  handler: (request: Request, context?: RequestContext) => Promise<Response>,
  baseUrl: string,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  const host = incoming.headers.host;
  const url = requestUrl(host ? `http://${host}` : undefined, incoming.url ?? "/", baseUrl);
  let request: Request;
  try {
    request = toWebRequest(incoming, outgoing, url, { kind: "stream" });
  } catch {
    // The Fetch standard forbids some methods (CONNECT, TRACE, TRACK) and some
    // targets; they never reach the handler, and are no server fault either.
    const forbidden = FORBIDDEN_METHODS.has((incoming.method ?? "").toUpperCase());
    const error = forbidden
      ? new RegauthError("ERR_METHOD_NOT_ALLOWED", `method ${incoming.method} not allowed`)
      : new RegauthError("ERR_REQUEST_INVALID", "malformed request");
    await writeNodeResponse(toWebResponse(errorReply(error)), outgoing, incoming.method ?? "GET");
    return;
  }
  const response = await handler(request, { clientIp: incoming.socket.remoteAddress });
  await writeNodeResponse(response, outgoing, request.method);
}
