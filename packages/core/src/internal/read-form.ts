import { RegauthError } from "../errors.js";

const FORM_TYPE = "application/x-www-form-urlencoded";

/**
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 §4.3.2, §6) of at
 * most `maxBytes` bytes, without buffering more than that.
 *
 * @throws RegauthError `ERR_REQUEST_INVALID` for another or a missing
 *   `Content-Type`, or a body that is not UTF-8; `ERR_REQUEST_TOO_LARGE` for a
 *   declared or actual length over `maxBytes`.
 */
export async function readForm(request: Request, maxBytes: number): Promise<URLSearchParams> {
  const contentType = request.headers.get("content-type") ?? "";
  const mediaType = (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
  if (mediaType !== FORM_TYPE) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `expected Content-Type ${FORM_TYPE}, got ${JSON.stringify(mediaType.slice(0, 100))}`,
    );
  }
  const tooLarge = () =>
    new RegauthError("ERR_REQUEST_TOO_LARGE", `request body over ${maxBytes} bytes`);
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (request.body === null) return new URLSearchParams();

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
      throw new RegauthError("ERR_REQUEST_INVALID", "request body not received in full", {
        cause: error,
      });
    }
    const { done, value } = chunk;
    if (done) break;
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new RegauthError("ERR_REQUEST_INVALID", "request body is not UTF-8");
  }
  return new URLSearchParams(text);
}
