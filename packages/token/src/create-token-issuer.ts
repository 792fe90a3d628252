import { createPublicKey, KeyObject, type X509Certificate } from "node:crypto";
import {
  type AccessEntry,
  type IssuedToken,
  parseOptions,
  RegauthError,
  type TokenGrant,
  type TokenIssuer,
} from "@regauth/core";
import type { JWK } from "jose";
import { z } from "zod";
import { readPemCertificates } from "./internal/certificates.js";
import { keyAlgorithm, readPrivateKey, sameKey } from "./internal/keys.js";
import { createJwtSigner, type RegistryTokenHeader } from "./internal/sign-jwt.js";
import { createSigningQueue } from "./internal/signing-queue.js";
import { newTokenId } from "./internal/token-id.js";
import { libtrustKeyId } from "./libtrust-key-id.js";
import type { KeyIdMode, SigningAlgorithm } from "./model.js";
import { thumbprintKeyId } from "./thumbprint-key-id.js";

/** Default token lifetime, in seconds. */
export const DEFAULT_TOKEN_LIFETIME = 300;
/** Shortest token lifetime accepted, in seconds (the docker client needs `expires_in` >= 60). */
export const MIN_TOKEN_LIFETIME = 60;
/** Longest token lifetime accepted, in seconds (one day). */
export const MAX_TOKEN_LIFETIME = 86_400;

/**
 * Options of {@link createTokenIssuer}.
 *
 * - `issuer`: the `iss` claim; must equal the registry's `auth.token.issuer`. Required.
 * - `privateKey`: the signing key, as PEM (PKCS#8 `PRIVATE KEY`, SEC1 `EC
 *   PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`; not encrypted) or a node:crypto
 *   `KeyObject`. EC P-256, P-384, P-521 sign with ES256, ES384, ES512; RSA of
 *   at least 2048 bits with RS256. Required.
 * - `certificateChain`: PEM certificates, leaf first, then intermediates. The
 *   leaf must hold the public key of `privateKey`. Needed for `x5c`. Default: none.
 * - `keyId`: what the header's `kid` holds, see {@link KeyIdMode}. Default
 *   `"libtrust"` (what registry 2.x looks up).
 * - `x5c`: send `certificateChain` in the header's `x5c` (leaf first, base64
 *   DER), which registry 2.x and 3.x both verify against their
 *   `rootcertbundle`. Default `false`.
 * - `lifetime`: token lifetime in seconds, an integer from 60 to 86400. Default 300.
 * - `clock`: current time in milliseconds since the epoch. Default `Date.now`;
 *   set it in tests.
 */
export interface TokenIssuerOptions {
  readonly issuer: string;
  readonly privateKey: string | KeyObject;
  readonly certificateChain?: string;
  readonly keyId?: KeyIdMode;
  readonly x5c?: boolean;
  readonly lifetime?: number;
  readonly clock?: () => number;
}

/**
 * A {@link TokenIssuer} that signs registry tokens, with what a deployment
 * needs to configure the registry side.
 *
 * - `issue(grant)`: signs a token for the grant.
 * - `issuer`: the `iss` claim.
 * - `algorithm`: the JWS `alg`.
 * - `keyId`: the header's `kid`, `undefined` when `keyId: "none"`.
 * - `lifetime`: token lifetime in seconds.
 * - `publicKey`: the public half of the signing key.
 * - `publicJwk`: the same as a JWK with `use: "sig"`, `alg` and (when there
 *   is one) `kid`, ready for a registry 3.x `auth.token.jwks` file.
 * - `certificates`: the certificates of the `certificateChain` option, leaf
 *   first (`[]` without one), for the registry's `rootcertbundle` (see
 *   `exportRegistryTrust`).
 * - `x5c`: whether tokens carry the chain in their `x5c` header.
 */
export interface RegistryTokenIssuer extends TokenIssuer {
  issue(grant: TokenGrant): Promise<IssuedToken>;
  readonly issuer: string;
  readonly algorithm: SigningAlgorithm;
  readonly keyId: string | undefined;
  readonly lifetime: number;
  readonly publicKey: KeyObject;
  readonly publicJwk: Readonly<JWK>;
  readonly certificates: readonly X509Certificate[];
  readonly x5c: boolean;
}

const optionsSchema = z
  .strictObject({
    issuer: z.string().min(1),
    privateKey: z.custom<string | KeyObject>(
      (value) => typeof value === "string" || value instanceof KeyObject,
      "expected a PEM string or a KeyObject",
    ),
    certificateChain: z.string().optional(),
    keyId: z.enum(["libtrust", "thumbprint", "none"]).default("libtrust"),
    x5c: z.boolean().default(false),
    lifetime: z
      .number()
      .int()
      .min(MIN_TOKEN_LIFETIME)
      .max(MAX_TOKEN_LIFETIME)
      .default(DEFAULT_TOKEN_LIFETIME),
    // A function default is called by zod, so this one returns Date.now itself.
    clock: z
      .custom<() => number>((value) => typeof value === "function", "expected a function")
      .default(() => Date.now),
  })
  .transform((options, ctx) => {
    const fail = (path: string, message: string) => {
      ctx.addIssue({ code: "custom", path: [path], message });
      return z.NEVER;
    };
    const privateKey = readPrivateKey(options.privateKey);
    if (typeof privateKey === "string") return fail("privateKey", privateKey);
    const algorithm = keyAlgorithm(privateKey);
    if (!algorithm.ok) return fail("privateKey", algorithm.problem);
    const publicKey = createPublicKey(privateKey);

    let chain: X509Certificate[] = [];
    if (options.certificateChain !== undefined) {
      try {
        chain = readPemCertificates(options.certificateChain);
      } catch (error) {
        return fail("certificateChain", (error as Error).message);
      }
      const leaf = chain[0];
      if (leaf === undefined) return fail("certificateChain", "no PEM CERTIFICATE block found");
      if (!sameKey(leaf.publicKey, publicKey)) {
        return fail(
          "certificateChain",
          "the first (leaf) certificate does not hold the public key of privateKey",
        );
      }
    }
    if (options.x5c && chain.length === 0) return fail("x5c", "true needs certificateChain");
    if (options.keyId === "none" && !options.x5c) {
      return fail("keyId", '"none" needs x5c: true, else the registry cannot find the signing key');
    }
    return { ...options, privateKey, publicKey, algorithm: algorithm.algorithm, chain };
  });

function keyIdFor(mode: KeyIdMode, publicKey: KeyObject): string | undefined {
  if (mode === "libtrust") return libtrustKeyId(publicKey);
  if (mode === "thumbprint") return thumbprintKeyId(publicKey);
  return undefined;
}

/** Copies one access entry with exactly the claim's members, `class` only when set. */
function accessClaim(entry: AccessEntry): AccessEntry {
  const actions = [...entry.actions];
  return entry.class === undefined
    ? { type: entry.type, name: entry.name, actions }
    : { type: entry.type, class: entry.class, name: entry.name, actions };
}

function checkGrant(grant: TokenGrant): void {
  const problem =
    typeof grant?.subject !== "string"
      ? "grant.subject: expected a string"
      : typeof grant.audience !== "string" || grant.audience === ""
        ? "grant.audience: expected a non-empty string"
        : !Array.isArray(grant.access)
          ? "grant.access: expected an array"
          : undefined;
  if (problem !== undefined) throw new RegauthError("ERR_INTERNAL", problem);
}

/**
 * Creates the signer of registry tokens: the JWTs of distribution's token
 * auth (docs/spec/auth/jwt.md and token.md) exactly as registry 2.8 and 3.x
 * accept them (protocol.md §3).
 *
 * Header `{typ: "JWT", alg, kid?, x5c?}`. Payload: `iss` (the `issuer`
 * option), `sub` (the account, `""` when anonymous), `aud` (the service, a
 * string, never an array), `exp`, `nbf`, `iat` (integer seconds; `nbf` =
 * `iat`, `exp` = `iat` + `lifetime`), `jti` (128 random bits, base64url) and
 * `access: [{type, class?, name, actions}]` (`class` only when set). The
 * result's `expiresIn` is `lifetime` and `issuedAt` the `iat` as a Date.
 *
 * Options are checked once, here; `issue` only signs.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` naming the option for bad
 *   options: `privateKey` (unreadable, public, encrypted, Ed25519, RSA under
 *   2048 bits, other curves; the key is never quoted), `certificateChain`
 *   (unreadable, or its leaf holds another key), `x5c` without a chain,
 *   `keyId: "none"` without `x5c`, `lifetime` out of 60..86400.
 *   `issue` throws `ERR_INTERNAL` for a malformed grant.
 *
 * @example
 * const issuer = createTokenIssuer({
 *   issuer: "regauth",                       // the registry's auth.token.issuer
 *   privateKey: readFileSync("token.key", "utf8"),
 * });
 * const { token, expiresIn, issuedAt } = await issuer.issue({
 *   subject: "alice",
 *   audience: "registry.example.com",        // the registry's auth.token.service
 *   access: [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
 * });
 */
export function createTokenIssuer(options: TokenIssuerOptions): RegistryTokenIssuer {
  const config = parseOptions(optionsSchema, options);
  const { privateKey, publicKey, algorithm, lifetime, clock } = config;
  const keyId = keyIdFor(config.keyId, publicKey);
  const header: RegistryTokenHeader = {
    typ: "JWT",
    alg: algorithm,
    ...(keyId === undefined ? {} : { kid: keyId }),
    ...(config.x5c ? { x5c: config.chain.map((cert) => cert.raw.toString("base64")) } : {}),
  };
  const sign = createSigningQueue(createJwtSigner(header, privateKey));
  const publicJwk: JWK = Object.freeze({
    ...(publicKey.export({ format: "jwk" }) as JWK),
    use: "sig",
    alg: algorithm,
    ...(keyId === undefined ? {} : { kid: keyId }),
  });

  async function issue(grant: TokenGrant): Promise<IssuedToken> {
    checkGrant(grant);
    const now = clock();
    if (!Number.isFinite(now)) {
      throw new RegauthError("ERR_INTERNAL", "clock: returned a value that is not a finite number");
    }
    const iat = Math.floor(now / 1000);
    const payload = {
      iss: config.issuer,
      sub: grant.subject,
      aud: grant.audience,
      exp: iat + lifetime,
      nbf: iat,
      iat,
      jti: newTokenId(),
      access: grant.access.map(accessClaim),
    };
    const token = await sign(payload);
    return { token, expiresIn: lifetime, issuedAt: new Date(iat * 1000) };
  }

  return Object.freeze({
    issue,
    issuer: config.issuer,
    algorithm,
    keyId,
    lifetime,
    publicKey,
    publicJwk,
    certificates: Object.freeze([...config.chain]),
    x5c: config.x5c,
  });
}
