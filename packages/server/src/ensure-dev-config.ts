// @peculiar/x509 resolves its services through tsyringe, which needs this polyfill loaded first.
import "reflect-metadata";
import { KeyObject, randomBytes, webcrypto } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import * as x509 from "@peculiar/x509";
import { hashPassword } from "@regauth/authn";
import { parse, stringify } from "yaml";

/**
 * Options of {@link ensureDevConfig}; every one has a development default.
 *
 * - `stateDir`: where the key, certificate, passwords and config live.
 *   Default `.state/regauth-dev` under the working directory.
 * - `addr`: `server.addr`. Default `127.0.0.1:5001`.
 * - `service`: the registry's `auth.token.service`. Default `regauth-dev-registry`.
 * - `issuer`: the registry's `auth.token.issuer`. Default `regauth-dev`.
 * - `x5c`: put the certificate in the tokens' `x5c` header. Default `false`.
 */
export interface DevConfigOptions {
  readonly stateDir?: string;
  readonly addr?: string;
  readonly service?: string;
  readonly issuer?: string;
  readonly x5c?: boolean;
}

/**
 * The development default, as files.
 *
 * - `stateDir`: absolute.
 * - `configPath`: the docker_auth-style config (`regauth.yml`) to serve.
 * - `certificatePath`: the signing certificate, the registry's `rootcertbundle`.
 * - `credentials`: account to password (`admin`, `reader`); development only.
 * - `service`, `issuer`: as configured.
 * - `created`: true when this call made a new key or new passwords.
 */
export interface DevConfig {
  readonly stateDir: string;
  readonly configPath: string;
  readonly certificatePath: string;
  readonly credentials: Readonly<Record<string, string>>;
  readonly service: string;
  readonly issuer: string;
  readonly created: boolean;
}

const KEY_FILE = "signing-key.pem";
const CERT_FILE = "signing-cert.pem";
const CONFIG_FILE = "regauth.yml";
const CREDENTIALS_FILE = "dev-credentials.yaml";

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function writePrivate(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

/** An EC P-256 key and a self-signed certificate for it, valid for one year. */
async function makeKeyAndCertificate(): Promise<{ keyPem: string; certPem: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8)
      .toString("hex")
      .replace(/^[89a-f]/, "1"),
    name: "CN=regauth development token signer",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 24 * 3600_000),
    signingAlgorithm: algorithm,
    keys: keys as unknown as Parameters<
      typeof x509.X509CertificateGenerator.createSelfSigned
    >[0]["keys"],
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
        true,
      ),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey)
    .export({ type: "pkcs8", format: "pem" })
    .toString();
  return { keyPem, certPem: certificate.toString("pem") };
}

const newPassword = () => randomBytes(18).toString("base64url");

/**
 * Makes (or reuses) the development default in `stateDir`: an EC P-256
 * signing key with a self-signed certificate, random passwords for `admin`
 * (push, pull, delete, catalog) and `reader` (pull only), anonymous refused,
 * and `regauth.yml`, a docker_auth-style config serving them on `addr`.
 * The key and passwords are kept across runs; `regauth.yml` is written anew
 * each time from the options. For trying regauth on one machine only.
 *
 * @param options See {@link DevConfigOptions}.
 * @returns Where everything is, and the passwords.
 *
 * @example
 * const dev = await ensureDevConfig({ stateDir: ".state/dev" });
 * const server = await startServer({ configPath: dev.configPath });
 */
export async function ensureDevConfig(options: DevConfigOptions = {}): Promise<DevConfig> {
  const stateDir = resolve(options.stateDir ?? ".state/regauth-dev");
  const service = options.service ?? "regauth-dev-registry";
  const issuer = options.issuer ?? "regauth-dev";
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const keyPath = join(stateDir, KEY_FILE);
  const certificatePath = join(stateDir, CERT_FILE);
  const configPath = join(stateDir, CONFIG_FILE);
  const credentialsPath = join(stateDir, CREDENTIALS_FILE);
  let created = false;

  const key = await readIfExists(keyPath);
  const certificate = await readIfExists(certificatePath);
  if (key === undefined || certificate === undefined) {
    const made = await makeKeyAndCertificate();
    await writePrivate(keyPath, made.keyPem);
    await writeFile(certificatePath, made.certPem);
    created = true;
  }

  let credentialsText = await readIfExists(credentialsPath);
  if (credentialsText === undefined) {
    credentialsText = stringify({ admin: newPassword(), reader: newPassword() });
    await writePrivate(credentialsPath, credentialsText);
    created = true;
  }
  const credentials = parse(credentialsText) as Record<string, string>;
  const config = {
    server: { addr: options.addr ?? "127.0.0.1:5001" },
    token: {
      issuer,
      expiration: 300,
      certificate: CERT_FILE,
      key: KEY_FILE,
      services: [service],
      x5c: options.x5c ?? false,
    },
    users: {
      admin: { password: await hashPassword(credentials.admin ?? newPassword()) },
      reader: { password: await hashPassword(credentials.reader ?? newPassword()) },
    },
    acl: [
      {
        match: { account: "admin" },
        actions: ["*"],
        comment: "admin may push, pull and delete everywhere, and list the catalog",
      },
      {
        match: { account: "reader", type: "repository" },
        actions: ["pull"],
        comment: "reader may pull every repository",
      },
    ],
  };
  await writePrivate(
    configPath,
    `# regauth development default, docker_auth style. \`regauth serve\` (no CONFIG) writes
# it anew on every start; while it runs, edits here are reloaded. Copy it to keep them.
# Anonymous requests are refused: there is no "" user.
${stringify(config)}`,
  );
  return { stateDir, configPath, certificatePath, credentials, service, issuer, created };
}
