import type { KeyObject } from "node:crypto";
import { CompactSign } from "jose";

/** The decoded header and payload of a compact JWT (no verification). */
export function decodeToken(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const [header = "", payload = ""] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(header, "base64url").toString("utf8")),
    payload: JSON.parse(Buffer.from(payload, "base64url").toString("utf8")),
  };
}

/** Signs any header and payload with jose, for tokens this package would not issue. */
export async function craftToken(
  header: Record<string, unknown> & { alg: string },
  payload: unknown,
  key: KeyObject | Uint8Array,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(key);
}

/** Joins a header and payload with a given signature part, unsigned. */
export function rawToken(header: unknown, payload: unknown, signature = ""): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part(header)}.${part(payload)}.${signature}`;
}

/** Flips one character in the middle of the signature part. */
export function tamperSignature(token: string): string {
  const cut = token.lastIndexOf(".") + 10;
  const flipped = token[cut] === "A" ? "B" : "A";
  return `${token.slice(0, cut)}${flipped}${token.slice(cut + 1)}`;
}
