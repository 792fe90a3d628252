import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestContext } from "../create-token-handler.js";
import { RegauthError } from "../errors.js";
import { requestUrl, toWebRequest, writeNodeResponse } from "../internal/node-bridge.js";
import { errorResponse } from "../internal/respond.js";

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
  return (incoming, outgoing) => {
    void serve(handler, baseUrl, incoming, outgoing).catch((error: unknown) => {
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
    await writeNodeResponse(errorResponse(error), outgoing, incoming.method ?? "GET");
    return;
  }
  const response = await handler(request, { clientIp: incoming.socket.remoteAddress });
  await writeNodeResponse(response, outgoing, request.method);
}
