import type { X509Certificate } from "node:crypto";
import { parseOptions, RegauthError } from "@regauth/core";
import type { JWK } from "jose";
import { z } from "zod";
import type { RegistryTokenIssuer } from "./create-token-issuer.js";
import { readPemCertificates } from "./internal/certificates.js";
import { thumbprintKeyId } from "./thumbprint-key-id.js";

/**
 * What a registry needs to trust tokens, as file contents.
 *
 * - `rootCertBundle`: PEM certificates for `auth.token.rootcertbundle`
 *   (registry 2.8 requires it; 3.x takes it or `jwks` or both), or
 *   `undefined` when no issuer has a certificate.
 * - `jwks`: a JSON Web Key Set for registry 3.x's `auth.token.jwks`: one
 *   public key per issuer, with `use`, `alg` and `kid` (the `kid` the tokens
 *   carry, or the key's RFC 7638 thumbprint for an issuer that sends none).
 */
export interface RegistryTrust {
  readonly rootCertBundle: string | undefined;
  readonly jwks: { readonly keys: readonly JWK[] };
}

/**
 * Options of {@link exportRegistryTrust}.
 *
 * - `extraRootCertificates`: PEM certificates appended to the bundle, for
 *   instance the root CA of an `x5c` chain whose root the issuer does not
 *   hold. Default none.
 */
export interface ExportRegistryTrustOptions {
  readonly extraRootCertificates?: string;
}

const optionsSchema = z.strictObject({ extraRootCertificates: z.string().optional() });

function isIssuer(value: unknown): value is RegistryTokenIssuer {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as RegistryTokenIssuer).issue === "function" &&
    Array.isArray((value as RegistryTokenIssuer).certificates) &&
    typeof (value as RegistryTokenIssuer).publicJwk === "object"
  );
}

function pem(certificate: X509Certificate): string {
  return certificate.toString().trim();
}

/**
 * Writes, from the signing keys, what the registry needs to trust them
 * (distribution registry/auth/token; protocol.md §3):
 *
 * - The `rootcertbundle` PEM: for each issuer, the first certificate of its
 *   chain (the signing key's own, which registry 2.8 looks a libtrust `kid`
 *   up in and registry 3.1+ a thumbprint `kid`), and the last one when the
 *   chain is longer (the anchor its `x5c` chains are checked against), then
 *   `extraRootCertificates`; each certificate once.
 * - The JWKS: each issuer's `publicJwk`, for registry 3.x's `auth.token.jwks`,
 *   where a libtrust `kid` is found by its `kid` member.
 *
 * Pass several issuers while rotating keys: the registry then trusts the old
 * and the new key. Check the result with `checkRegistryTrust` at startup.
 *
 * @param issuers One issuer (`createTokenIssuer`) or several.
 * @param options See {@link ExportRegistryTrustOptions}.
 * @returns The file contents; see {@link RegistryTrust}. Write them with `writeRegistryTrust`.
 * @throws RegauthError `ERR_CONFIG_INVALID` when `issuers` holds something
 *   that is no issuer from `createTokenIssuer` (`issuers[1]: ...`), or
 *   `extraRootCertificates` does not parse.
 *
 * @example
 * const issuer = createTokenIssuer({ issuer: "regauth", privateKey, certificateChain });
 * const trust = exportRegistryTrust(issuer);
 * await writeRegistryTrust(trust, {
 *   rootCertBundlePath: "/etc/registry/token-bundle.pem", // auth.token.rootcertbundle
 *   jwksPath: "/etc/registry/token-jwks.json", // auth.token.jwks (3.x)
 * });
 */
export function exportRegistryTrust(
  issuers: RegistryTokenIssuer | readonly RegistryTokenIssuer[],
  options: ExportRegistryTrustOptions = {},
): RegistryTrust {
  const config = parseOptions(optionsSchema, options);
  const list: readonly unknown[] = Array.isArray(issuers) ? issuers : [issuers];
  if (list.length === 0) {
    throw new RegauthError("ERR_CONFIG_INVALID", "issuers: at least one issuer is needed");
  }
  const certificates: X509Certificate[] = [];
  const add = (certificate: X509Certificate | undefined) => {
    if (certificate !== undefined && !certificates.some((c) => c.raw.equals(certificate.raw))) {
      certificates.push(certificate);
    }
  };
  const keys: JWK[] = [];
  for (const [index, issuer] of list.entries()) {
    if (!isIssuer(issuer)) {
      throw new RegauthError(
        "ERR_CONFIG_INVALID",
        `issuers[${index}]: expected an issuer from createTokenIssuer`,
      );
    }
    add(issuer.certificates[0]);
    add(issuer.certificates.at(-1));
    const jwk: JWK = { ...issuer.publicJwk };
    jwk.kid ??= thumbprintKeyId(issuer.publicKey);
    if (!keys.some((known) => known.kid === jwk.kid)) keys.push(jwk);
  }
  if (config.extraRootCertificates !== undefined) {
    let extra: X509Certificate[];
    try {
      extra = readPemCertificates(config.extraRootCertificates);
    } catch (error) {
      throw new RegauthError(
        "ERR_CONFIG_INVALID",
        `extraRootCertificates: ${(error as Error).message}`,
        { cause: error },
      );
    }
    for (const certificate of extra) add(certificate);
  }
  return {
    rootCertBundle: certificates.length === 0 ? undefined : `${certificates.map(pem).join("\n")}\n`,
    jwks: { keys },
  };
}
