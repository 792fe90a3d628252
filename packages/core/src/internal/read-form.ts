import type { TokenRequest } from "../create-token-endpoint.js";
import { RegauthError } from "../errors.js";

const FORM_TYPE = "application/x-www-form-urlencoded";
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 §4.3.2, §6) of at
 * most `maxBytes` bytes, through the transport's `readBody` (which buffers no
 * more than that). A request without `readBody` has an empty body.
 *
 * @throws RegauthError `ERR_REQUEST_INVALID` for another or a missing
 *   `Content-Type`, a body that is not UTF-8, or one not received in full;
 *   `ERR_REQUEST_TOO_LARGE` for a declared or actual length over `maxBytes`.
 */
export async function readForm(request: TokenRequest, maxBytes: number): Promise<URLSearchParams> {
  const contentType = request.header("content-type") ?? "";
  const mediaType = (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
  if (mediaType !== FORM_TYPE) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `expected Content-Type ${FORM_TYPE}, got ${JSON.stringify(mediaType.slice(0, 100))}`,
    );
  }
  const declared = request.header("content-length");
  if (declared !== undefined && Number(declared) > maxBytes) throw bodyTooLarge(maxBytes);
  if (request.readBody === undefined) return new URLSearchParams();
  const body = await request.readBody(maxBytes);
  if (typeof body === "string") {
    if (Buffer.byteLength(body) > maxBytes) throw bodyTooLarge(maxBytes);
    return new URLSearchParams(body);
  }
  if (body.byteLength > maxBytes) throw bodyTooLarge(maxBytes);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new RegauthError("ERR_REQUEST_INVALID", "request body is not UTF-8");
  }
  return new URLSearchParams(text);
}

/** The error of a body over `maxBytes` bytes (413). */
export function bodyTooLarge(maxBytes: number): RegauthError {
  return new RegauthError("ERR_REQUEST_TOO_LARGE", `request body over ${maxBytes} bytes`);
}

/** The error of a body the client stopped sending before its end. */
export function bodyIncomplete(cause: unknown): RegauthError {
  return new RegauthError("ERR_REQUEST_INVALID", "request body not received in full", { cause });
}

/** Joins chunks read from a stream into one array of bytes. */
export function joinChunks(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
