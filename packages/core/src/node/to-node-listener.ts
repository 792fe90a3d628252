import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { RequestContext } from "../create-token-handler.js";

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
  const origin = host ? `http://${host}` : baseUrl;
  let url: URL;
  try {
    url = new URL(incoming.url ?? "/", origin);
  } catch {
    url = new URL(incoming.url ?? "/", baseUrl);
  }
  const headers = new Headers();
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
    headers.append(incoming.rawHeaders[i] as string, incoming.rawHeaders[i + 1] as string);
  }
  const method = incoming.method ?? "GET";
  const controller = new AbortController();
  outgoing.once("close", () => controller.abort());
  const hasBody = method !== "GET" && method !== "HEAD";
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal: controller.signal };
  if (hasBody) {
    init.body = Readable.toWeb(incoming) as ReadableStream<Uint8Array>;
    init.duplex = "half";
  }
  const request = new Request(url, init);
  const response = await handler(request, { clientIp: incoming.socket.remoteAddress });
  outgoing.statusCode = response.status;
  response.headers.forEach((value, key) => {
    outgoing.appendHeader(key, value);
  });
  if (response.body === null || method === "HEAD") {
    outgoing.end();
    return;
  }
  const body = Buffer.from(await response.arrayBuffer());
  outgoing.end(body);
}
