import { type AccessEntry, formatScopes, type TokenRefusal } from "@regauth/core";

/** The `error` parameter of the challenge for each refusal (RFC 6750 §3.1). */
const ERROR_PARAMETER: Readonly<Record<TokenRefusal, string | undefined>> = {
  missing: undefined,
  invalid: "invalid_token",
  insufficient: "insufficient_scope",
};

/** A quoted-string as Go's `%q` writes one for the ASCII the registry sends. */
function quoted(value: string): string {
  return JSON.stringify(value);
}

/**
 * The registry's `WWW-Authenticate` value (distribution registry/auth/token
 * `challengeParams`): `Bearer realm="..",service=".."`, then `scope=".."`
 * (the required access, scopes space-separated) when something is required,
 * then `error=".."` for an invalid token or insufficient scope.
 */
export function bearerChallenge(
  realm: string,
  service: string,
  required: readonly AccessEntry[],
  reason: TokenRefusal,
): string {
  let value = `Bearer realm=${quoted(realm)},service=${quoted(service)}`;
  if (required.length > 0) value += `,scope=${quoted(formatScopes(required))}`;
  const error = ERROR_PARAMETER[reason];
  if (error !== undefined) value += `,error=${quoted(error)}`;
  return value;
}

/**
 * The registry's 401 answer: the challenge, and the `errors` body with code
 * `UNAUTHORIZED` whose `detail` lists every required action as the registry
 * does (`{Type, Class, Name, Action}`), or `null` when nothing was required.
 */
export function challengeResponse(
  challenge: string,
  required: readonly AccessEntry[],
  message: string,
): Response {
  const detail = required.flatMap((entry) =>
    entry.actions.map((action) => ({
      Type: entry.type,
      Class: entry.class ?? "",
      Name: entry.name,
      Action: action,
    })),
  );
  const body = {
    errors: [{ code: "UNAUTHORIZED", message, detail: detail.length > 0 ? detail : null }],
  };
  return new Response(JSON.stringify(body), {
    status: 401,
    headers: {
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
      "WWW-Authenticate": challenge,
    },
  });
}
