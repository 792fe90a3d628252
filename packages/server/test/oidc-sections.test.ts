// oidc_auth and google_auth (sign-in at an OpenID Connect provider for registry
// passwords): loading, errors by path, building (chain position, pages served
// beside /auth, secret files, http_timeout, memory stores kept across a reload,
// the Redis store) and what `regauth check` prints.
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import {
  type ConfiguredHandler,
  createConfiguredHandler,
  type MemoryStores,
} from "../src/create-configured-handler.js";
import { loadConfig } from "../src/load-config.js";
import { keyDir, writeConfig } from "./support.js";

const REDIS_URL = process.env.REGAUTH_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const COOKIE_SECRET = "0123456789abcdef0123456789abcdef-cookie";
const ADMIN_HASH = "$2y$05$kpXjSNydfbBQPkdiKLcIheqPAL7YH6mmEbs6tkzN4KVC6ZKfGyX6y";

let dir: string;
let cleanup: () => Promise<void>;
/** An issuer that accepts connections and never answers. */
let silent: Server;
let silentUrl: string;
const opened: ConfiguredHandler[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await keyDir());
  silent = createServer(() => undefined);
  await new Promise<void>((done) => silent.listen(0, "127.0.0.1", done));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await Promise.all(opened.map((built) => built.close()));
  silent.closeAllConnections();
  await new Promise((done) => silent.close(done));
  await cleanup();
});

const config = (sections: string, prefix = "/registry-auth") => `
server: {addr: "127.0.0.1:5001", path_prefix: ${prefix}}
token: {issuer: acme, certificate: signing-cert.pem, key: signing-key.pem}
users:
  admin: {password: "${ADMIN_HASH}"}
acl: []
${sections}`;

const OIDC = `
oidc_auth:
  issuer: https://gitlab.example.com
  client_id: registry
  client_secret: "\${OIDC_CLIENT_SECRET}"
  base_url: https://auth.example.com/sso
  cookie_secret: "${COOKIE_SECRET}"
  registry_url: https://registry.example.com:5000
  scopes: [openid, email, groups]
  user_claim: preferred_username
  labels_claims: [groups]
  allowed_domains: [Example.com]
  password_lifetime: 168h
  recheck_interval: 15m
  http_timeout: 5s
`;

async function load(text: string, env: Record<string, string> = {}) {
  return loadConfig({ text, baseDir: dir }, { env });
}

async function build(text: string, memoryStores?: MemoryStores) {
  const built = await createConfiguredHandler(
    await load(text, { OIDC_CLIENT_SECRET: "s3cret" }),
    memoryStores === undefined ? {} : { memoryStores },
  );
  opened.push(built);
  return built;
}

async function configError(text: string, env: Record<string, string> = {}): Promise<string> {
  try {
    await load(text, env);
  } catch (error) {
    expect((error as { code: string }).code).toBe("ERR_CONFIG_INVALID");
    return (error as Error).message;
  }
  throw new Error("expected the config to be refused");
}

const GOOGLE = (extra = "") => `
google_auth:
  domain: example.com
  client_id: 1234.apps.googleusercontent.com
  client_secret: google-secret
  base_url: https://auth.example.com
  cookie_secret: "${COOKIE_SECRET}"
  registry_url: registry.example.com
${extra}`;

describe("loading oidc_auth and google_auth", () => {
  it("loads oidc_auth, with docker_auth's oidc_auth keys where they mean the same", async () => {
    const loaded = await load(config(OIDC), { OIDC_CLIENT_SECRET: "s3cret" });
    expect(loaded.oidcAuth).toEqual({
      section: "oidc_auth",
      issuer: "https://gitlab.example.com",
      clientId: "registry",
      clientSecret: "s3cret",
      clientSecretFile: undefined,
      baseUrl: "https://auth.example.com/sso",
      path: "/sso",
      redirectUri: "https://auth.example.com/sso/callback",
      cookieSecret: COOKIE_SECRET,
      cookieSecretFile: undefined,
      registryHost: "registry.example.com:5000",
      scopes: ["openid", "email", "groups"],
      authorizationParams: {},
      accountClaim: "preferred_username",
      labelClaims: { groups: "groups" },
      allowedDomains: ["example.com"],
      passwordLifetime: 604_800,
      recheckInterval: 900,
      maxPasswordsPerAccount: undefined,
      loginTimeout: undefined,
      sessionLifetime: undefined,
      providerName: undefined,
      allowInsecureHttp: false,
      httpTimeoutMs: 5_000,
      redis: undefined,
    });
    expect(loaded.googleAuth).toBeUndefined();
  });

  it("google_auth is oidc_auth with Google's issuer; domain, http_timeout in seconds", async () => {
    const loaded = await load(config(GOOGLE("  http_timeout: 20")));
    const google = loaded.googleAuth;
    expect(google).toMatchObject({
      section: "google_auth",
      issuer: "https://accounts.google.com",
      clientSecret: "google-secret",
      // An origin only: docker_auth's route under path_prefix.
      baseUrl: "https://auth.example.com/registry-auth/google_auth",
      path: "/registry-auth/google_auth",
      redirectUri: "https://auth.example.com/registry-auth/google_auth/callback",
      registryHost: "registry.example.com",
      allowedDomains: ["example.com"],
      // A refresh token from Google (for the re-check) and the hosted-domain hint.
      authorizationParams: { access_type: "offline", prompt: "consent", hd: "example.com" },
      providerName: "Google",
      httpTimeoutMs: 20_000,
    });
    const overridden = await load(
      config(GOOGLE('  authorization_params: {prompt: select_account}\n  http_timeout: "1m"')),
    );
    expect(overridden.googleAuth?.authorizationParams).toEqual({
      access_type: "offline",
      prompt: "select_account",
      hd: "example.com",
    });
    expect(overridden.googleAuth?.httpTimeoutMs).toBe(60_000);
  });

  it("labels_claims as a mapping of label to claim", async () => {
    const loaded = await load(
      config(
        OIDC.replace("labels_claims: [groups]", "labels_claims: {teams: groups, role: roles}"),
      ),
      { OIDC_CLIENT_SECRET: "x" },
    );
    expect(loaded.oidcAuth?.labelClaims).toEqual({ teams: "groups", role: "roles" });
  });

  it("an oidc_auth alone is enough authentication", async () => {
    const text = config(OIDC).replace(/users:\n {2}admin: .*\n/, "");
    const loaded = await load(text, { OIDC_CLIENT_SECRET: "x" });
    expect(loaded.users).toBeUndefined();
  });

  describe("errors name the path", () => {
    it("docker_auth keys that do not apply here, with what to write", async () => {
      expect(await configError(config(GOOGLE("  token_db: /data/google_auth.ldb")))).toBe(
        "google_auth.token_db: docker_auth's token_db (LevelDB) is not applicable: regauth keeps registry passwords (as SHA-256 hashes) in memory by default, or in Redis with redis: {url, key_prefix}; a docker_auth token database cannot be carried over, users sign in again",
      );
      expect(await configError(config(GOOGLE("  issuer: https://login.microsoftonline.com")))).toBe(
        "google_auth.issuer: google_auth always uses Google (https://accounts.google.com); use oidc_auth for another provider",
      );
      expect(
        await configError(config(`${OIDC}  redirect_url: https://auth.example.com/oidc_auth\n`), {
          OIDC_CLIENT_SECRET: "x",
        }),
      ).toMatch(/^oidc_auth\.redirect_url: docker_auth's redirect_url is not read: write base_url/);
      expect(
        await configError(config(`${OIDC}  redis_token_db: {redis_options: {addr: x}}\n`), {
          OIDC_CLIENT_SECRET: "x",
        }),
      ).toBe(
        "oidc_auth.redis_token_db: docker_auth's redis_token_db is not read: write redis: {url: redis://HOST:PORT, key_prefix: ...}",
      );
      expect(await configError(config("gitlab_auth: {client_id: x}"))).toMatch(
        /^gitlab_auth: docker_auth's gitlab_auth is not supported: write it as oidc_auth/,
      );
    });

    it("secrets: required, long enough, one of value or file, never printed", async () => {
      const noCookie = config(GOOGLE()).replace(/ {2}cookie_secret: .*\n/, "");
      expect(await configError(noCookie)).toMatch(
        /^google_auth\.cookie_secret: required \(or cookie_secret_file\): at least 32 characters/,
      );
      const short = await configError(config(GOOGLE()).replace(COOKIE_SECRET, "too-short-hunter2"));
      expect(short).toBe(
        "google_auth.cookie_secret: expected at least 32 characters of secret text",
      );
      expect(short).not.toContain("hunter2");
      expect(await configError(config(GOOGLE("  client_secret_file: google.secret")))).toBe(
        "google_auth.client_secret_file: give client_secret or client_secret_file, not both",
      );
      expect(await configError(config(OIDC))).toBe(
        "oidc_auth.client_secret: environment variable OIDC_CLIENT_SECRET is not set",
      );
    });

    it("required keys, URLs, scopes, domains, durations", async () => {
      const env = { OIDC_CLIENT_SECRET: "x" };
      expect(await configError(config(OIDC.replace(/ {2}issuer: .*\n/, "")), env)).toBe(
        "oidc_auth.issuer: required, expected the provider's issuer URL",
      );
      expect(await configError(config(OIDC.replace(/ {2}registry_url: .*\n/, "")), env)).toBe(
        "oidc_auth.registry_url: required, expected the registry's host, such as registry.example.com",
      );
      expect(
        await configError(
          config(OIDC.replace("https://registry.example.com:5000", "https://registry/v2/x")),
          env,
        ),
      ).toMatch(/^oidc_auth\.registry_url: expected the registry's host\[:port\] or URL/);
      expect(
        await configError(
          config(OIDC.replace("https://auth.example.com/sso", "auth.example.com")),
          env,
        ),
      ).toMatch(/^oidc_auth\.base_url: expected an http\(s\) URL/);
      expect(
        await configError(config(OIDC.replace("[openid, email, groups]", "[email]")), env),
      ).toBe("oidc_auth.scopes: must include openid");
      expect(
        await configError(config(OIDC.replace("[Example.com]", '["not a domain"]')), env),
      ).toBe("oidc_auth.allowed_domains[0]: expected a domain such as example.com");
      expect(
        await configError(config(OIDC.replace("http_timeout: 5s", "http_timeout: 5")), env),
      ).toBe(
        'oidc_auth.http_timeout: expected a duration such as "10s" or "1m" (a bare number is not one)',
      );
      expect(await configError(config(`${OIDC}  client_secrte: x\n`), env)).toBe(
        "oidc_auth.client_secrte: unknown key",
      );
      expect(await configError(config(GOOGLE("  allowed_domains: [example.org]")))).toBe(
        "google_auth.allowed_domains: give domain or allowed_domains, not both",
      );
    });

    it("the pages' path must not take the token endpoint's, nor the other section's", async () => {
      const env = { OIDC_CLIENT_SECRET: "x" };
      expect(
        await configError(
          config(
            OIDC.replace("https://auth.example.com/sso", "https://a.example/registry-auth/auth"),
          ),
          env,
        ),
      ).toBe(
        "oidc_auth.base_url: the sign-in pages cannot be at /registry-auth/auth: the token endpoint is at /registry-auth/auth; use another path, such as /registry-auth/oidc_auth",
      );
      expect(
        await configError(
          config(OIDC.replace("https://auth.example.com/sso", "https://a.example/registry-auth")),
          env,
        ),
      ).toMatch(/^oidc_auth\.base_url: the sign-in pages cannot be at \/registry-auth:/);
      expect(
        await configError(
          config(
            `${GOOGLE()}${OIDC.replace("https://auth.example.com/sso", "https://auth.example.com/registry-auth/google_auth")}`,
          ),
          env,
        ),
      ).toBe(
        "oidc_auth.base_url: the sign-in pages need another path than google_auth's (/registry-auth/google_auth)",
      );
    });
  });
});

describe("building oidc_auth and google_auth", () => {
  it("joins the chain after users and ext_auth (google_auth, then oidc_auth), as docker_auth", async () => {
    const built = await build(config(`${GOOGLE()}${OIDC}`));
    expect(built.authenticators.map((a) => a.name)).toEqual(["static", "google_auth", "oidc_auth"]);
    expect(built.oidcLogins.map(({ section, path }) => [section, path])).toEqual([
      ["google_auth", "/registry-auth/google_auth"],
      ["oidc_auth", "/sso"],
    ]);
    // Not one of its registry passwords: the next authenticator decides.
    const oidc = built.authenticators[2];
    expect(
      await oidc?.authenticate({
        account: "admin",
        password: "pw",
        service: "s",
        clientIp: undefined,
      }),
    ).toEqual({ result: "no-match" });
  });

  it("serves the sign-in pages beside the token endpoint", async () => {
    const built = await build(config(OIDC));
    const page = await built.handler(new Request("https://auth.example.com/sso/"));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("gitlab.example.com");
    const bare = await built.handler(new Request("https://auth.example.com/sso"));
    expect(bare.status).toBe(200);
    const token = await built.handler(
      new Request("https://auth.example.com/registry-auth/auth?service=reg"),
    );
    expect(token.status).toBe(401);
    expect((await built.handler(new Request("https://auth.example.com/ssox"))).status).toBe(404);
    expect((await built.handler(new Request("https://auth.example.com/sso/nope"))).status).toBe(
      404,
    );
  });

  it("bounds every call to the provider by http_timeout", async () => {
    const text = config(`
oidc_auth:
  issuer: ${silentUrl}
  client_id: registry
  base_url: http://127.0.0.1:5001/oidc
  cookie_secret: "${COOKIE_SECRET}"
  registry_url: 127.0.0.1:5000
  allow_insecure_http: true
  http_timeout: 300ms
`);
    const built = await build(text);
    const started = Date.now();
    const login = await built.handler(new Request("http://127.0.0.1:5001/oidc/login"));
    expect(login.status).toBe(503);
    expect(await login.text()).toContain("provider_unavailable");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("reads the secret files when built, naming the key of a bad one", async () => {
    await writeFile(join(dir, "client.secret"), "file-secret\n");
    await writeFile(join(dir, "cookie.secret"), `${COOKIE_SECRET}\n`);
    await writeFile(join(dir, "short.secret"), "short\n");
    const files = (cookie: string) =>
      config(
        GOOGLE().replace(
          /client_secret: google-secret\n(.*\n)*?( {2}cookie_secret: .*\n)/,
          (whole) =>
            whole
              .replace("client_secret: google-secret", "client_secret_file: client.secret")
              .replace(/cookie_secret: .*/, `cookie_secret_file: ${cookie}`),
        ),
      );
    const loaded = await load(files("cookie.secret"));
    expect(loaded.googleAuth?.clientSecretFile).toBe(join(dir, "client.secret"));
    const built = await build(files("cookie.secret"));
    expect(built.oidcLogins).toHaveLength(1);
    await expect(createConfiguredHandler(await load(files("short.secret")))).rejects.toThrow(
      /^google_auth\.cookie_secret_file: .*short\.secret holds fewer than 32 characters/,
    );
    await expect(createConfiguredHandler(await load(files("missing.secret")))).rejects.toThrow(
      /^google_auth\.cookie_secret_file: cannot read .*missing\.secret: ENOENT$/,
    );
  });

  it("keeps the memory store across a rebuild given the same memoryStores (a reload)", async () => {
    const memoryStores: MemoryStores = {};
    await build(config(`${GOOGLE()}${OIDC}`), memoryStores);
    const google = memoryStores.google_auth;
    const oidc = memoryStores.oidc_auth;
    expect(google).toBeDefined();
    expect(oidc).not.toBe(google);
    await build(config(`${GOOGLE()}${OIDC}`), memoryStores);
    expect(memoryStores.google_auth).toBe(google);
    expect(memoryStores.oidc_auth).toBe(oidc);
  });

  it("keeps registry passwords in Redis with redis: {url, key_prefix}", async () => {
    const prefix = `regauth-test:${randomUUID()}:`;
    const built = await build(
      config(GOOGLE(`  redis: {url: "${REDIS_URL}", key_prefix: "${prefix}"}`)),
    );
    await built.ready();
    const broken = await build(config(GOOGLE('  redis: {url: "redis://127.0.0.1:1"}')));
    await expect(broken.ready()).rejects.toThrow(
      /^google_auth\.redis: cannot reach redis at 127\.0\.0\.1:1 \(.+\)$/,
    );
  });
});

describe("regauth check", () => {
  it("shows each sign-in section, the redirect URI to register, and warns about memory", async () => {
    const path = await writeConfig(
      dir,
      config(GOOGLE()).replace(
        "key: signing-key.pem}",
        "key: signing-key.pem, refresh_tokens: {lifetime: 24h}}",
      ),
      "oidc-check.yml",
    );
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = "";
    let err = "";
    stdout.on("data", (chunk) => {
      out += chunk;
    });
    stderr.on("data", (chunk) => {
      err += chunk;
    });
    const code = await main(["check", path], { stdin: new PassThrough(), stdout, stderr });
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toContain("authenticators: static -> google_auth");
    expect(out).toContain(
      "google_auth:    https://accounts.google.com as client 1234.apps.googleusercontent.com; sign-in at https://auth.example.com/registry-auth/google_auth/ (redirect URI to register: https://auth.example.com/registry-auth/google_auth/callback); account <- email; domains example.com; passwords in memory",
    );
    expect(out).toContain(
      "refresh tokens: 86400 s, bound to the client_id they were issued to, in memory",
    );
    expect(out).toContain("warning: google_auth keeps registry passwords in this process's memory");
    expect(out).not.toContain("google-secret");
    expect(out).not.toContain(COOKIE_SECRET);
  });
});
