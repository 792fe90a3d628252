import { RegauthError } from "@regauth/core";

/** `ERR_TOKEN_INVALID` saying which check failed; never token content. */
export function tokenInvalid(message: string, cause?: unknown): RegauthError {
  return new RegauthError(
    "ERR_TOKEN_INVALID",
    `invalid registry token: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}
