import { randomBytes } from "node:crypto";
import { chmod, rename, rm, writeFile } from "node:fs/promises";
import { parseOptions, RegauthError } from "@regauth/core";
import { z } from "zod";
import type { RegistryTrust } from "./export-registry-trust.js";

/**
 * Options of {@link writeRegistryTrust}: where each file goes. Give one or both.
 *
 * - `rootCertBundlePath`: the file for `auth.token.rootcertbundle`.
 * - `jwksPath`: the file for `auth.token.jwks` (registry 3.x).
 */
export interface WriteRegistryTrustOptions {
  readonly rootCertBundlePath?: string;
  readonly jwksPath?: string;
}

const optionsSchema = z
  .strictObject({
    rootCertBundlePath: z.string().min(1).optional(),
    jwksPath: z.string().min(1).optional(),
  })
  .refine(
    (options) => options.rootCertBundlePath !== undefined || options.jwksPath !== undefined,
    "expected rootCertBundlePath, jwksPath or both",
  );

/** Writes a file whole or not at all: a temporary file beside it, then a rename. */
async function writeAtomically(path: string, text: string, option: string): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, text, { mode: 0o644 });
    await chmod(temporary, 0o644); // whatever the umask
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new RegauthError("ERR_CONFIG_INVALID", `${option}: ${path} cannot be written`, {
      cause: error,
    });
  }
}

/**
 * Writes the files of a {@link RegistryTrust} for the registry: the
 * `rootcertbundle` PEM and the JWKS JSON. Each file is replaced whole (written
 * beside, then renamed), readable by all (mode 0644: it holds public keys
 * only), so a registry starting meanwhile never reads half a file.
 *
 * @param trust What `exportRegistryTrust` returned.
 * @param options See {@link WriteRegistryTrustOptions}.
 * @throws RegauthError `ERR_CONFIG_INVALID` (rejected promise) when neither
 *   path is given, when `rootCertBundlePath` is given but no issuer had a
 *   certificate, or when a file cannot be written (naming the option and path).
 *
 * @example
 * await writeRegistryTrust(exportRegistryTrust(issuer), {
 *   rootCertBundlePath: "/etc/registry/token-bundle.pem",
 *   jwksPath: "/etc/registry/token-jwks.json",
 * });
 */
export async function writeRegistryTrust(
  trust: RegistryTrust,
  options: WriteRegistryTrustOptions,
): Promise<void> {
  const config = parseOptions(optionsSchema, options);
  if (config.rootCertBundlePath !== undefined) {
    if (trust.rootCertBundle === undefined) {
      throw new RegauthError(
        "ERR_CONFIG_INVALID",
        "rootCertBundlePath: no certificate to write, give createTokenIssuer a certificateChain",
      );
    }
    await writeAtomically(config.rootCertBundlePath, trust.rootCertBundle, "rootCertBundlePath");
  }
  if (config.jwksPath !== undefined) {
    await writeAtomically(config.jwksPath, `${JSON.stringify(trust.jwks, null, 2)}\n`, "jwksPath");
  }
}
