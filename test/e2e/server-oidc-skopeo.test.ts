// End to end: `regauth serve CONFIG` with an `oidc_auth` section (issue 9) serves
// the sign-in pages beside /auth. A user signs in at panva's oidc-provider in
// headless Chromium, gets a registry password from the page, and skopeo pushes
// through docker-registry 2.8 with it; its groups claim is a label the ACL reads.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hashPassword } from "@regauth/authn";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import { startTestProvider, type TestProvider } from "../support/oidc-provider.js";
import { checkPeers } from "../support/peers.js";
import { freePort } from "../support/ports.js";
import { type RegauthServe, startRegauthServe } from "../support/regauth-cli.js";
import { type RunningRegistry, startRegistry } from "../support/registry.js";
import { createSigningMaterial } from "../support/signing.js";
import { createSkopeo, type Skopeo } from "../support/skopeo.js";

const peers = checkPeers("docker-registry", "skopeo", "openssl", "chromium");
const SERVICE = "registry.oidc-serve.test";
const ISSUER = "regauth-oidc-serve-e2e";

describe.skipIf(!peers.ok)("regauth serve with oidc_auth + registry 2.8 + skopeo", () => {
  const cleanup = new Cleanup();
  let server: RegauthServe;
  let registry: RunningRegistry;
  let provider: TestProvider;
  let browser: Browser;
  let skopeo: Skopeo;
  let image: OciImage;
  let pages: string;
  const why = () =>
    `\n--- regauth ---\n${server.log().slice(-3000)}\n${skopeo?.lastOutput() ?? ""}`;

  beforeAll(async () => {
    const root = await cleanup.tempDir("server-oidc-");
    for (const sub of ["signing", "registry", "skopeo", "work"]) await mkdir(join(root, sub));
    const signing = await createSigningMaterial(join(root, "signing"));
    const port = await freePort();
    pages = `http://127.0.0.1:${port}/oidc_auth`;
    provider = await startTestProvider({
      cleanup,
      accounts: {
        alice: { email: "alice@example.com", email_verified: true, groups: ["builders"] },
        mallory: { email: "mallory@evil.test", email_verified: true, groups: ["builders"] },
      },
      redirectUri: `${pages}/callback`,
    });
    registry = await startRegistry({
      dir: join(root, "registry"),
      realm: `http://127.0.0.1:${port}/auth`,
      service: SERVICE,
      issuer: ISSUER,
      rootCertBundlePath: signing.certificatePath,
    });
    cleanup.defer(() => registry.stop());
    await writeFile(join(root, "cookie.secret"), "e2e-cookie-secret-0123456789abcdefghijkl\n");
    const configPath = join(root, "auth_config.yml");
    await writeFile(
      configPath,
      `server:
  addr: "127.0.0.1:${port}"
token:
  issuer: "${ISSUER}"
  certificate: ${signing.certificatePath}
  key: ${signing.keyPath}
users:
  admin: {password: "${await hashPassword("admin-oidc-password", 4)}"}
oidc_auth:
  issuer: ${provider.issuer}
  client_id: ${provider.clientId}
  client_secret: "\${OIDC_CLIENT_SECRET}"
  base_url: http://127.0.0.1:${port}
  cookie_secret_file: cookie.secret
  registry_url: ${registry.host}
  scopes: [openid, email, groups, offline_access]
  labels_claims: [groups]
  allowed_domains: [example.com]
  provider_name: Example SSO
  allow_insecure_http: true
acl:
  - match: {labels: {groups: builders}}
    actions: ["*"]
  - match: {account: admin}
    actions: ["*"]
`,
    );
    server = await startRegauthServe({
      cleanup,
      configPath,
      env: { OIDC_CLIENT_SECRET: provider.clientSecret },
    });
    browser = await chromium.launch({
      executablePath: peers.paths.chromium ?? "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
    cleanup.defer(() => browser.close());
    skopeo = await createSkopeo(join(root, "skopeo"));
    image = await buildOciImage(join(root, "work", "source"));
  });
  afterAll(() => cleanup.run());

  async function signIn(user: string) {
    const context = await browser.newContext();
    cleanup.defer(() => context.close());
    const page = await context.newPage();
    await page.goto(`${pages}/`);
    await page.getByRole("link", { name: /Sign in with Example SSO/ }).click();
    await page.waitForSelector('input[name="login"]');
    await page.fill('input[name="login"]', user);
    await page.fill('input[name="password"]', "any-password");
    await Promise.all([
      page.waitForURL((url) => url.pathname.startsWith("/oidc_auth/callback")),
      page.click('button[type="submit"]'),
    ]);
    return page;
  }

  it("prints where the sign-in pages are", () => {
    expect(server.log()).toContain(`sign-in pages (oidc_auth) at ${pages}/`);
  });

  it("signs in in a browser and skopeo pushes with the password shown", async () => {
    const page = await signIn("alice");
    expect(await page.locator("main").getAttribute("data-page"), why()).toBe("password");
    const password = (await page.locator("[data-password]").textContent())?.trim() ?? "";
    expect(password).toMatch(/^rgo_[A-Za-z0-9_-]{43}$/);
    const creds = { username: "alice@example.com", password };
    const ref = `docker://${registry.host}/team/app:latest`;
    const pushed = await skopeo.copy(image.reference, ref, { destCreds: creds });
    expect(pushed.code, why()).toBe(0);
    const inspected = await skopeo.inspect(ref, creds);
    expect(inspected.digest, why()).toBe(image.manifestDigest);
    // The static users still log in: the OIDC authenticator only answers for its passwords.
    const admin = await skopeo.inspect(ref, { username: "admin", password: "admin-oidc-password" });
    expect(admin.digest, why()).toBe(image.manifestDigest);
  });

  it("refuses a user outside allowed_domains", async () => {
    const page = await signIn("mallory");
    expect(await page.locator("[data-reason]").getAttribute("data-reason")).toBe(
      "domain_not_allowed",
    );
  });
});
