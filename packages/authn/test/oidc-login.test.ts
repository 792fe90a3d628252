// Unit tests of @regauth/authn/oidc without a provider: options, claims, pages.
// The whole flow against a real provider and browser is test/e2e/oidc-registry-skopeo.test.ts.
import { describe, expect, it } from "vitest";
import {
  createMemoryRegistryPasswordStore,
  createOidcLogin,
  type OidcLoginOptions,
} from "../src/oidc/index.js";
import { evaluateClaims } from "../src/oidc/internal/claims.js";
import { escapeHtml } from "../src/oidc/internal/html.js";
import { passwordPage, shellQuote } from "../src/oidc/internal/pages.js";
import { hashPassword, sameHash } from "../src/oidc/internal/password.js";
import { createSealer } from "../src/oidc/internal/seal.js";

const OPTIONS: OidcLoginOptions = {
  issuer: "https://idp.example.com",
  clientId: "registry",
  baseUrl: "https://auth.example.com/oidc",
  cookieSecret: "0123456789abcdef0123456789abcdef",
  registryHost: "registry.example.com",
};
const RULES = { accountClaim: "email", labelClaims: { groups: "groups" }, allowedDomains: [] };

describe("createOidcLogin options", () => {
  it.each([
    [{ cookieSecret: "short" }, "cookieSecret: expected at least 32 characters of secret text"],
    [{ scopes: ["email"] }, "scopes: must include openid"],
    [{ authorizationParams: { state: "x" } }, "authorizationParams: cannot set"],
    [{ allowedDomains: ["Example.com"] }, "allowedDomains[0]: expected a lower-case domain"],
    [{ registryHost: "https://r" }, "registryHost: expected host or host:port"],
    [{ passwordLifetime: 10 }, "passwordLifetime:"],
    [{ nmae: "x" }, "nmae: unknown key"],
  ])("refuses %j", (change, message) => {
    expect(() => createOidcLogin({ ...OPTIONS, ...change } as OidcLoginOptions)).toThrow(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message: expect.stringContaining(message),
      }),
    );
  });

  it("answers 404 off its paths, 405 for other methods, and serves the sign-in page", async () => {
    const { handler } = createOidcLogin(OPTIONS);
    expect((await handler(new Request("https://auth.example.com/oidc/nope"))).status).toBe(404);
    const post = await handler(
      new Request("https://auth.example.com/oidc/login", { method: "POST" }),
    );
    expect(post.status).toBe(405);
    const home = await handler(new Request("https://auth.example.com/oidc/"));
    expect(home.status).toBe(200);
    expect(home.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(home.headers.get("cache-control")).toBe("no-store");
    expect(await home.text()).toContain('href="/oidc/login"');
  });

  it("refuses a callback without a sign-in in progress, and a sign-out without a session", async () => {
    const { handler } = createOidcLogin(OPTIONS);
    const callback = await handler(
      new Request("https://auth.example.com/oidc/callback?code=c&state=s"),
    );
    expect(callback.status).toBe(400);
    expect(await callback.text()).toContain('data-reason="login_expired"');
    const signOut = await handler(
      new Request("https://auth.example.com/oidc/signout", {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          origin: "https://evil.test",
        },
        body: "csrf=x",
      }),
    );
    expect(signOut.status).toBe(403);
  });

  it("answers no-match for passwords that are not its own, and for unknown accounts", async () => {
    const { authenticator } = createOidcLogin(OPTIONS);
    const ask = (account: string, password: string) =>
      authenticator.authenticate({ account, password, service: "s", clientIp: undefined });
    expect(await ask("alice@example.com", "hunter2")).toEqual({ result: "no-match" });
    expect(await ask("alice@example.com", "rgo_x")).toEqual({ result: "no-match" });
    expect(await ask("", "")).toEqual({ result: "no-match" });
  });
});

describe("the sign-in's authenticator lookup (a refresh token's account)", () => {
  it("allows an account while it holds a registry password, with its newest labels; then no-match", async () => {
    const store = createMemoryRegistryPasswordStore();
    const { authenticator, revokeAccount } = createOidcLogin({ ...OPTIONS, store });
    const now = Date.now();
    const record = (id: string, checkedAt: number, groups: string[]) => ({
      id,
      account: "alice@example.com",
      hash: `hash-${id}`,
      labels: { groups },
      subject: "sub-alice",
      issuedAt: checkedAt,
      expiresAt: now + 3_600_000,
      checkedAt,
    });
    await store.save(record("old", now - 2000, ["dev"]));
    await store.save(record("new", now - 1000, ["dev", "qa"]));
    const lookup = (account: string) =>
      authenticator.lookup?.({ account, service: "s", clientIp: undefined });
    expect(await lookup("alice@example.com")).toEqual({
      result: "allow",
      labels: { groups: ["dev", "qa"] },
    });
    expect(await lookup("bob@example.com")).toEqual({ result: "no-match" });
    await revokeAccount("alice@example.com");
    expect(await lookup("alice@example.com")).toEqual({ result: "no-match" });
    await store.close?.();
  });
});

describe("evaluateClaims", () => {
  it("takes a verified email and string or array labels", () => {
    expect(
      evaluateClaims({ email: "a@x.org", email_verified: true, groups: "dev" }, RULES),
    ).toEqual({
      ok: true,
      account: "a@x.org",
      labels: { groups: ["dev"] },
    });
    expect(
      evaluateClaims({ email: "a@x.org", email_verified: true, groups: ["a", 1, "b"] }, RULES),
    ).toEqual({
      ok: true,
      account: "a@x.org",
      labels: { groups: ["a", "b"] },
    });
  });

  it.each([
    [{ email: "a@x.org", email_verified: false }, "email_unverified"],
    [{ email: "a@x.org" }, "email_unverified"],
    [{ email_verified: true }, "account_missing"],
    [{ email: "a:b@x.org", email_verified: true }, "account_missing"],
    [{ email: "a\n@x.org", email_verified: true }, "account_missing"],
  ])("refuses %j", (claims, reason) => {
    expect(evaluateClaims(claims, RULES)).toEqual({ ok: false, reason });
  });

  it("checks allowed domains by hd or the verified email's domain", () => {
    const rules = { ...RULES, allowedDomains: ["example.com"] };
    expect(evaluateClaims({ email: "a@Example.COM", email_verified: true }, rules).ok).toBe(true);
    expect(
      evaluateClaims({ email: "a@other.org", email_verified: true, hd: "example.com" }, rules).ok,
    ).toBe(true);
    expect(evaluateClaims({ email: "a@other.org", email_verified: true }, rules)).toEqual({
      ok: false,
      reason: "domain_not_allowed",
    });
  });
});

describe("pages and secrets", () => {
  it("escapes every provider value", () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
    const text = passwordPage({
      account: "<b>x</b>@example.com",
      password: "rgo_abc",
      registryHost: "registry.example.com",
      expiresAt: new Date(0),
      labels: { groups: ['"><script>alert(1)</script>'] },
      signOutPath: "/oidc/signout",
      csrf: '"x',
    });
    expect(text).not.toContain("<script>alert");
    expect(text).not.toContain("<b>x</b>");
    expect(text).toContain("&lt;script&gt;");
    expect(text).toContain('value="&quot;x"');
  });

  it("quotes the account for the shell", () => {
    expect(shellQuote("alice@example.com")).toBe("alice@example.com");
    expect(shellQuote("o'neil $(id)")).toBe(`'o'\\''neil $(id)'`);
  });

  it("hashes with SHA-256 and compares in constant time", () => {
    expect(hashPassword("rgo_x")).toHaveLength(43);
    expect(sameHash(hashPassword("rgo_x"), hashPassword("rgo_x"))).toBe(true);
    expect(sameHash(hashPassword("rgo_x"), hashPassword("rgo_y"))).toBe(false);
  });

  it("seals values that only the same secret and purpose open", () => {
    const sealed = createSealer("s".repeat(32), "cookie").seal("hello");
    expect(createSealer("s".repeat(32), "cookie").open(sealed)).toBe("hello");
    expect(createSealer("s".repeat(32), "refresh-token").open(sealed)).toBeUndefined();
    expect(createSealer("t".repeat(32), "cookie").open(sealed)).toBeUndefined();
    expect(createSealer("s".repeat(32), "cookie").open(`${sealed.slice(0, -2)}AA`)).toBeUndefined();
  });
});
