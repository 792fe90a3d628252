import { createPrivateKey, createPublicKey } from "node:crypto";
import { describe, expect, test } from "vitest";
import { createTokenIssuer, type GeneratedKeyAlgorithm, generateSigningKey } from "../src/index.js";

describe("generateSigningKey", () => {
  test("defaults to an ES256 (P-256) key", async () => {
    const key = await generateSigningKey();
    expect(key.algorithm).toBe("ES256");
    expect(createPrivateKey(key.privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  test.each(["ES256", "ES384", "ES512", "RS256"] as const)(
    "%s: PKCS#8 and SPKI PEM that createTokenIssuer signs with",
    async (algorithm: GeneratedKeyAlgorithm) => {
      const key = await generateSigningKey({ algorithm });
      expect(key.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(key.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      const issuer = createTokenIssuer({ issuer: "r", privateKey: key.privateKeyPem });
      expect(issuer.algorithm).toBe(algorithm);
      expect(issuer.publicKey.equals(createPublicKey(key.publicKeyPem))).toBe(true);
    },
  );

  test("an unknown algorithm is a config error", async () => {
    await expect(
      generateSigningKey({ algorithm: "EdDSA" as GeneratedKeyAlgorithm }),
    ).rejects.toMatchObject({
      code: "ERR_CONFIG_INVALID",
      message: expect.stringMatching(/^algorithm: /),
    });
  });
});
