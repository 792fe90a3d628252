import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import type { AccessEntry } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  createTokenIssuer,
  libtrustKeyId,
  type TokenIssuerOptions,
  thumbprintKeyId,
} from "../src/index.js";
import { ecKey, Pki, rsaKey, type TestKey } from "./support/pki.js";
import { decodeToken } from "./support/tokens.js";

const NOW = 1_700_000_000_500; // ms; iat must come out as 1700000000
const clock = () => NOW;
const grant = {
  subject: "alice",
  audience: "registry.example.com",
  access: [
    { type: "repository", name: "team/app", actions: ["pull", "push"] },
    { type: "repository", class: "plugin", name: "vieux/sshfs", actions: ["pull"] },
    { type: "registry", name: "catalog", actions: ["*"] },
    { type: "repository", name: "other/app", actions: [] },
  ],
};

let key: TestKey;
beforeAll(() => {
  key = ecKey();
});

function configError(options: unknown) {
  try {
    createTokenIssuer(options as TokenIssuerOptions);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error("expected createTokenIssuer to throw");
}

describe("createTokenIssuer: claims (protocol.md §3)", () => {
  test("header is {typ, alg, kid} and payload holds exactly the registry claims", async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: key.pem, clock });
    const issued = await issuer.issue(grant);
    const { header, payload } = decodeToken(issued.token);

    expect(header).toEqual({ typ: "JWT", alg: "ES256", kid: libtrustKeyId(key.publicKey) });
    expect(Object.keys(payload).sort()).toEqual(
      ["access", "aud", "exp", "iat", "iss", "jti", "nbf", "sub"].sort(),
    );
    expect(payload).toMatchObject({
      iss: "regauth",
      sub: "alice",
      aud: "registry.example.com",
      iat: 1_700_000_000,
      nbf: 1_700_000_000,
      exp: 1_700_000_300,
    });
    expect(issued.expiresIn).toBe(300);
    expect(issued.issuedAt).toEqual(new Date(1_700_000_000_000));
  });

  test("aud is a string, never an array", async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: key.pem });
    const { payload } = decodeToken((await issuer.issue(grant)).token);
    expect(typeof payload.aud).toBe("string");
  });

  test("exp, nbf and iat are integers even when the clock has milliseconds", async () => {
    const issuer = createTokenIssuer({ issuer: "r", privateKey: key.pem, clock: () => 1_999.999 });
    const { payload } = decodeToken((await issuer.issue(grant)).token);
    for (const claim of ["exp", "nbf", "iat"]) expect(Number.isInteger(payload[claim])).toBe(true);
    expect(payload.iat).toBe(1);
  });

  test("jti is 128 random bits in base64url and unique per token", async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: key.pem, clock });
    const ids = new Set<unknown>();
    for (let i = 0; i < 200; i++) {
      const { payload } = decodeToken((await issuer.issue(grant)).token);
      expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(payload.jti as string, "base64url")).toHaveLength(16);
      ids.add(payload.jti);
    }
    expect(ids.size).toBe(200);
  });

  test("access entries carry class only when present, and [] actions stay", async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: key.pem, clock });
    const { payload } = decodeToken((await issuer.issue(grant)).token);
    expect(payload.access).toEqual([
      { type: "repository", name: "team/app", actions: ["pull", "push"] },
      { type: "repository", class: "plugin", name: "vieux/sshfs", actions: ["pull"] },
      { type: "registry", name: "catalog", actions: ["*"] },
      { type: "repository", name: "other/app", actions: [] },
    ]);
    const first = (payload.access as Record<string, unknown>[])[0] ?? {};
    expect("class" in first).toBe(false);
  });

  test("access entries lose members that are not claims", async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: key.pem, clock });
    const extra = {
      type: "repository",
      name: "a",
      actions: ["pull"],
      secret: "x",
      class: undefined,
    } as unknown as AccessEntry;
    const { payload } = decodeToken(
      (await issuer.issue({ subject: "a", audience: "s", access: [extra] })).token,
    );
    expect(payload.access).toEqual([{ type: "repository", name: "a", actions: ["pull"] }]);
  });

  test('an anonymous grant has sub "" and an empty request has access []', async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: key.pem, clock });
    const { payload } = decodeToken(
      (await issuer.issue({ subject: "", audience: "registry.example.com", access: [] })).token,
    );
    expect(payload.sub).toBe("");
    expect(payload.access).toEqual([]);
  });

  test("lifetime sets exp and expiresIn", async () => {
    const issuer = createTokenIssuer({
      issuer: "regauth",
      privateKey: key.pem,
      lifetime: 3600,
      clock,
    });
    const issued = await issuer.issue(grant);
    expect(decodeToken(issued.token).payload.exp).toBe(1_700_003_600);
    expect(issued.expiresIn).toBe(3600);
    expect(issuer.lifetime).toBe(3600);
  });

  test("a malformed grant is ERR_INTERNAL", async () => {
    const issuer = createTokenIssuer({ issuer: "regauth", privateKey: key.pem });
    await expect(issuer.issue({ subject: "a", audience: "", access: [] })).rejects.toMatchObject({
      code: "ERR_INTERNAL",
      message: "grant.audience: expected a non-empty string",
    });
  });
});

describe("createTokenIssuer: keys and algorithms", () => {
  test.each([
    ["P-256", "ES256", 64],
    ["P-384", "ES384", 96],
    ["P-521", "ES512", 132],
  ] as const)(
    "EC %s signs with %s and a raw r||s signature of %i bytes",
    async (curve, alg, bytes) => {
      const issuer = createTokenIssuer({ issuer: "r", privateKey: ecKey(curve).pem });
      expect(issuer.algorithm).toBe(alg);
      const { token } = await issuer.issue(grant);
      expect(decodeToken(token).header.alg).toBe(alg);
      expect(Buffer.from(token.split(".")[2] ?? "", "base64url")).toHaveLength(bytes);
    },
  );

  test("RSA of 2048 bits signs with RS256", async () => {
    const issuer = createTokenIssuer({ issuer: "r", privateKey: rsaKey().pem });
    expect(issuer.algorithm).toBe("RS256");
    expect(decodeToken((await issuer.issue(grant)).token).header.alg).toBe("RS256");
  });

  test("reads PKCS#8, SEC1 and PKCS#1 PEM and KeyObjects", () => {
    const ec = ecKey();
    const rsa = rsaKey();
    const inputs = [
      ec.pem,
      ec.privateKey.export({ type: "sec1", format: "pem" }) as string,
      ec.privateKey,
      rsa.privateKey.export({ type: "pkcs1", format: "pem" }) as string,
      rsa.privateKey,
    ];
    for (const privateKey of inputs) {
      expect(() => createTokenIssuer({ issuer: "r", privateKey })).not.toThrow();
    }
  });

  test("reads `openssl ecparam -genkey` output (EC PARAMETERS block before the key)", () => {
    const pki = new Pki();
    try {
      const pem = pki.openssl("ecparam", "-name", "prime256v1", "-genkey");
      expect(pem).toContain("BEGIN EC PARAMETERS");
      const issuer = createTokenIssuer({ issuer: "r", privateKey: pem });
      expect(issuer.algorithm).toBe("ES256");
      expect(issuer.keyId).toBe(libtrustKeyId(createPrivateKey(pem)));
    } finally {
      pki.close();
    }
  });

  test("publicJwk is the public key with use, alg and kid, without private members", () => {
    const issuer = createTokenIssuer({ issuer: "r", privateKey: key.pem });
    expect(issuer.publicJwk).toEqual({
      ...key.publicKey.export({ format: "jwk" }),
      use: "sig",
      alg: "ES256",
      kid: issuer.keyId,
    });
    expect(issuer.publicKey.type).toBe("public");
  });
});

describe("createTokenIssuer: kid modes and x5c", () => {
  let pki: Pki;
  let rootKey: TestKey;
  let interKey: TestKey;
  let root: string;
  let intermediate: string;
  let leaf: string;
  beforeAll(() => {
    pki = new Pki();
    rootKey = ecKey();
    interKey = ecKey();
    root = pki.selfSigned(rootKey, "root");
    intermediate = pki.issue(interKey, "intermediate", root, rootKey, { ca: true });
    leaf = pki.issue(key, "token signer", intermediate, interKey);
  });
  afterAll(() => pki.close());

  test('keyId "libtrust" (default) puts the libtrust ID in kid', async () => {
    const issuer = createTokenIssuer({ issuer: "r", privateKey: key.pem });
    expect(issuer.keyId).toBe(libtrustKeyId(key.publicKey));
    expect(decodeToken((await issuer.issue(grant)).token).header.kid).toBe(issuer.keyId);
  });

  test('keyId "thumbprint" puts the RFC 7638 thumbprint in kid', async () => {
    const issuer = createTokenIssuer({ issuer: "r", privateKey: key.pem, keyId: "thumbprint" });
    expect(issuer.keyId).toBe(thumbprintKeyId(key.publicKey));
    expect(decodeToken((await issuer.issue(grant)).token).header.kid).toBe(issuer.keyId);
  });

  test("x5c holds the leaf then the intermediates as base64 DER", async () => {
    const issuer = createTokenIssuer({
      issuer: "r",
      privateKey: key.pem,
      certificateChain: `${leaf}\n${intermediate}`,
      keyId: "none",
      x5c: true,
    });
    const { header } = decodeToken((await issuer.issue(grant)).token);
    expect(header).toEqual({
      typ: "JWT",
      alg: "ES256",
      x5c: [
        new X509Certificate(leaf).raw.toString("base64"),
        new X509Certificate(intermediate).raw.toString("base64"),
      ],
    });
    expect(issuer.keyId).toBeUndefined();
    expect(issuer.publicJwk).not.toHaveProperty("kid");
  });

  test("x5c and kid can go together", async () => {
    const issuer = createTokenIssuer({
      issuer: "r",
      privateKey: key.pem,
      certificateChain: leaf,
      x5c: true,
    });
    const { header } = decodeToken((await issuer.issue(grant)).token);
    expect(header.kid).toBe(libtrustKeyId(key.publicKey));
    expect(header.x5c).toHaveLength(1);
  });

  test("a certificate chain without x5c leaves the header alone", async () => {
    const issuer = createTokenIssuer({ issuer: "r", privateKey: key.pem, certificateChain: leaf });
    expect(decodeToken((await issuer.issue(grant)).token).header).not.toHaveProperty("x5c");
  });

  test("a leaf that holds another key is a config error", () => {
    expect(
      configError({ issuer: "r", privateKey: ecKey().pem, certificateChain: leaf }),
    ).toMatchObject({
      code: "ERR_CONFIG_INVALID",
      message:
        "certificateChain: the first (leaf) certificate does not hold the public key of privateKey",
    });
  });
});

describe("createTokenIssuer: config errors name the option", () => {
  const ed25519 = generateKeyPairSync("ed25519").privateKey;
  const cases: [string, () => Record<string, unknown>, string][] = [
    ["missing issuer", () => ({ privateKey: key.pem }), "issuer: "],
    ["empty issuer", () => ({ issuer: "", privateKey: key.pem }), "issuer: "],
    ["missing privateKey", () => ({ issuer: "r" }), "privateKey: "],
    [
      "unknown option",
      () => ({ issuer: "r", privateKey: key.pem, lifetme: 60 }),
      "lifetme: unknown key",
    ],
    [
      "public key PEM",
      () => ({ issuer: "r", privateKey: key.publicKey.export({ type: "spki", format: "pem" }) }),
      "privateKey: a public key was given, expected a private key",
    ],
    [
      "public KeyObject",
      () => ({ issuer: "r", privateKey: key.publicKey }),
      "privateKey: a public key was given, expected a private key",
    ],
    [
      "garbage string",
      () => ({ issuer: "r", privateKey: "not a key" }),
      "privateKey: expected a PEM private key (PKCS#8, SEC1 or PKCS#1)",
    ],
    [
      "corrupt PEM",
      () => ({
        issuer: "r",
        privateKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      }),
      "privateKey: not a readable PEM private key (PKCS#8, SEC1 or PKCS#1)",
    ],
    [
      "encrypted PEM",
      () => ({
        issuer: "r",
        privateKey: key.privateKey.export({
          type: "pkcs8",
          format: "pem",
          cipher: "aes-256-cbc",
          passphrase: "secret",
        }),
      }),
      "privateKey: encrypted private keys are not supported, decrypt the key first",
    ],
    [
      "Ed25519",
      () => ({ issuer: "r", privateKey: ed25519 }),
      "privateKey: ed25519 keys are not supported, expected EC (P-256, P-384, P-521) or RSA",
    ],
    [
      "RSA of 1024 bits",
      () => ({ issuer: "r", privateKey: rsaKey(1024).pem }),
      "privateKey: RSA key of 1024 bits is too small, at least 2048 expected",
    ],
    [
      "secp256k1",
      () => ({
        issuer: "r",
        privateKey: generateKeyPairSync("ec", { namedCurve: "secp256k1" }).privateKey,
      }),
      "privateKey: EC curve secp256k1 is not supported, expected P-256, P-384 or P-521",
    ],
    ["lifetime under 60", () => ({ issuer: "r", privateKey: key.pem, lifetime: 59 }), "lifetime: "],
    [
      "lifetime over a day",
      () => ({ issuer: "r", privateKey: key.pem, lifetime: 86_401 }),
      "lifetime: ",
    ],
    [
      "fractional lifetime",
      () => ({ issuer: "r", privateKey: key.pem, lifetime: 90.5 }),
      "lifetime: ",
    ],
    ["keyId typo", () => ({ issuer: "r", privateKey: key.pem, keyId: "jwk" }), "keyId: "],
    [
      'keyId "none" without x5c',
      () => ({ issuer: "r", privateKey: key.pem, keyId: "none" }),
      'keyId: "none" needs x5c: true, else the registry cannot find the signing key',
    ],
    [
      "x5c without certificateChain",
      () => ({ issuer: "r", privateKey: key.pem, x5c: true }),
      "x5c: true needs certificateChain",
    ],
    [
      "certificateChain without certificates",
      () => ({ issuer: "r", privateKey: key.pem, certificateChain: "nothing here" }),
      "certificateChain: no PEM CERTIFICATE block found",
    ],
    [
      "certificateChain with a broken certificate",
      () => ({
        issuer: "r",
        privateKey: key.pem,
        certificateChain: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
      }),
      "certificateChain: certificate 0 does not parse",
    ],
    ["clock not a function", () => ({ issuer: "r", privateKey: key.pem, clock: 5 }), "clock: "],
  ];

  test.each(cases)("%s", (_name, options, message) => {
    const error = configError(options());
    expect(error.code).toBe("ERR_CONFIG_INVALID");
    expect(error.message.slice(0, message.length)).toBe(message);
  });

  test("messages never quote key material", () => {
    const pem = key.publicKey.export({ type: "spki", format: "pem" }) as string;
    const body = pem.split("\n")[1] ?? "";
    const error = configError({ issuer: "r", privateKey: pem });
    expect(error.message).not.toContain(body.slice(0, 16));
    const broken = configError({ issuer: "r", privateKey: `${key.pem.slice(0, 120)}\n` });
    expect(broken.message).not.toContain("MI");
  });
});
