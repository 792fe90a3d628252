import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runChecked } from "./exec.js";
import { peerPath } from "./peers.js";

/** An EC P-256 signing key and its self-signed certificate, as files and as PEM text. */
export interface SigningMaterial {
  /** PKCS#8 private key file (`-----BEGIN PRIVATE KEY-----`). */
  readonly keyPath: string;
  /** Self-signed X.509 certificate file: the registry's `rootcertbundle`. */
  readonly certificatePath: string;
  readonly privateKeyPem: string;
  readonly certificatePem: string;
}

/**
 * Makes an EC P-256 key (PKCS#8 PEM, unencrypted) and a self-signed certificate
 * for it (`CN=<commonName>`, valid 30 days) in `dir` with `openssl`, the way
 * docs/test-peers.md verified the registry accepts.
 *
 * @throws Error when openssl fails, with its standard error.
 */
export async function createSigningMaterial(
  dir: string,
  commonName = "regauth e2e token signer",
): Promise<SigningMaterial> {
  const openssl = peerPath("openssl");
  const sec1Path = join(dir, "ec-sec1.pem");
  const keyPath = join(dir, "key.pem");
  const certificatePath = join(dir, "cert.pem");
  await runChecked(openssl, [
    "ecparam",
    "-name",
    "prime256v1",
    "-genkey",
    "-noout",
    "-out",
    sec1Path,
  ]);
  await runChecked(openssl, ["pkcs8", "-topk8", "-nocrypt", "-in", sec1Path, "-out", keyPath]);
  await runChecked(openssl, [
    "req",
    "-new",
    "-x509",
    "-key",
    keyPath,
    "-subj",
    `/CN=${commonName}`,
    "-days",
    "30",
    "-out",
    certificatePath,
  ]);
  return {
    keyPath,
    certificatePath,
    privateKeyPem: await readFile(keyPath, "utf8"),
    certificatePem: await readFile(certificatePath, "utf8"),
  };
}
