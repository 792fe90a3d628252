import { execFileSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A key pair with its PKCS#8 PEM. */
export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly pem: string;
}

export function ecKey(namedCurve: "P-256" | "P-384" | "P-521" = "P-256"): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
  return {
    privateKey,
    publicKey,
    pem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
  };
}

export function rsaKey(modulusLength = 2048): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength });
  return {
    privateKey,
    publicKey,
    pem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
  };
}

const CA_EXTENSIONS = [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
  "subjectKeyIdentifier=hash",
  "authorityKeyIdentifier=keyid",
].join("\n");
const LEAF_EXTENSIONS = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "subjectKeyIdentifier=hash",
  "authorityKeyIdentifier=keyid",
].join("\n");

/**
 * Makes certificates with the openssl command line in a temporary directory.
 * Call {@link Pki.close} when done.
 */
export class Pki {
  private readonly dir = mkdtempSync(join(tmpdir(), "regauth-token-pki-"));
  private serial = 1;
  private files = 0;

  openssl(...args: string[]): string {
    return execFileSync("openssl", args, { cwd: this.dir, encoding: "utf8", stdio: "pipe" });
  }

  write(text: string): string {
    const name = `f${this.files++}`;
    writeFileSync(join(this.dir, name), text, { mode: 0o600 });
    return name;
  }

  read(name: string): string {
    return readFileSync(join(this.dir, name), "utf8");
  }

  /** A self-signed certificate (a CA unless `ca` is false). */
  selfSigned(key: TestKey, subject: string, options: { days?: number; ca?: boolean } = {}): string {
    const out = `c${this.files++}.pem`;
    const extensions = options.ca === false ? LEAF_EXTENSIONS : CA_EXTENSIONS;
    const ext = this.write(
      `[req]\ndistinguished_name=dn\nx509_extensions=ext\n[dn]\n[ext]\n${extensions.replace("authorityKeyIdentifier=keyid", "authorityKeyIdentifier=keyid:always")}\n`,
    );
    this.openssl(
      "req",
      "-x509",
      "-new",
      "-config",
      ext,
      "-key",
      this.write(key.pem),
      "-subj",
      `/CN=${subject}`,
      "-days",
      String(options.days ?? 30),
      "-out",
      out,
    );
    return this.read(out);
  }

  /** A certificate for `key`, signed by `issuerKey` holding `issuerCert`. */
  issue(
    key: TestKey,
    subject: string,
    issuerCert: string,
    issuerKey: TestKey,
    options: { days?: number; ca?: boolean } = {},
  ): string {
    const csr = `r${this.files++}.csr`;
    const out = `c${this.files++}.pem`;
    const keyFile = this.write(key.pem);
    this.openssl("req", "-new", "-key", keyFile, "-subj", `/CN=${subject}`, "-out", csr);
    this.openssl(
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      this.write(issuerCert),
      "-CAkey",
      this.write(issuerKey.pem),
      "-set_serial",
      String(++this.serial),
      "-days",
      String(options.days ?? 30),
      "-extfile",
      this.write(options.ca ? CA_EXTENSIONS : LEAF_EXTENSIONS),
      "-out",
      out,
    );
    return this.read(out);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
