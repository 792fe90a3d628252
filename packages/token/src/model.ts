import type { AccessEntry } from "@regauth/core";

/**
 * The JWS algorithms registry 2.8 and 3.x verify (distribution
 * docs/spec/auth/jwt.md; protocol.md §3): ECDSA with P-256, P-384, P-521 and
 * RSASSA-PKCS1-v1_5 with SHA-256, SHA-384, SHA-512. EdDSA, PS* and HS* are
 * rejected by registry 2.8 and therefore by this package.
 */
export type SigningAlgorithm = "ES256" | "ES384" | "ES512" | "RS256" | "RS384" | "RS512";

/**
 * How the header of an issued token names its signing key:
 *
 * - `"libtrust"`: `kid` is the libtrust key ID (see `libtrustKeyId`), what
 *   registry 2.x looks up among the public keys of its `rootcertbundle`.
 *   Registry 3.x no longer derives libtrust IDs; it finds such a `kid` only in
 *   its `auth.token.jwks` file (the issuer's `publicJwk` carries it) or when
 *   `x5c` is also sent.
 * - `"thumbprint"`: `kid` is the RFC 7638 JWK thumbprint (see
 *   `thumbprintKeyId`), what registry 3.1+ derives for its `rootcertbundle`
 *   keys (3.0.0 computed it wrongly). Registry 2.x rejects it unless `x5c` is
 *   also sent.
 * - `"none"`: no `kid`; the header must carry `x5c` instead (2.x and 3.x).
 */
export type KeyIdMode = "libtrust" | "thumbprint" | "none";

/**
 * The claims of a verified registry token (distribution docs/spec/auth/jwt.md).
 *
 * - `iss`: the issuer.
 * - `sub`: the account, `""` when anonymous or absent.
 * - `aud`: the audience (the registry's `service`) as the token carried it:
 *   a string, or an array when `acceptAudienceArray` allowed one.
 * - `exp`: expiry, in seconds since the epoch.
 * - `nbf`, `iat`: not-before and issued-at, in seconds since the epoch, when present.
 * - `jti`: the token ID, when present.
 * - `access`: the granted resources and actions, `[]` when absent.
 */
export interface RegistryTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string | readonly string[];
  readonly exp: number;
  readonly nbf?: number;
  readonly iat?: number;
  readonly jti?: string;
  readonly access: readonly AccessEntry[];
}
