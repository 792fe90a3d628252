import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestContext } from "../create-token-handler.js";
import { requestUrl, toWebRequest, writeNodeResponse } from "../internal/node-bridge.js";

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
  const request = toWebRequest(incoming, outgoing, url, { kind: "stream" });
  const response = await handler(request, { clientIp: incoming.socket.remoteAddress });
  await writeNodeResponse(response, outgoing, request.method);
}
