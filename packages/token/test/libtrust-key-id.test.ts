import { createPublicKey, createSecretKey } from "node:crypto";
import { describe, expect, test } from "vitest";
import { libtrustKeyId } from "../src/index.js";
import { ecKey, rsaKey } from "./support/pki.js";

const VECTOR_JWK = {
  kty: "EC",
  crv: "P-256",
  x: "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q",
  y: "dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc",
};
const VECTOR_KID = "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6";
const KID_FORMAT = /^[A-Z2-7]{4}(?::[A-Z2-7]{4}){11}$/;

describe("libtrustKeyId", () => {
  test("protocol.md §3 test vector: P-256 key m7zU.../dU3b... is PYYO:TEWU:...:Z7Q6", () => {
    expect(libtrustKeyId(VECTOR_JWK)).toBe(VECTOR_KID);
  });

  test("a KeyObject of the vector key gives the same ID", () => {
    expect(libtrustKeyId(createPublicKey({ key: VECTOR_JWK, format: "jwk" }))).toBe(VECTOR_KID);
  });

  test("a private key gives the ID of its public half", () => {
    const key = ecKey();
    expect(libtrustKeyId(key.privateKey)).toBe(libtrustKeyId(key.publicKey));
    const jwk = key.privateKey.export({ format: "jwk" });
    expect(libtrustKeyId(jwk)).toBe(libtrustKeyId(key.publicKey));
  });

  test("is 12 groups of 4 base32 characters for EC and RSA keys", () => {
    for (const key of [ecKey("P-384"), ecKey("P-521"), rsaKey()]) {
      expect(libtrustKeyId(key.publicKey)).toMatch(KID_FORMAT);
    }
  });

  test("two keys give two IDs", () => {
    expect(libtrustKeyId(ecKey().publicKey)).not.toBe(libtrustKeyId(ecKey().publicKey));
  });

  test("a secret key is a config error", () => {
    expect(() => libtrustKeyId(createSecretKey(Buffer.alloc(32)))).toThrowError(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message: "publicKey: a secret key was given, expected an asymmetric key",
      }),
    );
  });

  test("a malformed JWK is a config error", () => {
    expect(() => libtrustKeyId({ kty: "EC", crv: "P-256", x: "AA", y: "AA" })).toThrowError(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message: expect.stringMatching(/^publicKey: /),
      }),
    );
  });
});
