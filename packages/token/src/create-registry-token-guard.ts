import {
  type AccessEntry,
  isRegauthError,
  parseOptions,
  RegauthError,
  type TokenCheck,
  type TokenGuard,
  type TokenRefusal,
  type VerifiedToken,
} from "@regauth/core";
import type { JWK } from "jose";
import { z } from "zod";
import { findMissingAccess } from "./internal/access.js";
import { bearerChallenge, challengeResponse } from "./internal/challenge.js";
import { verificationSchema, verifyPrepared } from "./internal/verify.js";
import type { RegistryTokenClaims } from "./model.js";

/**
 * Options of {@link createRegistryTokenGuard}. The same as
 * `verifyRegistryToken`'s, less `requiredAccess` (given per request), plus
 * `realm`.
 *
 * - `realm`: the token endpoint clients are sent to, the challenge's `realm`
 *   (the registry's `auth.token.realm`). Required.
 * - `service`: the expected `aud` and the challenge's `service` (the
 *   registry's `auth.token.service`). Required.
 * - `issuer`: the expected `iss` (the registry's `auth.token.issuer`). Required.
 * - `rootCertificates`: a PEM bundle, as the registry's `rootcertbundle`.
 * - `jwks`: `{ keys: JWK[] }`, as registry 3.x's `auth.token.jwks`. At least
 *   one of `rootCertificates` and `jwks` is required.
 * - `acceptAudienceArray`: accept an `aud` array containing `service`, as
 *   registry 3.x does. Default `false`, as registry 2.8.
 * - `clockTolerance`: leeway on `exp` and `nbf`, in seconds. Default 60.
 * - `clock`: the current time in milliseconds since the epoch. Default `Date.now`.
 */
export interface RegistryTokenGuardOptions {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootCertificates?: string;
  readonly jwks?: { readonly keys: readonly JWK[] };
  readonly acceptAudienceArray?: boolean;
  readonly clockTolerance?: number;
  readonly clock?: () => number;
}

/**
 * A verified registry token: `subject` (`sub`, `""` when anonymous),
 * `access` (the `access` claim) and every claim as read.
 */
export interface VerifiedRegistryToken extends VerifiedToken {
  readonly claims: RegistryTokenClaims;
}

/** The guard {@link createRegistryTokenGuard} makes; see `TokenGuard` in `@regauth/core`. */
export type RegistryTokenGuard = TokenGuard<VerifiedRegistryToken>;

/** What goes between the quotes of a challenge parameter. */
const challengeText = z
  .string()
  .min(1)
  .regex(/^[\x20-\x7e]*$/, "printable ASCII expected")
  .refine((value) => !value.includes('"') && !value.includes("\\"), "no quotes or backslashes");

const guardSchema = z.looseObject({ realm: challengeText, service: challengeText });

/**
 * Reads `Authorization: Bearer <token>` as the registry does: the scheme is
 * matched without regard to case, and what follows the first space is the
 * token. Anything else (no header, Basic, an empty token) is no token.
 */
function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  const space = header.indexOf(" ");
  if (space < 0) return undefined;
  const token = header.slice(space + 1);
  return header.slice(0, space).toLowerCase() === "bearer" && token !== "" ? token : undefined;
}

/**
 * Creates a guard that checks the registry token a request carries exactly as
 * the registry does (distribution registry/auth/token; protocol.md §3), for
 * services that sit beside a registry and accept its tokens. Verification is
 * `verifyRegistryToken`'s, with the options read once, here.
 *
 * `check(request, requiredAccess?)` reads only `Authorization: Bearer` and
 * resolves to `{ ok: true, token: { subject, access, claims } }`, or to
 * `{ ok: false, reason, error, response }` where `response` is the registry's
 * answer: 401 with `WWW-Authenticate: Bearer realm="..",service=".."`, then
 * `scope=".."` (the required access) when any is required, then
 * `error="invalid_token"` (a malformed, badly signed, untrusted, expired or
 * misaddressed token: `reason: "invalid"`, `ERR_TOKEN_INVALID`) or
 * `error="insufficient_scope"` (a good token without every required action:
 * `reason: "insufficient"`, `ERR_TOKEN_INVALID`); with no token at all,
 * no `error` (`reason: "missing"`, `ERR_UNAUTHENTICATED`). The body is
 * `{"errors":[{"code":"UNAUTHORIZED","message":..,"detail":[{Type,Class,Name,Action}]}]}`
 * as the registry writes it; the message says which check failed, never
 * quoting the token.
 *
 * Required access matches as in the registry: exact `type` and `name`,
 * entries for one resource merged, `*` granting every action on it.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` at construction for bad options,
 *   naming the option (`realm: ...`, `rootCertificates: ...`).
 *
 * @example
 * const guard = createRegistryTokenGuard({
 *   realm: "https://auth.example.com/auth",
 *   service: "registry.example.com",
 *   issuer: "my-token-server",
 *   rootCertificates: readFileSync("signing-cert.pem", "utf8"),
 * });
 * const result = await guard.check(request, [
 *   { type: "repository", name: "team/app", actions: ["pull"] },
 * ]);
 * if (!result.ok) return result.response;
 * result.token.subject; // "alice"
 */
export function createRegistryTokenGuard(options: RegistryTokenGuardOptions): RegistryTokenGuard {
  const { realm, service } = parseOptions(guardSchema, options);
  const { realm: _realm, ...verifyOptions } = options;
  if ("requiredAccess" in verifyOptions) {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      "requiredAccess: unknown key; pass the required access to check()",
    );
  }
  const verification = parseOptions(verificationSchema, verifyOptions);

  function refuse(
    reason: TokenRefusal,
    error: RegauthError,
    required: readonly AccessEntry[],
  ): TokenCheck<VerifiedRegistryToken> {
    const challenge = bearerChallenge(realm, service, required, reason);
    const message = reason === "missing" ? "authentication required" : error.message;
    return { ok: false, reason, error, response: challengeResponse(challenge, required, message) };
  }

  return {
    async check(request, requiredAccess = []) {
      const token = bearerToken(request.headers.get("authorization"));
      if (token === undefined) {
        const error = new RegauthError("ERR_UNAUTHENTICATED", "authorization token required");
        return refuse("missing", error, requiredAccess);
      }
      let claims: RegistryTokenClaims;
      try {
        claims = await verifyPrepared(token, verification);
      } catch (error) {
        if (!isRegauthError(error, "ERR_TOKEN_INVALID")) throw error;
        return refuse("invalid", error, requiredAccess);
      }
      const missing = findMissingAccess(claims.access, requiredAccess);
      if (missing !== undefined) {
        const error = new RegauthError("ERR_TOKEN_INVALID", missing);
        return refuse("insufficient", error, requiredAccess);
      }
      return { ok: true, token: { subject: claims.sub, access: claims.access, claims } };
    },
  };
}
