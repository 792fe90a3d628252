import { verify } from "@node-rs/bcrypt";
import { RegauthError } from "@regauth/core";
import { describe, expect, it } from "vitest";
import { createStaticAuthenticator, DEFAULT_BCRYPT_COST, hashPassword } from "../src/index.js";

async function rejection(promise: Promise<unknown>): Promise<RegauthError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegauthError);
  return error as RegauthError;
}

describe("hashPassword", () => {
  it("writes a $2b$ hash of the given cost that verifies the password and no other", async () => {
    const hash = await hashPassword("s3cret", 4);
    expect(hash).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    expect(await verify("s3cret", hash)).toBe(true);
    expect(await verify("s3cret ", hash)).toBe(false);
  });

  it("uses cost 10 by default", async () => {
    expect(DEFAULT_BCRYPT_COST).toBe(10);
    expect((await hashPassword("s3cret")).startsWith("$2b$10$")).toBe(true);
  });

  it("salts every hash", async () => {
    const [a, b] = await Promise.all([hashPassword("same", 4), hashPassword("same", 4)]);
    expect(a).not.toBe(b);
  });

  it("hashes passwords with ':' and non-ASCII text, usable by the static users", async () => {
    const password = "pa:ss wörd 🔑";
    const authenticator = createStaticAuthenticator({
      users: { alice: { password: await hashPassword(password, 4) } },
    });
    const ask = (p: string) =>
      authenticator.authenticate({
        account: "alice",
        password: p,
        service: "s",
        clientIp: undefined,
      });
    expect((await ask(password)).result).toBe("allow");
    expect((await ask("pa:ss word 🔑")).result).toBe("deny");
  });

  it("counts only the first 72 bytes, as documented", async () => {
    const hash = await hashPassword("x".repeat(72), 4);
    expect(await verify(`${"x".repeat(72)}anything`, hash)).toBe(true);
    expect(await verify("x".repeat(71), hash)).toBe(false);
  });

  it.each([3, 32, 4.5, Number.NaN, -1])("refuses cost %s with ERR_CONFIG_INVALID", async (cost) => {
    const error = await rejection(hashPassword("s3cret", cost));
    expect(error.code).toBe("ERR_CONFIG_INVALID");
    expect(error.message).toBe(`cost: expected an integer from 4 to 31, got ${cost}`);
  });

  it("refuses an empty password with ERR_CONFIG_INVALID", async () => {
    const error = await rejection(hashPassword("", 4));
    expect(error.code).toBe("ERR_CONFIG_INVALID");
    expect(error.message).toBe("password: must not be empty");
  });
});
