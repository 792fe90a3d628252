// @peculiar/x509 resolves its services through tsyringe, which needs this polyfill loaded first.
import "reflect-metadata";
import { KeyObject, randomBytes, webcrypto } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { hashPassword } from "@regauth/authn";
import { parse, stringify } from "yaml";

/** What the development default keeps in its state directory. */
export interface DevState {
  /** PKCS#8 PEM of the EC P-256 signing key. */
  readonly privateKeyPem: string;
  /** PEM of the self-signed certificate of that key: the registry's `rootcertbundle`. */
  readonly certificatePem: string;
  readonly certificatePath: string;
  /** The users + ACL file (docker_auth style, `users:` and `acl:`). */
  readonly configPath: string;
  /** account -> password, as made on first run (development only). */
  readonly credentials: Readonly<Record<string, string>>;
  /** True when this run made the state. */
  readonly created: boolean;
}

const KEY_FILE = "signing-key.pem";
const CERT_FILE = "signing-cert.pem";
const CONFIG_FILE = "users-acl.yaml";
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

function newPassword(): string {
  return randomBytes(18).toString("base64url");
}

/**
 * Loads the development state from `dir`, making what is missing: a signing
 * key and certificate, random passwords for `admin` and `reader`, and a users +
 * ACL file in which admin may do everything (push, pull, delete, catalog),
 * reader may only pull, and anonymous requests are refused.
 */
export async function ensureDevState(dir: string): Promise<DevState> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, KEY_FILE);
  const certificatePath = join(dir, CERT_FILE);
  const configPath = join(dir, CONFIG_FILE);
  const credentialsPath = join(dir, CREDENTIALS_FILE);
  let created = false;

  let privateKeyPem = await readIfExists(keyPath);
  let certificatePem = await readIfExists(certificatePath);
  if (privateKeyPem === undefined || certificatePem === undefined) {
    const made = await makeKeyAndCertificate();
    privateKeyPem = made.keyPem;
    certificatePem = made.certPem;
    await writePrivate(keyPath, privateKeyPem);
    await writeFile(certificatePath, certificatePem);
    created = true;
  }

  let credentialsText = await readIfExists(credentialsPath);
  if (credentialsText === undefined || (await readIfExists(configPath)) === undefined) {
    const credentials = { admin: newPassword(), reader: newPassword() };
    const config = {
      users: {
        admin: { password: await hashPassword(credentials.admin) },
        reader: { password: await hashPassword(credentials.reader) },
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
      `# regauth development default: users (bcrypt) and ACL, docker_auth style.\n# Anonymous requests are refused: there is no "" user.\n${stringify(config)}`,
    );
    credentialsText = stringify(credentials);
    await writePrivate(credentialsPath, credentialsText);
    created = true;
  }
  const credentials = parse(credentialsText) as Record<string, string>;
  return { privateKeyPem, certificatePem, certificatePath, configPath, credentials, created };
}
