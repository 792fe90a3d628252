/** The value of cookie `name` in a `Cookie` header, or `undefined`. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index < 0) continue;
    if (part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** Attributes of the cookies this module sets. */
export interface CookieScope {
  readonly path: string;
  readonly secure: boolean;
}

/**
 * A `Set-Cookie` value: HttpOnly, SameSite=Lax (sent on the provider's
 * top-level redirect back to the callback, never on cross-site POSTs), Secure
 * when the pages are served over https. `maxAge` in seconds; 0 deletes.
 */
export function serializeCookie(
  name: string,
  value: string,
  maxAge: number,
  scope: CookieScope,
): string {
  const parts = [`${name}=${value}`, `Path=${scope.path}`, `Max-Age=${maxAge}`, "HttpOnly"];
  parts.push("SameSite=Lax");
  if (scope.secure) parts.push("Secure");
  return parts.join("; ");
}
