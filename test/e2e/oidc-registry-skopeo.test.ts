// End to end: sign in with OpenID Connect (panva's oidc-provider on loopback)
// in headless Chromium driven by playwright-core, get a registry password from
// @regauth/authn/oidc, and push with skopeo through docker-registry 2.8 with it.
// Also the refusals: wrong state, replayed code, wrong audience, expired ID
// token, unverified email, disallowed domain, revoked password, a user disabled
// at the provider, HTML injection in a claim.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createOidcLogin, type OidcLogin } from "@regauth/authn/oidc";
import { createAclAuthorizer } from "@regauth/authz";
import { type Authenticator, createTokenHandler } from "@regauth/core";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { createTokenIssuer } from "@regauth/token";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import {
  startTestProvider,
  type TestAccount,
  type TestProvider,
} from "../support/oidc-provider.js";
import { checkPeers, repoRoot } from "../support/peers.js";
import { type Stack, startStack } from "../support/stack.js";

const peers = checkPeers("docker-registry", "skopeo", "openssl", "chromium");

const ACCOUNTS: Record<string, TestAccount> = {
  alice: { email: "alice@example.com", email_verified: true, groups: ["builders", "qa"] },
  bob: { email: "bob@example.com", email_verified: true, groups: "builders" },
  carol: { email: "carol@example.com", email_verified: false, groups: ["builders"] },
  mallory: { email: "mallory@evil.test", email_verified: true, groups: ["builders"] },
  dave: {
    email: "dave@example.com",
    email_verified: true,
    groups: ["<script>document.title='pwned'</script>", `"><img src=x onerror=alert(1)>`],
  },
  eve: { email: "eve@corp.example", email_verified: true, hd: "example.com", groups: ["builders"] },
  frank: { email: "frank@example.com", email_verified: true, groups: ["builders"] },
};

const ACL = [
  { match: { labels: { groups: "builders" } }, actions: ["*"], comment: "builders push" },
  { match: { account: "/.+/" }, actions: ["pull"], comment: "everyone signed in pulls" },
];

const IMAGES = join(repoRoot, "docs", "images");

/** Writes `page` to docs/images only when asked (REGAUTH_SCREENSHOTS=1), so test runs leave the tree clean. */
async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.REGAUTH_SCREENSHOTS !== "1") return;
  await mkdir(IMAGES, { recursive: true });
  await page.screenshot({ path: join(IMAGES, name), fullPage: true });
}

describe.skipIf(!peers.ok)("OpenID Connect sign-in + registry 2.8 + skopeo", () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  let provider: TestProvider;
  let login: OidcLogin;
  let browser: Browser;
  let image: OciImage;
  let oidcBase: string;
  /** Added to the relying party's clock, in milliseconds, to reach a re-check. */
  let clockOffset = 0;
  /** Rewrites the claims of the next ID token the provider returns (re-signed with its key). */
  let tamper: ((claims: Record<string, unknown>) => Record<string, unknown>) | undefined;

  /** The relying party's fetch: the real one, with the ID token rewritten while `tamper` is set. */
  const rpFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const rewrite = tamper;
    const url = String(input instanceof Request ? input.url : input);
    if (rewrite === undefined || !url.endsWith("/token") || !response.ok) return response;
    const body = (await response.json()) as Record<string, unknown>;
    const payload = String(body.id_token).split(".")[1] ?? "";
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    body.id_token = await provider.signIdToken(rewrite(claims));
    const headers = new Headers(response.headers);
    headers.delete("content-length");
    return new Response(JSON.stringify(body), { status: response.status, headers });
  };

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
    cleanup.defer(() => context.close());
    return context;
  }

  /** Signs in as `user` at the provider's login form, from our sign-in page; returns the page after the callback. */
  async function signIn(user: string, shots = false): Promise<Page> {
    const page = await (await newContext()).newPage();
    await page.goto(`${oidcBase}/`);
    if (shots) await screenshot(page, "oidc-sign-in.png");
    await page.getByRole("link", { name: /Sign in with/ }).click();
    await page.waitForSelector('input[name="login"]');
    await page.fill('input[name="login"]', user);
    await page.fill('input[name="password"]', "any-password");
    if (shots) await screenshot(page, "oidc-provider-login.png");
    await Promise.all([
      page.waitForURL((url) => url.pathname.startsWith("/oidc/callback")),
      page.click('button[type="submit"]'),
    ]);
    return page;
  }

  /** Set while a test wants the next callback held back: the token server records it and answers 204. */
  let holdCallback: ((url: string, cookie: string) => void) | undefined;

  /** Signs in as `user` but holds the callback back: returns its URL and the browser's cookie header. */
  async function signInUntilCallback(user: string): Promise<{ url: string; cookie: string }> {
    const page = await (await newContext()).newPage();
    const held = new Promise<{ url: string; cookie: string }>((resolve) => {
      holdCallback = (url, cookie) => resolve({ url, cookie });
    });
    try {
      await page.goto(`${oidcBase}/login`);
      await page.fill('input[name="login"]', user);
      await page.fill('input[name="password"]', "any-password");
      await page.click('button[type="submit"]');
      return await held;
    } finally {
      holdCallback = undefined;
    }
  }

  const callbackWith = (url: string, cookie: string) => fetch(url, { headers: { cookie } });

  async function passwordOf(page: Page): Promise<string> {
    return (await page.locator("[data-password]").textContent())?.trim() ?? "";
  }

  beforeAll(async () => {
    let oidc: OidcLogin | undefined;
    // The token handler asks this, which forwards to the OIDC login made once the port is known.
    const forward: Authenticator = {
      name: "oidc",
      authenticate: (request) => {
        if (oidc === undefined) throw new Error("oidc login not ready");
        return oidc.authenticator.authenticate(request);
      },
    };
    stack = await startStack({
      cleanup,
      tokenServer: { extraPathPrefix: "/oidc" },
      createHandler: ({ signing, service, issuer }) => {
        const tokens = createTokenHandler({
          authenticators: [forward],
          authorizers: [createAclAuthorizer({ acl: ACL })],
          issuer: createTokenIssuer({ issuer, privateKey: signing.privateKeyPem }),
          services: [service],
          credentialCacheTtl: 0,
        });
        return (request, context) => {
          const { pathname } = new URL(request.url);
          if (pathname === "/oidc/callback" && holdCallback !== undefined) {
            holdCallback(request.url, request.headers.get("cookie") ?? "");
            return Promise.resolve(new Response(null, { status: 204 }));
          }
          if (pathname.startsWith("/oidc")) {
            if (oidc === undefined) throw new Error("oidc login not ready");
            return oidc.handler(request);
          }
          return tokens(request, context);
        };
      },
    });
    oidcBase = `${stack.tokens.origin}/oidc`;
    provider = await startTestProvider({
      cleanup,
      accounts: ACCOUNTS,
      redirectUri: `${oidcBase}/callback`,
    });
    login = createOidcLogin({
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      baseUrl: oidcBase,
      cookieSecret: "e2e-cookie-secret-0123456789abcdefghijkl",
      registryHost: stack.registry.host,
      scopes: ["openid", "email", "groups", "offline_access"],
      labelClaims: { groups: "groups" },
      allowedDomains: ["example.com"],
      providerName: "Example SSO",
      allowInsecureHttp: true,
      fetch: rpFetch,
      clock: () => Date.now() + clockOffset,
    });
    oidc = login;
    cleanup.defer(() => login.close());
    browser = await chromium.launch({
      executablePath: peers.paths.chromium ?? "/usr/bin/chromium",
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    cleanup.defer(() => browser.close());
    image = await buildOciImage(join(stack.workDir, "source"));
  });
  afterAll(() => cleanup.run());

  it("signs in in a browser, shows the password once with the docker login line, and skopeo pushes with it", async () => {
    const page = await signIn("alice", true);
    expect(await page.locator("main").getAttribute("data-page")).toBe("password");
    await screenshot(page, "oidc-password.png");
    const password = await passwordOf(page);
    expect(password).toMatch(/^rgo_[A-Za-z0-9_-]{43}$/);
    expect(await page.locator("[data-account]").textContent()).toBe("alice@example.com");
    expect(await page.locator("[data-docker-login]").textContent()).toBe(
      `echo ${password} | docker login --username alice@example.com --password-stdin ${stack.registry.host}`,
    );

    const creds = { username: "alice@example.com", password };
    const pushed = await stack.skopeo.copy(image.reference, stack.imageRef("team/app"), {
      destCreds: creds,
    });
    expect(pushed.code, stack.diagnostics()).toBe(0);
    const inspected = await stack.skopeo.inspect(stack.imageRef("team/app"), creds);
    expect(inspected.digest, stack.diagnostics()).toMatch(/^sha256:/);

    // Shown once: reloading the callback does not show it again.
    const again = await page.reload();
    expect(again?.status()).toBe(400);
    expect(await page.locator("[data-reason]").getAttribute("data-reason")).toBe("login_expired");
  });

  it("turns a string label claim into one label value", async () => {
    const page = await signIn("bob");
    const password = await passwordOf(page);
    const fetched = await stack.fetchToken({ username: "bob@example.com", password }, [
      "repository:team/app:pull,push",
    ]);
    expect(fetched.status).toBe(200);
    expect(fetched.claims?.access).toEqual([
      { type: "repository", name: "team/app", actions: ["pull", "push"] },
    ]);
    expect(await page.locator("main ul li").allTextContents()).toEqual(["groups: builders"]);
  });

  it("refuses a callback whose state is not this browser's", async () => {
    const { url, cookie } = await signInUntilCallback("alice");
    const forged = new URL(url);
    forged.searchParams.set("state", "forged-state");
    const response = await callbackWith(forged.href, cookie);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('data-reason="state_mismatch"');
  });

  it("refuses a replayed code", async () => {
    const { url, cookie } = await signInUntilCallback("alice");
    const first = await callbackWith(url, cookie);
    expect(first.status).toBe(200);
    const replay = await callbackWith(url, cookie);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('data-reason="grant_failed"');
  });

  it("accepts an ID token re-signed unchanged (the control for the two tampering cases)", async () => {
    const { url, cookie } = await signInUntilCallback("alice");
    tamper = (claims) => claims;
    try {
      const response = await callbackWith(url, cookie);
      expect(response.status).toBe(200);
    } finally {
      tamper = undefined;
    }
  });

  it("refuses an ID token for another audience", async () => {
    const { url, cookie } = await signInUntilCallback("alice");
    tamper = (claims) => ({ ...claims, aud: "some-other-client" });
    try {
      const response = await callbackWith(url, cookie);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('data-reason="id_token_invalid"');
    } finally {
      tamper = undefined;
    }
  });

  it("refuses an expired ID token", async () => {
    const { url, cookie } = await signInUntilCallback("alice");
    const now = Math.floor(Date.now() / 1000);
    tamper = (claims) => ({ ...claims, iat: now - 7200, exp: now - 3600 });
    try {
      const response = await callbackWith(url, cookie);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('data-reason="id_token_invalid"');
    } finally {
      tamper = undefined;
    }
  });

  it("refuses an unverified email", async () => {
    const page = await signIn("carol");
    expect(await page.locator("[data-reason]").getAttribute("data-reason")).toBe(
      "email_unverified",
    );
    await screenshot(page, "oidc-refused.png");
  });

  it("refuses a domain that is not allowed, and accepts one by its hd claim", async () => {
    const refused = await signIn("mallory");
    expect(await refused.locator("[data-reason]").getAttribute("data-reason")).toBe(
      "domain_not_allowed",
    );
    const accepted = await signIn("eve");
    expect(await accepted.locator("main").getAttribute("data-page")).toBe("password");
  });

  it("escapes HTML in claims", async () => {
    const page = await signIn("dave");
    expect(await page.locator("main").getAttribute("data-page")).toBe("password");
    expect(await page.title()).toBe("Your registry password");
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.locator("main script").count()).toBe(0);
    const items = await page.locator("main ul li").allTextContents();
    expect(items).toEqual([
      `groups: <script>document.title='pwned'</script>, "><img src=x onerror=alert(1)>`,
    ]);
  });

  it("revokes the passwords at sign-out (POST with the form token only)", async () => {
    const page = await signIn("frank");
    const password = await passwordOf(page);
    const creds = { username: "frank@example.com", password };
    expect((await stack.fetchToken(creds, [])).status).toBe(200);

    const forged = await fetch(`${oidcBase}/signout`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "csrf=guess",
    });
    expect(forged.status).toBe(403);
    expect((await stack.fetchToken(creds, [])).status).toBe(200);

    await page.getByRole("button", { name: /Sign out/ }).click();
    expect(await page.locator("main").getAttribute("data-page")).toBe("signed-out");
    expect((await stack.fetchToken(creds, [])).status).toBe(401);
    const pushed = await stack.skopeo.copy(image.reference, stack.imageRef("team/frank"), {
      destCreds: creds,
    });
    expect(pushed.code).not.toBe(0);
  });

  it("re-checks the user at the provider: still accepted, then disabled loses access", async () => {
    const page = await signIn("alice");
    const creds = { username: "alice@example.com", password: await passwordOf(page) };
    clockOffset = 2 * 3600 * 1000; // past the re-check interval
    try {
      expect((await stack.fetchToken(creds, ["repository:team/app:push"])).status).toBe(200);
      clockOffset = 4 * 3600 * 1000;
      provider.disable("alice");
      expect((await stack.fetchToken(creds, ["repository:team/app:push"])).status).toBe(401);
      const pushed = await stack.skopeo.copy(image.reference, stack.imageRef("team/alice"), {
        destCreds: creds,
      });
      expect(pushed.code).not.toBe(0);
    } finally {
      clockOffset = 0;
    }
  });
});
