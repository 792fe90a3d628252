import { RegauthError } from "../errors.js";

/** Longest `Authorization` header accepted, in bytes (characters of its ASCII form). */
export const MAX_AUTHORIZATION_LENGTH = 8192;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function bad(message: string): RegauthError {
  return new RegauthError("ERR_REQUEST_INVALID", message);
}

/**
 * Reads HTTP Basic credentials (RFC 7617). The user is everything before the
 * first `:`; the password is the rest and may contain `:`. Returns `undefined`
 * when there is no `Authorization` header at all (an anonymous request).
 * Throws `ERR_REQUEST_INVALID` for any other scheme, an empty value, base64
 * that does not decode, text that is not UTF-8, no `:`, a control character
 * in the user name, or a NUL or line break in the password.
 */
export function parseBasicAuthorization(
  header: string | undefined,
): { account: string; password: string } | undefined {
  if (header === undefined) return undefined;
  if (header.length > MAX_AUTHORIZATION_LENGTH) {
    throw bad(`authorization header too long: more than ${MAX_AUTHORIZATION_LENGTH} bytes`);
  }
  const match = /^([A-Za-z]+)(?: +(.*))?$/.exec(header.trim());
  if (match?.[1]?.toLowerCase() !== "basic") {
    throw bad("authorization header: expected the Basic scheme");
  }
  const encoded = match[2]?.trim() ?? "";
  if (encoded === "") throw bad("authorization header: empty Basic credentials");
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
    throw bad("authorization header: Basic credentials are not base64");
  }
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(encoded, "base64"));
  } catch {
    throw bad("authorization header: Basic credentials are not UTF-8");
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) throw bad("authorization header: Basic credentials have no ':'");
  const account = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  checkCredentialText(account, password, "authorization header: ");
  return { account, password };
}

/**
 * Refuses a control character in a user name, and a NUL or line break in a
 * password (`ERR_REQUEST_INVALID`, the message starting with `where`): people
 * type none of them, and each could split a line-based protocol further down
 * (ext_auth reads `"<user> <password>"` as one line, so `"bob pw\nadmin"` would
 * authenticate bob and name the account admin).
 */
export function checkCredentialText(account: string, password: string, where: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(account)) {
    throw bad(`${where}the user name holds a control character`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000\r\n]/.test(password)) {
    throw bad(`${where}the password holds a NUL or a line break`);
  }
}
