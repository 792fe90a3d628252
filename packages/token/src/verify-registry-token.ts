import { type AccessEntry, parseOptions } from "@regauth/core";
import type { JWK } from "jose";
import { verificationSchema, verifyPrepared } from "./internal/verify.js";
import type { RegistryTokenClaims } from "./model.js";

export { DEFAULT_CLOCK_TOLERANCE, REGISTRY_TOKEN_ALGORITHMS } from "./internal/verify.js";

/**
 * Options of {@link verifyRegistryToken}.
 *
 * - `issuer`: the expected `iss` (the registry's `auth.token.issuer`). Required.
 * - `service`: the expected `aud` (the registry's `auth.token.service`). Required.
 * - `rootCertificates`: a PEM bundle, as the registry's `rootcertbundle`: `x5c`
 *   chains must lead to one of these certificates, and their public keys are
 *   trusted for `kid` and `jwk` references.
 * - `jwks`: a JSON Web Key Set of trusted public keys, as registry 3.x's
 *   `auth.token.jwks`; a key is found by its `kid` member, its libtrust ID or
 *   its thumbprint. At least one of `rootCertificates` and `jwks` is required.
 * - `acceptAudienceArray`: accept an `aud` array that contains `service`, as
 *   registry 3.x does. Default `false`: registry 2.8 treats an array as a
 *   malformed token, and so does this check.
 * - `clockTolerance`: leeway on `exp` and `nbf`, in seconds. Default 60, the registry's.
 * - `clock`: current time in milliseconds since the epoch. Default `Date.now`.
 * - `requiredAccess`: access the token must grant; see {@link verifyRegistryToken}.
 *   Default: none checked.
 */
export interface VerifyRegistryTokenOptions {
  readonly issuer: string;
  readonly service: string;
  readonly rootCertificates?: string;
  readonly jwks?: { readonly keys: readonly JWK[] };
  readonly acceptAudienceArray?: boolean;
  readonly clockTolerance?: number;
  readonly clock?: () => number;
  readonly requiredAccess?: readonly AccessEntry[];
}

/**
 * Verifies a registry token the way distribution's registry/auth/token does
 * (docs/spec/auth/jwt.md; protocol.md §3), for tests, diagnostics and
 * services that accept registry tokens.
 *
 * 1. The compact JWS is parsed; `alg` must be one of
 *    {@link REGISTRY_TOKEN_ALGORITHMS} (no `none`, HS*, PS*, EdDSA).
 * 2. The signing key is found in registry order: `x5c` (the leaf, whose chain
 *    must lead to a `rootCertificates` certificate, possibly through the
 *    other `x5c` certificates, every one within its validity dates), then
 *    `jwk` (a trusted key, or one whose own `x5c` chain is trusted), then
 *    `kid`, looked up by libtrust ID (registry 2.x), by RFC 7638 thumbprint
 *    and by JWKS `kid` (registry 3.x) among the `rootCertificates` keys and
 *    `jwks`: the union of both versions, so a thumbprint `kid` that passes
 *    here still fails on 2.8. No key reference: rejected.
 * 3. The signature must verify with that key (ECDSA as JOSE raw r||s).
 * 4. Claims: `iss` must equal `issuer`; `aud` must equal `service` (an array
 *    only with `acceptAudienceArray`); `exp` is required; the token is refused
 *    when now > `exp` + `clockTolerance` or now < `nbf` - `clockTolerance`;
 *    `exp`, `nbf`, `iat` must be integers. `iat` and `jti` are not checked,
 *    as in the registry.
 * 5. `requiredAccess`: each entry's actions must all be granted by the
 *    token's `access` entries of the same `type` and `name` (exact,
 *    case-sensitive; `class` is not compared; entries for one resource are
 *    merged; `*` grants every action on that resource).
 *
 * The options, including the certificate bundle, are read on every call.
 *
 * @param token The compact JWT.
 * @param options See {@link VerifyRegistryTokenOptions}.
 * @returns The token's claims.
 * @throws RegauthError `ERR_TOKEN_INVALID` (rejected promise) whose message
 *   says which check failed, never quoting the token;
 *   `ERR_CONFIG_INVALID` for bad options, naming the option.
 *
 * @example
 * const claims = await verifyRegistryToken(token, {
 *   issuer: "regauth",
 *   service: "registry.example.com",
 *   rootCertificates: readFileSync("token.crt", "utf8"),
 *   requiredAccess: [{ type: "repository", name: "team/app", actions: ["pull"] }],
 * });
 * claims.sub; // "alice"
 */
export async function verifyRegistryToken(
  token: string,
  options: VerifyRegistryTokenOptions,
): Promise<RegistryTokenClaims> {
  return verifyPrepared(token, parseOptions(verificationSchema, options));
}
