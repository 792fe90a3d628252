import { calculateJwkThumbprint, type JWK } from "jose";
import { describe, expect, test } from "vitest";
import { thumbprintKeyId } from "../src/index.js";
import { ecKey, rsaKey } from "./support/pki.js";

describe("thumbprintKeyId", () => {
  test("two different P-256 keys give two different kids (docker_auth / distribution 3.0.0 bug)", () => {
    const a = ecKey("P-256");
    const b = ecKey("P-256");
    expect(thumbprintKeyId(a.publicKey)).not.toBe(thumbprintKeyId(b.publicKey));
  });

  test("equals jose's RFC 7638 thumbprint for P-256, P-384, P-521 and RSA", async () => {
    for (const key of [ecKey("P-256"), ecKey("P-384"), ecKey("P-521"), rsaKey()]) {
      const jwk = key.publicKey.export({ format: "jwk" }) as JWK;
      expect(thumbprintKeyId(key.publicKey)).toBe(await calculateJwkThumbprint(jwk, "sha256"));
    }
  });

  test("is 43 base64url characters", () => {
    expect(thumbprintKeyId(ecKey().publicKey)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("ignores private members and extra members of a JWK", () => {
    const key = ecKey();
    const jwk = { ...key.privateKey.export({ format: "jwk" }), kid: "x", use: "sig" } as JWK;
    expect(thumbprintKeyId(jwk)).toBe(thumbprintKeyId(key.publicKey));
    expect(thumbprintKeyId(key.privateKey)).toBe(thumbprintKeyId(key.publicKey));
  });

  test("a non-key is a config error", () => {
    expect(() => thumbprintKeyId({} as JWK)).toThrowError(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message: "publicKey: expected a KeyObject or a JWK",
      }),
    );
  });
});
