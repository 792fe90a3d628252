import { generateKeyPairSync, sign } from "node:crypto";
import { type AccessEntry, isRegauthError } from "@regauth/core";
import type { JWK } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  createTokenIssuer,
  libtrustKeyId,
  type RegistryTokenIssuer,
  thumbprintKeyId,
  type VerifyRegistryTokenOptions,
  verifyRegistryToken,
} from "../src/index.js";
import { ecKey, Pki, rsaKey, type TestKey } from "./support/pki.js";
import { craftToken, decodeToken, rawToken, tamperSignature } from "./support/tokens.js";

const ISSUER = "regauth";
const SERVICE = "registry.example.com";
const DAY = 86_400_000;

let pki: Pki;
let now: number; // ms, frozen for every token and check below
let signer: TestKey; // signs with kid; its self-signed certificate is in the bundle
let signerCert: string;
let rootKey: TestKey;
let root: string;
let interKey: TestKey;
let intermediate: string;
let leafKey: TestKey;
let leaf: string;
let strangerRoot: string;
let strangerLeafKey: TestKey;
let strangerLeaf: string;
let bundle: string;

beforeAll(() => {
  pki = new Pki();
  signer = ecKey();
  signerCert = pki.selfSigned(signer, "token signer");
  rootKey = ecKey("P-384");
  root = pki.selfSigned(rootKey, "root");
  interKey = ecKey();
  intermediate = pki.issue(interKey, "intermediate", root, rootKey, { ca: true });
  leafKey = ecKey();
  leaf = pki.issue(leafKey, "leaf", intermediate, interKey);
  const strangerKey = ecKey();
  strangerRoot = pki.selfSigned(strangerKey, "root");
  strangerLeafKey = ecKey();
  strangerLeaf = pki.issue(strangerLeafKey, "leaf", strangerRoot, strangerKey);
  bundle = `${signerCert}${root}`;
  now = Math.floor(Date.now() / 1000) * 1000; // whole seconds, so skew edges are exact
});
afterAll(() => pki.close());

const clock = () => now;
const grant = {
  subject: "alice",
  audience: SERVICE,
  access: [{ type: "repository", name: "team/app", actions: ["pull"] }],
};

function verifyOptions(
  extra: Partial<VerifyRegistryTokenOptions> = {},
): VerifyRegistryTokenOptions {
  return { issuer: ISSUER, service: SERVICE, rootCertificates: bundle, clock, ...extra };
}

function issuerFor(key: TestKey, extra: Record<string, unknown> = {}): RegistryTokenIssuer {
  return createTokenIssuer({ issuer: ISSUER, privateKey: key.pem, clock, ...extra });
}

/** A registry-shaped payload at `now`, with overrides. */
function payload(extra: Record<string, unknown> = {}) {
  const iat = Math.floor(now / 1000);
  return {
    iss: ISSUER,
    sub: "alice",
    aud: SERVICE,
    exp: iat + 300,
    nbf: iat,
    iat,
    jti: "j",
    access: grant.access,
    ...extra,
  };
}

async function rejection(token: string, options = verifyOptions()) {
  try {
    await verifyRegistryToken(token, options);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error("expected verifyRegistryToken to reject");
}

async function expectInvalid(token: string, message: string, options = verifyOptions()) {
  const error = await rejection(token, options);
  expect(error.code).toBe("ERR_TOKEN_INVALID");
  expect(error.message).toBe(`invalid registry token: ${message}`);
}

describe("verifyRegistryToken: round trips", () => {
  test.each(["P-256", "P-384", "P-521"] as const)(
    "EC %s token with a libtrust kid",
    async (curve) => {
      const key = ecKey(curve);
      const cert = pki.selfSigned(key, `signer ${curve}`);
      const issued = await issuerFor(key).issue(grant);
      const claims = await verifyRegistryToken(
        issued.token,
        verifyOptions({ rootCertificates: cert }),
      );
      const iat = Math.floor(now / 1000);
      expect(claims).toEqual({
        iss: ISSUER,
        sub: "alice",
        aud: SERVICE,
        exp: iat + 300,
        nbf: iat,
        iat,
        jti: decodeToken(issued.token).payload.jti,
        access: grant.access,
      });
    },
  );

  test("RSA RS256 token with a libtrust kid", async () => {
    const key = rsaKey();
    const cert = pki.selfSigned(key, "rsa signer");
    const { token } = await issuerFor(key).issue(grant);
    expect(decodeToken(token).header.alg).toBe("RS256");
    await expect(
      verifyRegistryToken(token, verifyOptions({ rootCertificates: cert })),
    ).resolves.toMatchObject({
      sub: "alice",
    });
  });

  test.each(["RS384", "RS512"])(
    "RSA %s token (not issued here, accepted by the registry)",
    async (alg) => {
      const key = rsaKey();
      const cert = pki.selfSigned(key, "rsa signer");
      const token = await craftToken(
        { typ: "JWT", alg, kid: libtrustKeyId(key.publicKey) },
        payload(),
        key.privateKey,
      );
      await expect(
        verifyRegistryToken(token, verifyOptions({ rootCertificates: cert })),
      ).resolves.toMatchObject({
        iss: ISSUER,
      });
    },
  );

  test("thumbprint kid is found among the bundle's keys (registry 3.x)", async () => {
    const { token } = await issuerFor(signer, { keyId: "thumbprint" }).issue(grant);
    await expect(verifyRegistryToken(token, verifyOptions())).resolves.toMatchObject({
      sub: "alice",
    });
  });

  test("a JWKS key is found by thumbprint, libtrust ID or its own kid", async () => {
    const key = ecKey();
    const jwk = { ...key.publicKey.export({ format: "jwk" }), kid: "my-key" } as JWK;
    const options = { issuer: ISSUER, service: SERVICE, jwks: { keys: [jwk] }, clock };
    for (const kid of ["my-key", libtrustKeyId(key.publicKey), thumbprintKeyId(key.publicKey)]) {
      const token = await craftToken({ typ: "JWT", alg: "ES256", kid }, payload(), key.privateKey);
      await expect(verifyRegistryToken(token, options)).resolves.toMatchObject({ sub: "alice" });
    }
  });

  test("an issuer's publicJwk works as a registry 3.x JWKS entry", async () => {
    const key = ecKey("P-384");
    const issuer = issuerFor(key);
    const { token } = await issuer.issue(grant);
    const claims = await verifyRegistryToken(token, {
      issuer: ISSUER,
      service: SERVICE,
      jwks: { keys: [issuer.publicJwk] },
      clock,
    });
    expect(claims.sub).toBe("alice");
  });

  test('sub is "" for an anonymous token, access [] when the claim is absent', async () => {
    const token = await craftToken(
      { alg: "ES256", kid: libtrustKeyId(signer.publicKey) },
      { iss: ISSUER, aud: SERVICE, exp: Math.floor(now / 1000) + 60 },
      signer.privateKey,
    );
    const claims = await verifyRegistryToken(token, verifyOptions());
    expect(claims).toEqual({
      iss: ISSUER,
      sub: "",
      aud: SERVICE,
      exp: Math.floor(now / 1000) + 60,
      access: [],
    });
  });
});

describe("verifyRegistryToken: x5c and jwk", () => {
  test("x5c leaf + intermediate chains to a root of the bundle", async () => {
    const issuer = issuerFor(leafKey, {
      certificateChain: `${leaf}${intermediate}`,
      keyId: "none",
      x5c: true,
    });
    const { token } = await issuer.issue(grant);
    await expect(verifyRegistryToken(token, verifyOptions())).resolves.toMatchObject({
      sub: "alice",
    });
  });

  test("x5c with a self-signed certificate that is itself in the bundle (docker_auth setup)", async () => {
    const issuer = issuerFor(signer, { certificateChain: signerCert, keyId: "none", x5c: true });
    const { token } = await issuer.issue(grant);
    await expect(verifyRegistryToken(token, verifyOptions())).resolves.toMatchObject({
      sub: "alice",
    });
  });

  test("x5c wins over kid: a chain from elsewhere is refused even with a trusted kid", async () => {
    const token = await craftToken(
      {
        alg: "ES256",
        kid: libtrustKeyId(signer.publicKey),
        x5c: [pki_der(strangerLeaf)],
      },
      payload(),
      strangerLeafKey.privateKey,
    );
    await expectInvalid(token, "x5c certificate chain does not lead to a trusted root certificate");
  });

  test("x5c chain not from the bundle is refused", async () => {
    const issuer = issuerFor(strangerLeafKey, {
      certificateChain: `${strangerLeaf}${strangerRoot}`,
      keyId: "none",
      x5c: true,
    });
    const { token } = await issuer.issue(grant);
    await expectInvalid(token, "x5c certificate chain does not lead to a trusted root certificate");
  });

  test("x5c without the intermediate is refused", async () => {
    const issuer = issuerFor(leafKey, { certificateChain: leaf, keyId: "none", x5c: true });
    const { token } = await issuer.issue(grant);
    await expectInvalid(token, "x5c certificate chain does not lead to a trusted root certificate");
  });

  test("x5c with an expired leaf is refused", async () => {
    const later = now + 40 * DAY; // certificates last 30 days
    const issuer = createTokenIssuer({
      issuer: ISSUER,
      privateKey: leafKey.pem,
      certificateChain: `${leaf}${intermediate}`,
      keyId: "none",
      x5c: true,
      clock: () => later,
    });
    const { token } = await issuer.issue(grant);
    await expectInvalid(
      token,
      "x5c leaf certificate is expired or not yet valid",
      verifyOptions({ clock: () => later }),
    );
  });

  test("x5c signed by a key other than the leaf's fails the signature check", async () => {
    const token = await craftToken(
      { alg: "ES256", x5c: [pki_der(leaf), pki_der(intermediate)] },
      payload(),
      signer.privateKey,
    );
    await expectInvalid(token, "signature verification failed");
  });

  test("x5c cannot be checked without rootCertificates", async () => {
    const issuer = issuerFor(signer, { certificateChain: signerCert, keyId: "none", x5c: true });
    const { token } = await issuer.issue(grant);
    await expectInvalid(token, "x5c chain cannot be checked: no rootCertificates configured", {
      issuer: ISSUER,
      service: SERVICE,
      jwks: { keys: [signer.publicKey.export({ format: "jwk" }) as JWK] },
      clock,
    });
  });

  test("malformed x5c is refused", async () => {
    const token = await craftToken({ alg: "ES256", x5c: ["%%%"] }, payload(), signer.privateKey);
    await expectInvalid(token, "malformed header: x5c entry is not base64");
    const notArray = await craftToken({ alg: "ES256", x5c: "abc" }, payload(), signer.privateKey);
    await expectInvalid(notArray, "malformed header: x5c is not an array of strings");
  });

  test("a jwk header naming a trusted key is accepted, an untrusted one refused", async () => {
    const trusted = signer.publicKey.export({ format: "jwk" });
    const ok = await craftToken({ alg: "ES256", jwk: trusted }, payload(), signer.privateKey);
    await expect(verifyRegistryToken(ok, verifyOptions())).resolves.toMatchObject({ sub: "alice" });

    const other = ecKey();
    const bad = await craftToken(
      { alg: "ES256", jwk: other.publicKey.export({ format: "jwk" }) },
      payload(),
      other.privateKey,
    );
    await expectInvalid(bad, "jwk is not a trusted key and has no x5c chain");
  });

  test("a jwk header with its own trusted x5c chain is accepted", async () => {
    const jwk = {
      ...leafKey.publicKey.export({ format: "jwk" }),
      x5c: [pki_der(leaf), pki_der(intermediate)],
    };
    const token = await craftToken({ alg: "ES256", jwk }, payload(), leafKey.privateKey);
    await expect(verifyRegistryToken(token, verifyOptions())).resolves.toMatchObject({
      sub: "alice",
    });
  });
});

function pki_der(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
}

describe("verifyRegistryToken: failures", () => {
  let kid: string;
  beforeAll(() => {
    kid = libtrustKeyId(signer.publicKey);
  });

  test("expired beyond the 60 s skew is refused; within it is fine", async () => {
    const { token } = await issuerFor(signer).issue(grant); // exp = now + 300 s
    const at = (ms: number) => verifyOptions({ clock: () => now + ms });
    await expect(verifyRegistryToken(token, at(300_000 + 59_000))).resolves.toBeDefined();
    await expect(verifyRegistryToken(token, at(300_000 + 60_000))).resolves.toBeDefined();
    await expectInvalid(token, "token expired", at(300_000 + 61_000));
  });

  test("not yet valid beyond the skew is refused; within it is fine", async () => {
    const { token } = await issuerFor(signer).issue(grant); // nbf = now
    const at = (ms: number) => verifyOptions({ clock: () => now + ms });
    await expect(verifyRegistryToken(token, at(-59_000))).resolves.toBeDefined();
    await expectInvalid(token, "token not valid yet (nbf in the future)", at(-62_000));
  });

  test("clockTolerance changes the skew", async () => {
    const { token } = await issuerFor(signer).issue(grant);
    const options = verifyOptions({ clock: () => now + 301_000, clockTolerance: 0 });
    await expectInvalid(token, "token expired", options);
  });

  test("another audience is refused", async () => {
    const { token } = await issuerFor(signer).issue({ ...grant, audience: "other.example.com" });
    await expectInvalid(token, `unexpected audience, expected "${SERVICE}"`);
  });

  test("an aud array is refused as on registry 2.8, unless acceptAudienceArray (3.x)", async () => {
    const token = await craftToken(
      { alg: "ES256", kid },
      payload({ aud: [SERVICE] }),
      signer.privateKey,
    );
    await expectInvalid(token, "aud claim is an array, registry 2.8 expects a string");
    await expect(
      verifyRegistryToken(token, verifyOptions({ acceptAudienceArray: true })),
    ).resolves.toMatchObject({ aud: [SERVICE] });
    const other = await craftToken(
      { alg: "ES256", kid },
      payload({ aud: ["x", "y"] }),
      signer.privateKey,
    );
    await expectInvalid(
      other,
      `unexpected audience, expected "${SERVICE}"`,
      verifyOptions({ acceptAudienceArray: true }),
    );
  });

  test("another issuer is refused", async () => {
    const token = await craftToken(
      { alg: "ES256", kid },
      payload({ iss: "evil" }),
      signer.privateKey,
    );
    await expectInvalid(token, `unexpected issuer, expected "${ISSUER}"`);
  });

  test("an unknown key is refused", async () => {
    const { token } = await issuerFor(ecKey()).issue(grant);
    await expectInvalid(token, "signed by an untrusted key (unknown kid)");
  });

  test("a token without a key reference is refused", async () => {
    const token = await craftToken({ typ: "JWT", alg: "ES256" }, payload(), signer.privateKey);
    await expectInvalid(token, "no key reference in the header, expected x5c, jwk or kid");
  });

  const NOT_ALLOWED =
    "algorithm not allowed, expected one of ES256, ES384, ES512, RS256, RS384, RS512";

  test("HS256 is refused, even keyed with the public key", async () => {
    const secret = Buffer.from(signer.publicKey.export({ type: "spki", format: "pem" }));
    const token = await craftToken({ alg: "HS256", kid }, payload(), new Uint8Array(secret));
    await expectInvalid(token, NOT_ALLOWED);
  });

  test('alg "none" is refused', async () => {
    await expectInvalid(rawToken({ alg: "none", kid }, payload()), NOT_ALLOWED);
    await expectInvalid(rawToken({ kid }, payload(), "AAAA"), NOT_ALLOWED);
  });

  test("EdDSA and PS256 are refused", async () => {
    const ed = generateKeyPairSync("ed25519").privateKey;
    await expectInvalid(await craftToken({ alg: "EdDSA", kid }, payload(), ed), NOT_ALLOWED);
    const rsa = rsaKey();
    await expectInvalid(
      await craftToken({ alg: "PS256", kid }, payload(), rsa.privateKey),
      NOT_ALLOWED,
    );
  });

  test("a tampered signature is refused", async () => {
    const { token } = await issuerFor(signer).issue(grant);
    await expectInvalid(tamperSignature(token), "signature verification failed");
  });

  test("a tampered payload is refused", async () => {
    const { token } = await issuerFor(signer).issue(grant);
    const [header, , signature] = token.split(".");
    const forged = Buffer.from(JSON.stringify(payload({ sub: "root" }))).toString("base64url");
    await expectInvalid(`${header}.${forged}.${signature}`, "signature verification failed");
  });

  test("an ECDSA signature in DER form (not JOSE r||s) is refused", async () => {
    const signingInput = rawToken({ alg: "ES256", kid }, payload()).slice(0, -1);
    const der = sign("sha256", Buffer.from(signingInput), signer.privateKey).toString("base64url");
    await expectInvalid(`${signingInput}.${der}`, "signature verification failed");
  });

  test("an alg that does not fit the key is refused", async () => {
    const p384 = ecKey("P-384");
    const token = await craftToken({ alg: "ES384", kid }, payload(), p384.privateKey);
    await expectInvalid(token, "the signing key does not fit the algorithm");
  });

  test("exp is required and claims have registry types", async () => {
    const { exp: _exp, ...withoutExp } = payload();
    const sign256 = (body: unknown) => craftToken({ alg: "ES256", kid }, body, signer.privateKey);
    await expectInvalid(await sign256(withoutExp), "exp claim missing");
    await expectInvalid(
      await sign256(payload({ exp: now / 1000 + 0.5 })),
      "exp claim is not an integer number of seconds",
    );
    await expectInvalid(
      await sign256(payload({ nbf: "0" })),
      "nbf claim is not an integer number of seconds",
    );
    await expectInvalid(await sign256(payload({ sub: 7 })), "sub claim is not a string");
    await expectInvalid(
      await sign256(payload({ access: [{ type: "repository" }] })),
      "malformed access claim: expected {type, name, actions} entries",
    );
    await expectInvalid(await sign256([1, 2]), "malformed payload: not a JSON object");
  });

  test("malformed tokens are refused", async () => {
    await expectInvalid("abc", "malformed token: expected three dot-separated parts");
    await expectInvalid("a.b.c.d.e", "malformed token: expected three dot-separated parts");
    await expectInvalid("!!!.e30.", "malformed header: not base64url JSON");
    await expectInvalid(
      `${Buffer.from("[1]").toString("base64url")}.e30.`,
      "malformed header: not a JSON object",
    );
  });

  test("messages never quote the token", async () => {
    const token = await craftToken(
      { alg: "ES256", kid: "SECRET-KID-1234" },
      payload({ iss: "SECRET-ISS" }),
      signer.privateKey,
    );
    const error = await rejection(token);
    expect(isRegauthError(error, "ERR_TOKEN_INVALID")).toBe(true);
    expect(error.message).not.toContain("SECRET");
    const issError = await rejection(
      await craftToken({ alg: "ES256", kid }, payload({ iss: "SECRET-ISS" }), signer.privateKey),
    );
    expect(issError.message).not.toContain("SECRET");
  });
});

describe("verifyRegistryToken: requiredAccess", () => {
  async function tokenWith(access: AccessEntry[]) {
    return (await issuerFor(signer).issue({ ...grant, access })).token;
  }
  const need = (type: string, name: string, ...actions: string[]) =>
    verifyOptions({ requiredAccess: [{ type, name, actions }] });

  test("insufficient access is refused, naming the resource and the missing actions", async () => {
    const token = await tokenWith([{ type: "repository", name: "team/app", actions: ["pull"] }]);
    await expectInvalid(
      token,
      "insufficient access to repository:team/app, missing push",
      need("repository", "team/app", "pull", "push"),
    );
    await expect(
      verifyRegistryToken(token, need("repository", "team/app", "pull")),
    ).resolves.toBeDefined();
  });

  test("entries for the same resource are merged", async () => {
    const token = await tokenWith([
      { type: "repository", name: "team/app", actions: ["pull"] },
      { type: "repository", name: "team/app", actions: ["push"] },
    ]);
    await expect(
      verifyRegistryToken(token, need("repository", "team/app", "pull", "push")),
    ).resolves.toBeDefined();
  });

  test("* grants every action on that one resource only", async () => {
    const token = await tokenWith([{ type: "repository", name: "team/app", actions: ["*"] }]);
    await expect(
      verifyRegistryToken(token, need("repository", "team/app", "pull", "push", "delete")),
    ).resolves.toBeDefined();
    await expectInvalid(
      token,
      "insufficient access to repository:team/other, missing pull",
      need("repository", "team/other", "pull"),
    );
  });

  test("matching is exact: case, type and no name wildcards", async () => {
    const token = await tokenWith([{ type: "repository", name: "team/*", actions: ["pull"] }]);
    await expectInvalid(
      token,
      "insufficient access to repository:team/app, missing pull",
      need("repository", "team/app", "pull"),
    );
    const lower = await tokenWith([{ type: "repository", name: "team/app", actions: ["pull"] }]);
    await expectInvalid(
      lower,
      "insufficient access to repository:Team/app, missing pull",
      need("repository", "Team/app", "pull"),
    );
    await expectInvalid(
      lower,
      "insufficient access to registry:team/app, missing pull",
      need("registry", "team/app", "pull"),
    );
  });

  test("registry:catalog:* needs a * grant, pull does not satisfy it", async () => {
    const pullOnly = await tokenWith([{ type: "registry", name: "catalog", actions: ["pull"] }]);
    await expectInvalid(
      pullOnly,
      "insufficient access to registry:catalog, missing *",
      need("registry", "catalog", "*"),
    );
    const star = await tokenWith([{ type: "registry", name: "catalog", actions: ["*"] }]);
    await expect(
      verifyRegistryToken(star, need("registry", "catalog", "*")),
    ).resolves.toBeDefined();
  });
});

describe("verifyRegistryToken: config errors name the option", () => {
  async function configError(options: unknown) {
    const error = await rejection("a.b.c", options as VerifyRegistryTokenOptions);
    expect(error.code).toBe("ERR_CONFIG_INVALID");
    return error.message;
  }

  test("no trusted keys", async () => {
    expect(await configError({ issuer: ISSUER, service: SERVICE })).toBe(
      "rootCertificates: rootCertificates or jwks is required to trust any key",
    );
  });

  test("missing service, unknown option, bad clockTolerance", async () => {
    expect(await configError({ issuer: ISSUER, rootCertificates: bundle })).toMatch(/^service: /);
    expect(await configError(verifyOptions({ audience: "x" } as never))).toBe(
      "audience: unknown key",
    );
    expect(await configError(verifyOptions({ clockTolerance: -1 }))).toMatch(/^clockTolerance: /);
  });

  test("a bundle without certificates or with an Ed25519 certificate", async () => {
    expect(await configError(verifyOptions({ rootCertificates: "nothing" }))).toBe(
      "rootCertificates: no PEM CERTIFICATE block found",
    );
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const ed = pki.selfSigned(
      { privateKey, publicKey, pem: privateKey.export({ type: "pkcs8", format: "pem" }) as string },
      "ed",
    );
    expect(await configError(verifyOptions({ rootCertificates: `${signerCert}${ed}` }))).toBe(
      "rootCertificates: certificate 1: ed25519 keys are not supported, expected EC (P-256, P-384, P-521) or RSA",
    );
  });

  test("a JWKS with a private key", async () => {
    const jwk = signer.privateKey.export({ format: "jwk" }) as JWK;
    expect(await configError(verifyOptions({ jwks: { keys: [jwk] } }))).toBe(
      "jwks.keys[0]: holds private key members, expected a public JWK",
    );
  });

  test("a malformed requiredAccess entry", async () => {
    expect(
      await configError(
        verifyOptions({ requiredAccess: [{ type: "repository", actions: [] } as never] }),
      ),
    ).toMatch(/^requiredAccess\[0\]\.name: /);
  });
});
