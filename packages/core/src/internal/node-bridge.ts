import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { TokenReply, TokenRequest } from "../create-token-endpoint.js";
import { bodyIncomplete, bodyTooLarge } from "./read-form.js";

/** Headers that describe the body on the wire, dropped when the body is rebuilt. */
const FRAMING_HEADERS = ["content-length", "transfer-encoding", "content-encoding"];

/**
 * The URL a `Request` is built with. Only the path and query of the request
 * target count (an absolute-form target, as sent to a forward proxy, is cut
 * down to them); they are appended as text to the origin of `origin`, or of
 * `fallback` when `origin` is no usable origin (a Host header that is no host
 * name). Appending as text keeps `//evil/auth` the path `//evil/auth`: resolved
 * as a relative reference it would become the host `evil` and the path `/auth`,
 * so the handler would serve a path a proxy in front never saw. User
 * information in a Host header (`u:p@h`) is dropped with the rest of the origin.
 */
export function requestUrl(origin: string | undefined, path: string, fallback: string): URL {
  let target = path;
  if (!target.startsWith("/")) {
    try {
      const absolute = new URL(target);
      target = `${absolute.pathname}${absolute.search}`;
    } catch {
      target = "/";
    }
  }
  for (const base of [origin, fallback]) {
    if (base === undefined) continue;
    try {
      return new URL(`${new URL(base).origin}${target}`);
    } catch {
      // an unusable origin or target: try the next base
    }
  }
  return new URL("/", fallback);
}

/** True when something (a body parser) has already read from the request stream. */
export function bodyConsumed(incoming: IncomingMessage): boolean {
  return incoming.readableDidRead || incoming.readableEnded || incoming.destroyed;
}

/**
 * Rebuilds a request body that a body parser mounted earlier has consumed, from
 * what the parser left: the raw text when it kept one (`rawBody` of Koa's body
 * parsers), else the parsed value re-encoded by the request's content type
 * (an object as a urlencoded form or JSON, a string or bytes as they are).
 * Returns `undefined` when nothing usable was left: the handler then sees an
 * empty body, never a stream that will not end.
 */
export function rebuiltBody(
  contentType: string | undefined,
  parsed: unknown,
  raw: unknown,
): string | Uint8Array | undefined {
  if (typeof raw === "string") return raw;
  if (typeof parsed === "string") return parsed;
  if (parsed instanceof Uint8Array) return parsed;
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const type = (contentType ?? "").split(";", 1)[0]?.trim().toLowerCase() ?? "";
  if (type === "application/x-www-form-urlencoded") {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(parsed)) {
      // qs (Express's extended parser) turns long lists into index-keyed objects.
      const values: unknown[] = Array.isArray(value)
        ? value
        : typeof value === "object" && value !== null
          ? Object.values(value)
          : [value];
      for (const item of values) {
        if (typeof item === "string" || typeof item === "number" || typeof item === "boolean") {
          form.append(name, String(item));
        }
      }
    }
    return form.toString();
  }
  if (type === "application/json" || type.endsWith("+json")) return JSON.stringify(parsed);
  return undefined;
}

/** How {@link toWebRequest} gets the body of a request that has one. */
export type BodySource =
  | { readonly kind: "stream" }
  | { readonly kind: "rebuilt"; readonly body: string | Uint8Array | undefined };

/**
 * Builds a Web `Request` from a node:http request: the given URL, the method,
 * every header (repeated ones kept), and for methods other than GET and HEAD
 * the body, streamed from the socket or rebuilt (see {@link rebuiltBody}).
 * The request's `signal` aborts when the response closes (client gone).
 */
export function toWebRequest(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  url: URL,
  body: BodySource,
): Request {
  const headers = new Headers();
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
    headers.append(incoming.rawHeaders[i] as string, incoming.rawHeaders[i + 1] as string);
  }
  const method = incoming.method ?? "GET";
  const controller = new AbortController();
  // `close` also follows every answer sent in full: abort only when the client
  // left first. An abort per request costs a DOMException with its stack and
  // an event through undici's signals, several times node:http's own work.
  outgoing.once("close", () => {
    if (!outgoing.writableFinished) controller.abort();
  });
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal: controller.signal };
  if (method !== "GET" && method !== "HEAD") {
    if (body.kind === "stream") {
      init.body = Readable.toWeb(incoming) as ReadableStream<Uint8Array>;
      init.duplex = "half";
    } else {
      for (const name of FRAMING_HEADERS) headers.delete(name);
      if (body.body !== undefined) init.body = body.body;
    }
  }
  return new Request(url, init);
}

/**
 * Writes a Web `Response` to a node:http response: status, every header
 * (several `Set-Cookie` kept apart), and the body, read whole (token answers
 * are small); no body for HEAD. A request whose body was not read to its end
 * gets its connection closed, see {@link closeIfBodyUnread}.
 */
export async function writeNodeResponse(
  response: Response,
  outgoing: ServerResponse,
  method: string,
): Promise<void> {
  outgoing.statusCode = response.status;
  response.headers.forEach((value, key) => {
    outgoing.appendHeader(key, value);
  });
  if (closeIfBodyUnread(outgoing.req)) outgoing.setHeader("Connection", "close");
  if (response.body === null || method === "HEAD") {
    outgoing.end();
    return;
  }
  outgoing.end(Buffer.from(await response.arrayBuffer()));
}

/**
 * The {@link TokenRequest} of a node:http request, built without Web objects:
 * `target` as given (path and query), headers looked up in `rawHeaders` with
 * Fetch's rules (case-insensitive, repeated ones joined with `", "`), the body
 * read from the socket or rebuilt (see {@link rebuiltBody}; the framing
 * headers of the original body are then hidden).
 */
export function nodeTokenRequest(
  incoming: IncomingMessage,
  target: string,
  body: BodySource,
  clientIp: string | undefined,
): TokenRequest {
  const raw = incoming.rawHeaders;
  if (body.kind === "stream") {
    return {
      method: incoming.method ?? "GET",
      target,
      header: (name) => rawHeader(raw, name),
      readBody: (maxBytes) => readNodeBody(incoming, maxBytes),
      clientIp,
    };
  }
  const rebuilt = body.body;
  return {
    method: incoming.method ?? "GET",
    target,
    header: (name) => (FRAMING_HEADERS.includes(name) ? undefined : rawHeader(raw, name)),
    ...(rebuilt === undefined ? {} : { readBody: async () => rebuilt }),
    clientIp,
  };
}

/** A header of `rawHeaders` (name, value, name, value...) by lower-case name, as Fetch's `Headers.get`. */
function rawHeader(raw: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    const item = raw[i + 1] as string;
    value = value === undefined ? item : `${value}, ${item}`;
  }
  return value;
}

/**
 * Reads a node:http request's body whole, buffering at most `maxBytes`
 * bytes. Past them it stops reading and throws `ERR_REQUEST_TOO_LARGE` (the
 * answer then closes the connection, see {@link writeNodeReply}); a client
 * that leaves before the end, or a stream already destroyed, gives
 * `ERR_REQUEST_INVALID`. It copes with what code before it may have done to
 * the stream: paused it (it resumes), or set a text encoding (the text is
 * turned back into UTF-8 bytes).
 */
export function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  if (incoming.readableEnded) return Promise.resolve(new Uint8Array(0));
  if (incoming.destroyed) {
    return Promise.reject(bodyIncomplete(new Error("request stream already destroyed")));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, length));
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
      length += bytes.byteLength;
      if (length > maxBytes) {
        incoming.pause();
        settle(bodyTooLarge(maxBytes));
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => settle();
    const onError = (error: Error) => settle(bodyIncomplete(error));
    const onClose = () => settle(bodyIncomplete(new Error("connection closed mid-body")));
    incoming.on("data", onData);
    incoming.once("end", onEnd);
    incoming.once("error", onError);
    incoming.once("close", onClose);
    // A `data` listener does not restart a stream that was paused on purpose.
    incoming.resume();
  });
}

/**
 * Headers to add so that a connection whose request body was not read to its
 * end (a body over the limit) is closed after the answer: the unread rest
 * would otherwise be taken for the next request, or hang it.
 */
export function closeIfBodyUnread(incoming: IncomingMessage): Record<string, string> | undefined {
  return incoming.complete ? undefined : { Connection: "close" };
}

/**
 * Writes a {@link TokenReply} to a node:http response, with its
 * `Content-Length`. A request whose body was not read to its end (413) also
 * gets its connection closed, see {@link closeIfBodyUnread}.
 */
export function writeNodeReply(reply: TokenReply, outgoing: ServerResponse): void {
  outgoing.writeHead(reply.status, {
    ...reply.headers,
    "Content-Length": String(Buffer.byteLength(reply.body, "utf8")),
    ...closeIfBodyUnread(outgoing.req),
  });
  // Text, not bytes: node:http then sends head and body in one write.
  outgoing.end(reply.body, "utf8");
}
