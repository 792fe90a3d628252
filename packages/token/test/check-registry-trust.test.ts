import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assertRegistryTrust,
  checkRegistryTrust,
  createTokenIssuer,
  exportRegistryTrust,
  type TokenIssuerOptions,
} from "../src/index.js";
import { ecKey, Pki, type TestKey } from "./support/pki.js";

const SERVICE = "registry.example.com";
const DAY = 86_400_000;

let pki: Pki;
let signer: TestKey;
let signerCert: string;
let other: TestKey;
let otherCert: string;
let rootKey: TestKey;
let root: string;
let interKey: TestKey;
let intermediate: string;
let leafKey: TestKey;
let leaf: string;
let ed25519Cert: string;

beforeAll(() => {
  pki = new Pki();
  signer = ecKey();
  signerCert = pki.selfSigned(signer, "signer");
  other = ecKey();
  otherCert = pki.selfSigned(other, "other");
  rootKey = ecKey("P-384");
  root = pki.selfSigned(rootKey, "root");
  interKey = ecKey();
  intermediate = pki.issue(interKey, "intermediate", root, rootKey, { ca: true });
  leafKey = ecKey();
  leaf = pki.issue(leafKey, "leaf", intermediate, interKey, { days: 2 });
  const ed = generateKeyPairSync("ed25519");
  ed25519Cert = pki.selfSigned(
    { ...ed, pem: ed.privateKey.export({ type: "pkcs8", format: "pem" }) as string },
    "ed25519",
  );
});
afterAll(() => pki.close());

function issuerWith(options: Partial<TokenIssuerOptions>) {
  return createTokenIssuer({
    issuer: "regauth",
    privateKey: signer.pem,
    certificateChain: signerCert,
    ...options,
  });
}

/** Checks an issuer against what exportRegistryTrust makes of it, optionally altered. */
async function check(
  options: Partial<TokenIssuerOptions>,
  trust: { rootCertBundle?: string | undefined; jwks?: unknown } = {},
) {
  const issuer = issuerWith(options);
  const exported = exportRegistryTrust(issuer);
  return checkRegistryTrust({
    issuer,
    service: SERVICE,
    rootCertBundle: exported.rootCertBundle,
    jwks: exported.jwks,
    ...(trust as object),
  });
}

const verdict = (report: Awaited<ReturnType<typeof check>>, registry: "2.8" | "3.x") =>
  report.verdicts.find((v) => v.registry === registry);

describe("checkRegistryTrust: what each registry does with each key reference", () => {
  it("libtrust kid with the exported bundle and JWKS: both accept", async () => {
    const report = await check({ keyId: "libtrust" });
    expect(report).toEqual({
      ok: true,
      verdicts: [
        { registry: "2.8", accepted: true },
        { registry: "3.x", accepted: true },
      ],
      message: "",
    });
  });

  it("libtrust kid without the JWKS: 3.x rejects and says to give it the JWKS", async () => {
    const report = await check({ keyId: "libtrust" }, { jwks: undefined });
    expect(report.ok).toBe(false);
    expect(verdict(report, "2.8")?.accepted).toBe(true);
    expect(report.message).toBe(
      'registry 3.x would reject these tokens: invalid registry token: signed by an untrusted key (unknown kid); the kid is a libtrust ID, and 3.x looks a kid up only by the RFC 7638 thumbprint of a rootcertbundle key or by the kid of a JWKS entry: give the registry auth.token.jwks with the exported JWKS, or use x5c: true (or keyId: "thumbprint", which 2.8 rejects)',
    );
  });

  it("thumbprint kid: 3.x accepts, 2.8 rejects and says why", async () => {
    const report = await check({ keyId: "thumbprint" });
    expect(verdict(report, "3.x")).toEqual({ registry: "3.x", accepted: true });
    expect(report.message).toBe(
      'registry 2.8 would reject these tokens: invalid registry token: signed by an untrusted key (unknown kid); the kid is an RFC 7638 thumbprint (keyId: "thumbprint"), and 2.8 looks a kid up only by libtrust ID: use keyId: "libtrust", or x5c: true',
    );
  });

  it("thumbprint kid is fine when only 3.x is asked for", async () => {
    const issuer = issuerWith({ keyId: "thumbprint" });
    const report = await assertRegistryTrust({
      issuer,
      service: SERVICE,
      ...exportRegistryTrust(issuer),
      registries: ["3.x"],
    });
    expect(report.verdicts).toEqual([{ registry: "3.x", accepted: true }]);
  });

  it("x5c with the bundle alone: both accept", async () => {
    const report = await check({ keyId: "none", x5c: true }, { jwks: undefined });
    expect(report.ok).toBe(true);
  });

  it("x5c through an intermediate: the exported bundle (leaf and last certificate) is enough", async () => {
    const report = await check({
      privateKey: leafKey.pem,
      certificateChain: `${leaf}${intermediate}`,
      keyId: "none",
      x5c: true,
    });
    expect(report.ok).toBe(true);
  });

  it("x5c whose chain does not reach the bundle: both reject, saying what to put there", async () => {
    const issuer = issuerWith({
      privateKey: leafKey.pem,
      certificateChain: `${leaf}${intermediate}`,
      keyId: "none",
      x5c: true,
    });
    const report = await checkRegistryTrust({
      issuer,
      service: SERVICE,
      rootCertBundle: otherCert,
    });
    expect(report.verdicts.map((v) => v.accepted)).toEqual([false, false]);
    expect(report.message.split("\n")).toEqual(
      ["2.8", "3.x"].map(
        (registry) =>
          `registry ${registry} would reject these tokens: invalid registry token: x5c certificate chain does not lead to a trusted root certificate; put the root of the chain (or its last certificate) in the rootcertbundle: exportRegistryTrust adds the chain's last certificate, extraRootCertificates adds a root`,
      ),
    );
  });

  it("x5c with an expired certificate: both reject, saying to renew it", async () => {
    const issuer = issuerWith({
      privateKey: leafKey.pem,
      certificateChain: `${leaf}${intermediate}`,
      keyId: "none",
      x5c: true,
      clock: () => Date.now() + 3 * DAY,
    });
    const report = await checkRegistryTrust({
      issuer,
      service: SERVICE,
      ...exportRegistryTrust(issuer),
      clock: () => Date.now() + 3 * DAY,
    });
    expect(report.ok).toBe(false);
    expect(report.verdicts[0]?.reason).toBe(
      "invalid registry token: x5c leaf certificate is expired or not yet valid; renew the certificate: the registry checks the x5c chain's validity dates",
    );
  });

  it("a bundle without the signing key: 2.8 says the certificate is missing", async () => {
    const report = await check(
      { keyId: "libtrust" },
      { rootCertBundle: otherCert, jwks: undefined },
    );
    expect(verdict(report, "2.8")?.reason).toBe(
      "invalid registry token: signed by an untrusted key (unknown kid); no certificate of the rootcertbundle holds the signing key: put the issuer's certificate in it (exportRegistryTrust does)",
    );
    expect(verdict(report, "3.x")?.accepted).toBe(false);
  });

  it("a key in neither file: 3.x says so", async () => {
    const report = await check(
      { keyId: "thumbprint" },
      { rootCertBundle: otherCert, jwks: { keys: [] } },
    );
    expect(verdict(report, "3.x")?.reason).toBe(
      "invalid registry token: signed by an untrusted key (unknown kid); neither the rootcertbundle nor the JWKS holds the signing key: export them from this issuer (exportRegistryTrust)",
    );
  });
});

describe("checkRegistryTrust: registries that would not start", () => {
  it("no bundle: 2.8 would not start; 3.x takes the JWKS alone", async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: signer.pem });
    const report = await checkRegistryTrust({
      issuer,
      service: SERVICE,
      ...exportRegistryTrust(issuer),
    });
    expect(report.verdicts).toEqual([
      {
        registry: "2.8",
        accepted: false,
        reason:
          "it would not start: 2.8 needs auth.token.rootcertbundle with at least one certificate (it has no JWKS setting)",
      },
      { registry: "3.x", accepted: true },
    ]);
  });

  it("nothing at all: 3.x would not start either", async () => {
    const report = await check({}, { rootCertBundle: undefined, jwks: undefined });
    expect(verdict(report, "3.x")?.reason).toBe(
      "it would not start: 3.x needs a rootcertbundle or a JWKS with at least one key",
    );
  });

  it("an Ed25519 certificate in the bundle stops 2.8", async () => {
    const report = await check({}, { rootCertBundle: `${signerCert}${ed25519Cert}` });
    expect(verdict(report, "2.8")?.reason).toBe(
      "it would not start: certificate 1 of the rootcertbundle holds a key of type ed25519, and 2.8 reads only RSA and EC P-256/P-384/P-521 keys",
    );
    expect(verdict(report, "3.x")?.accepted).toBe(true);
  });

  it("a JWKS entry with private members is refused", async () => {
    const issuer = issuerWith({});
    const privateJwk = signer.privateKey.export({ format: "jwk" });
    const report = await checkRegistryTrust({
      issuer,
      service: SERVICE,
      jwks: { keys: [privateJwk as never] },
      registries: ["3.x"],
    });
    expect(report.verdicts[0]?.reason).toBe(
      "the JWKS entry 0 holds a private key: publish public keys only",
    );
  });
});

describe("assertRegistryTrust", () => {
  it("rejects at startup with ERR_CONFIG_INVALID naming the registry and the reason", async () => {
    const issuer = issuerWith({ keyId: "thumbprint" });
    await expect(
      assertRegistryTrust({ issuer, service: SERVICE, ...exportRegistryTrust(issuer) }),
    ).rejects.toMatchObject({
      code: "ERR_CONFIG_INVALID",
      message: expect.stringMatching(/^registry 2\.8 would reject these tokens: .*thumbprint/),
    });
  });

  it("resolves to the report when every registry accepts", async () => {
    const issuer = issuerWith({});
    const report = await assertRegistryTrust({
      issuer,
      service: SERVICE,
      ...exportRegistryTrust(issuer),
    });
    expect(report.ok).toBe(true);
  });

  it.each([
    [{ service: "" }, "service: "],
    [{ registries: ["2.9"] }, "registries[0]: "],
    [{ issuer: {} }, "issuer: expected an issuer from createTokenIssuer"],
    [{ bundle: "x" }, "bundle: unknown key"],
  ])("refuses bad options %j", async (overrides, message) => {
    await expect(
      checkRegistryTrust({
        issuer: issuerWith({}),
        service: SERVICE,
        ...(overrides as object),
      } as never),
    ).rejects.toMatchObject({
      code: "ERR_CONFIG_INVALID",
      message: expect.stringContaining(message),
    });
  });
});
