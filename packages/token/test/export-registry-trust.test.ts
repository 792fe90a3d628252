import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRegauthError } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTokenIssuer,
  exportRegistryTrust,
  libtrustKeyId,
  thumbprintKeyId,
  verifyRegistryToken,
  writeRegistryTrust,
} from "../src/index.js";
import { ecKey, Pki, rsaKey, type TestKey } from "./support/pki.js";

let pki: Pki;
let dir: string;
let signer: TestKey;
let signerCert: string;
let rotated: TestKey;
let rotatedCert: string;
let rootKey: TestKey;
let root: string;
let interKey: TestKey;
let intermediate: string;
let leafKey: TestKey;
let leaf: string;

const certificatesOf = (pem: string | undefined) =>
  (pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
const same = (pem: string) => (cert: X509Certificate) =>
  cert.raw.equals(new X509Certificate(pem).raw);

beforeAll(async () => {
  pki = new Pki();
  dir = await mkdtemp(join(tmpdir(), "regauth-trust-"));
  signer = ecKey();
  signerCert = pki.selfSigned(signer, "signer");
  rotated = rsaKey();
  rotatedCert = pki.selfSigned(rotated, "next signer");
  rootKey = ecKey("P-384");
  root = pki.selfSigned(rootKey, "root");
  interKey = ecKey();
  intermediate = pki.issue(interKey, "intermediate", root, rootKey, { ca: true });
  leafKey = ecKey();
  leaf = pki.issue(leafKey, "leaf", intermediate, interKey);
});
afterAll(async () => {
  pki.close();
  await rm(dir, { recursive: true, force: true });
});

describe("exportRegistryTrust", () => {
  it("bundles the issuer's certificate and lists its public key with its kid", () => {
    const issuer = createTokenIssuer({
      issuer: "i",
      privateKey: signer.pem,
      certificateChain: signerCert,
    });
    const trust = exportRegistryTrust(issuer);
    const bundle = certificatesOf(trust.rootCertBundle);
    expect(bundle).toHaveLength(1);
    expect(bundle.every(same(signerCert))).toBe(true);
    expect(trust.rootCertBundle).toMatch(
      /^-----BEGIN CERTIFICATE-----\n[\s\S]*-----END CERTIFICATE-----\n$/,
    );
    expect(trust.jwks.keys).toEqual([issuer.publicJwk]);
    expect(trust.jwks.keys[0]).toMatchObject({
      kty: "EC",
      crv: "P-256",
      use: "sig",
      alg: "ES256",
      kid: libtrustKeyId(signer.publicKey),
    });
    expect(trust.jwks.keys[0]).not.toHaveProperty("d");
  });

  it("bundles a chain's leaf and last certificate, and extra roots, each once", () => {
    const issuer = createTokenIssuer({
      issuer: "i",
      privateKey: leafKey.pem,
      certificateChain: `${leaf}${intermediate}`,
      x5c: true,
      keyId: "none",
    });
    const trust = exportRegistryTrust(issuer, { extraRootCertificates: `${root}${intermediate}` });
    const bundle = certificatesOf(trust.rootCertBundle);
    expect(bundle).toHaveLength(3);
    expect(same(leaf)(bundle[0] as X509Certificate)).toBe(true);
    expect(same(intermediate)(bundle[1] as X509Certificate)).toBe(true);
    expect(same(root)(bundle[2] as X509Certificate)).toBe(true);
    // no kid in the tokens: the JWKS entry is named by its thumbprint
    expect(trust.jwks.keys[0]?.kid).toBe(thumbprintKeyId(leafKey.publicKey));
  });

  it("trusts every key while rotating: several issuers, duplicates dropped", () => {
    const current = createTokenIssuer({
      issuer: "i",
      privateKey: signer.pem,
      certificateChain: signerCert,
    });
    const next = createTokenIssuer({
      issuer: "i",
      privateKey: rotated.pem,
      certificateChain: rotatedCert,
      keyId: "thumbprint",
    });
    const trust = exportRegistryTrust([current, next, current]);
    expect(certificatesOf(trust.rootCertBundle)).toHaveLength(2);
    expect(trust.jwks.keys.map((key) => key.kid)).toEqual([
      libtrustKeyId(signer.publicKey),
      thumbprintKeyId(rotated.publicKey),
    ]);
  });

  it("has no bundle when no issuer has a certificate", () => {
    const trust = exportRegistryTrust(createTokenIssuer({ issuer: "i", privateKey: signer.pem }));
    expect(trust.rootCertBundle).toBeUndefined();
    expect(trust.jwks.keys).toHaveLength(1);
  });

  it("gives what verifyRegistryToken (the registry's checks) trusts", async () => {
    const issuer = createTokenIssuer({
      issuer: "i",
      privateKey: signer.pem,
      certificateChain: signerCert,
    });
    const trust = exportRegistryTrust(issuer);
    const { token } = await issuer.issue({ subject: "a", audience: "s", access: [] });
    await expect(
      verifyRegistryToken(token, {
        issuer: "i",
        service: "s",
        rootCertificates: trust.rootCertBundle as string,
      }),
    ).resolves.toMatchObject({ sub: "a" });
    await expect(
      verifyRegistryToken(token, { issuer: "i", service: "s", jwks: trust.jwks }),
    ).resolves.toMatchObject({ sub: "a" });
  });

  it.each([
    [[], "issuers: at least one issuer is needed"],
    [[{}], "issuers[0]: expected an issuer from createTokenIssuer"],
  ])("refuses %j", (issuers, message) => {
    expect(() => exportRegistryTrust(issuers as never)).toThrow(
      expect.objectContaining({ code: "ERR_CONFIG_INVALID", message }),
    );
  });

  it("refuses extra roots that do not parse, naming the option", () => {
    const issuer = createTokenIssuer({ issuer: "i", privateKey: signer.pem });
    const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    expect(() => exportRegistryTrust(issuer, { extraRootCertificates: broken })).toThrow(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message: "extraRootCertificates: certificate 0 does not parse",
      }),
    );
  });
});

describe("writeRegistryTrust", () => {
  it("writes the bundle and the JWKS, readable by the registry, leaving no temporary file", async () => {
    const issuer = createTokenIssuer({
      issuer: "i",
      privateKey: signer.pem,
      certificateChain: signerCert,
    });
    const trust = exportRegistryTrust(issuer);
    const rootCertBundlePath = join(dir, "bundle.pem");
    const jwksPath = join(dir, "jwks.json");
    await writeRegistryTrust(trust, { rootCertBundlePath, jwksPath });
    expect(await readFile(rootCertBundlePath, "utf8")).toBe(trust.rootCertBundle);
    expect(JSON.parse(await readFile(jwksPath, "utf8"))).toEqual(trust.jwks);
    expect((await stat(rootCertBundlePath)).mode & 0o777).toBe(0o644);
    expect((await readdir(dir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    // replaced whole on the next write
    const next = exportRegistryTrust(
      createTokenIssuer({ issuer: "i", privateKey: rotated.pem, certificateChain: rotatedCert }),
    );
    await writeRegistryTrust(next, { rootCertBundlePath });
    expect(await readFile(rootCertBundlePath, "utf8")).toBe(next.rootCertBundle);
  });

  it("refuses a bundle path when there is no certificate, and no path at all", async () => {
    const trust = exportRegistryTrust(createTokenIssuer({ issuer: "i", privateKey: signer.pem }));
    await expect(
      writeRegistryTrust(trust, { rootCertBundlePath: join(dir, "x.pem") }),
    ).rejects.toMatchObject({
      code: "ERR_CONFIG_INVALID",
      message:
        "rootCertBundlePath: no certificate to write, give createTokenIssuer a certificateChain",
    });
    await expect(writeRegistryTrust(trust, {})).rejects.toMatchObject({
      code: "ERR_CONFIG_INVALID",
      message: "(options): expected rootCertBundlePath, jwksPath or both",
    });
  });

  it("names the option and path when a file cannot be written", async () => {
    const trust = exportRegistryTrust(createTokenIssuer({ issuer: "i", privateKey: signer.pem }));
    const jwksPath = join(dir, "missing-dir", "jwks.json");
    let thrown: unknown;
    try {
      await writeRegistryTrust(trust, { jwksPath });
    } catch (error) {
      thrown = error;
    }
    expect(isRegauthError(thrown, "ERR_CONFIG_INVALID")).toBe(true);
    expect((thrown as Error).message).toBe(`jwksPath: ${jwksPath} cannot be written`);
  });
});
