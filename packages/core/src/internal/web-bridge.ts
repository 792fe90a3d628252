import type { TokenReply, TokenRequest } from "../create-token-endpoint.js";
import { bodyIncomplete, bodyTooLarge, joinChunks } from "./read-form.js";

/**
 * The {@link TokenRequest} of a Web `Request`: its method, URL and headers,
 * its body read from its stream (at most `maxBytes`), and `clientIp`.
 */
export function fromWebRequest(request: Request, clientIp: string | undefined): TokenRequest {
  return {
    method: request.method,
    target: request.url,
    header: (name) => request.headers.get(name) ?? undefined,
    readBody: (maxBytes) => readWebBody(request, maxBytes),
    clientIp,
  };
}

/** The Web `Response` of a {@link TokenReply}. */
export function toWebResponse(reply: TokenReply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

/**
 * Reads a Web request's body whole, buffering at most `maxBytes` bytes: past
 * them the stream is cancelled and `ERR_REQUEST_TOO_LARGE` thrown; a stream
 * that breaks (the client left) throws `ERR_REQUEST_INVALID`.
 */
async function readWebBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch (error) {
      // The client went away (or the stream broke) before the body was whole:
      // its request is incomplete, which is no fault of this server.
      throw bodyIncomplete(error);
    }
    const { done, value } = chunk;
    if (done) break;
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw bodyTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return joinChunks(chunks, length);
}
