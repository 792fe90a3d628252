// token.refresh_tokens: loading (defaults, errors by path), building (the token
// handler issues and redeems refresh tokens), a reload keeping the memory store,
// and the Redis store shared by two instances (a real Redis on 127.0.0.1:6379,
// or REGAUTH_TEST_REDIS_URL).
import { randomUUID } from "node:crypto";
import { hashPassword } from "@regauth/authn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConfiguredHandler,
  createConfiguredHandler,
  type MemoryStores,
} from "../src/create-configured-handler.js";
import { loadConfig } from "../src/load-config.js";
import { EXT_AUTH, keyDir } from "./support.js";

const REDIS_URL = process.env.REGAUTH_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

let dir: string;
let cleanup: () => Promise<void>;
let hash: string;
const opened: ConfiguredHandler[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await keyDir());
  hash = await hashPassword("secret", 4);
});
afterAll(async () => {
  await Promise.all(opened.map((built) => built.close()));
  await cleanup();
});

const config = (refresh: string) => `
server: {addr: "127.0.0.1:5001"}
token:
  issuer: acme
  certificate: signing-cert.pem
  key: signing-key.pem
${refresh}
users:
  alice: {password: "${hash}"}
acl:
  - match: {account: alice}
    actions: [pull]
`;

async function build(refresh: string, memoryStores?: MemoryStores, text = config(refresh)) {
  const built = await createConfiguredHandler(
    await loadConfig({ text, baseDir: dir }),
    memoryStores === undefined ? {} : { memoryStores },
  );
  opened.push(built);
  return built;
}

async function configError(refresh: string, env: Record<string, string> = {}): Promise<string> {
  try {
    await loadConfig({ text: config(refresh), baseDir: dir }, { env });
  } catch (error) {
    expect((error as { code: string }).code).toBe("ERR_CONFIG_INVALID");
    return (error as Error).message;
  }
  throw new Error("expected the config to be refused");
}

const post = (built: ConfiguredHandler, fields: Record<string, string>) =>
  built.handler(
    new Request("http://auth.test/auth", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ service: "reg.example", ...fields }).toString(),
    }),
  );

const login = (built: ConfiguredHandler, clientId = "e2e") =>
  post(built, {
    grant_type: "password",
    username: "alice",
    password: "secret",
    access_type: "offline",
    client_id: clientId,
    scope: "repository:app:pull",
  });

const refresh = (built: ConfiguredHandler, token: string, clientId = "e2e") =>
  post(built, {
    grant_type: "refresh_token",
    refresh_token: token,
    client_id: clientId,
    scope: "repository:app:pull,push",
  });

describe("token.refresh_tokens", () => {
  it("is off by default, as docker_auth: no refresh_token, and the grant is unsupported", async () => {
    const loaded = await loadConfig({ text: config(""), baseDir: dir });
    expect(loaded.token.refreshTokens).toBeUndefined();
    const built = await build("");
    expect(built.refreshTokens).toBeUndefined();
    const response = await login(built);
    expect(response.status).toBe(200);
    expect(await response.json()).not.toHaveProperty("refresh_token");
    const refused = await refresh(built, "rgr_whatever");
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: "unsupported_grant_type" });
  });

  it("loads {} with the defaults, and every key", async () => {
    const defaults = await loadConfig({ text: config("  refresh_tokens: {}"), baseDir: dir });
    expect(defaults.token.refreshTokens).toEqual({
      lifetime: 2_592_000,
      bindClientId: true,
      redis: undefined,
    });
    const full = await loadConfig(
      {
        text: config(`  refresh_tokens:
    lifetime: 36h
    bind_client_id: false
    redis: {url: "\${REDIS_URL}", key_prefix: "acme:refresh:"}`),
        baseDir: dir,
      },
      { env: { REDIS_URL: "redis://:pw@redis.internal:6380/2" } },
    );
    expect(full.token.refreshTokens).toEqual({
      lifetime: 129_600,
      bindClientId: false,
      redis: { url: "redis://:pw@redis.internal:6380/2", keyPrefix: "acme:refresh:" },
    });
  });

  it("names the path of every mistake, never the Redis URL", async () => {
    expect(await configError("  refresh_tokens: true")).toBe(
      "token.refresh_tokens: expected a mapping with lifetime, bind_client_id and redis ({} for the defaults)",
    );
    expect(await configError("  refresh_tokens: {lifetime: 30s}")).toBe(
      "token.refresh_tokens.lifetime: expected from 1m to 8760h",
    );
    expect(await configError("  refresh_tokens: {lifetime: 3600}")).toBe(
      'token.refresh_tokens.lifetime: expected a duration such as "10s" or "1m" (a bare number is not one)',
    );
    expect(await configError("  refresh_tokens: {lifetme: 1h}")).toBe(
      "token.refresh_tokens.lifetme: unknown key",
    );
    expect(await configError("  refresh_tokens: {bind_client_id: yes}")).toBe(
      "token.refresh_tokens.bind_client_id: expected true or false",
    );
    const badUrl = await configError(
      '  refresh_tokens: {redis: {url: "http://user:hunter2@redis:6379"}}',
    );
    expect(badUrl).toBe(
      "token.refresh_tokens.redis.url: expected redis://HOST:PORT or rediss://HOST:PORT",
    );
    expect(badUrl).not.toContain("hunter2");
    expect(await configError("  refresh_tokens: {redis: {}}")).toBe(
      "token.refresh_tokens.redis.url: required, expected redis://HOST:PORT (or rediss://)",
    );
    expect(await configError('  refresh_tokens: {redis: {url: "${REDIS_URL}"}}')).toBe(
      "token.refresh_tokens.redis.url: environment variable REDIS_URL is not set",
    );
  });

  it("issues a refresh token at a password login with access_type=offline, and redeems it", async () => {
    const built = await build("  refresh_tokens: {lifetime: 1h}");
    expect(built.refreshTokens?.lifetime).toBe(3600);
    const response = await login(built);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { refresh_token: string; access_token: string };
    expect(body.refresh_token).toMatch(/^rgr_[A-Za-z0-9_-]{43}$/);
    const again = await refresh(built, body.refresh_token);
    expect(again.status).toBe(200);
    const renewed = (await again.json()) as { access_token: string; scope: string };
    expect(renewed.access_token.split(".")).toHaveLength(3);
    // Authorization runs again: alice may only pull.
    expect(renewed.scope).toBe("repository:app:pull");
    // Reusable (docker keeps re-sending it), but bound to its client_id by default.
    expect((await refresh(built, body.refresh_token)).status).toBe(200);
    const other = await refresh(built, body.refresh_token, "another-tool");
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: "invalid_grant" });
    // An access token is never a refresh token.
    expect((await refresh(built, body.access_token)).status).toBe(400);
    // Revocation through the built handler.
    expect(await built.refreshTokens?.revokeAccount("alice")).toBe(1);
    expect((await refresh(built, body.refresh_token)).status).toBe(400);
  });

  it("gives a refresh token to docker login (GET with offline_token=true)", async () => {
    const built = await build("  refresh_tokens: {bind_client_id: false}");
    const response = await built.handler(
      new Request("http://auth.test/auth?service=reg.example&offline_token=true&client_id=docker", {
        headers: { authorization: `Basic ${Buffer.from("alice:secret").toString("base64")}` },
      }),
    );
    expect(response.status).toBe(200);
    const { refresh_token: token } = (await response.json()) as { refresh_token: string };
    // bind_client_id: false: crane, reading docker's config, sends its own client_id.
    expect((await refresh(built, token, "go-containerregistry")).status).toBe(200);
  });

  it("keeps memory tokens across a rebuild given the same memoryStores (a reload)", async () => {
    const memoryStores: MemoryStores = {};
    const first = await build("  refresh_tokens: {}", memoryStores);
    const { refresh_token: token } = (await (await login(first)).json()) as {
      refresh_token: string;
    };
    const reloaded = await build("  refresh_tokens: {}", memoryStores);
    expect((await refresh(reloaded, token)).status).toBe(200);
    const fresh = await build("  refresh_tokens: {}");
    expect((await refresh(fresh, token)).status).toBe(400);
  });

  it("a reload that removes the user ends its refresh tokens; one that keeps it serves them", async () => {
    // Noticed before: a removed account kept pulling with its refresh token until it expired.
    const memoryStores: MemoryStores = {};
    const first = await build("  refresh_tokens: {}", memoryStores);
    const { refresh_token: token } = (await (await login(first)).json()) as {
      refresh_token: string;
    };
    const kept = await build("  refresh_tokens: {}", memoryStores);
    expect((await refresh(kept, token)).status).toBe(200);
    const withoutAlice = config("  refresh_tokens: {}").replace(
      `  alice: {password: "${hash}"}`,
      `  bob: {password: "${hash}"}`,
    );
    const removed = await build("  refresh_tokens: {}", memoryStores, withoutAlice);
    const refused = await refresh(removed, token);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: "invalid_grant" });
  });

  it("with an authenticator that cannot look accounts up (ext_auth), a removed user keeps its tokens, and a warning says so", async () => {
    const memoryStores: MemoryStores = {};
    const first = await build("  refresh_tokens: {}", memoryStores);
    const { refresh_token: token } = (await (await login(first)).json()) as {
      refresh_token: string;
    };
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn(fields: Record<string, unknown>, message: string) {
        warnings.push(`${JSON.stringify(fields)} ${message}`);
      },
      error() {},
    };
    const withExt = config("  refresh_tokens: {}")
      .replace(`  alice: {password: "${hash}"}`, `  bob: {password: "${hash}"}`)
      .concat(`ext_auth: {command: ${EXT_AUTH}}\n`);
    const built = await createConfiguredHandler(await loadConfig({ text: withExt, baseDir: dir }), {
      memoryStores,
      logger,
    });
    opened.push(built);
    expect(warnings.join("\n")).toMatch(/"ext_auth".*cannot check an account without its password/);
    expect((await refresh(built, token)).status).toBe(200);
  });

  it("shares Redis-kept tokens between two instances", async () => {
    const prefix = `regauth-test:${randomUUID()}:`;
    const section = `  refresh_tokens: {redis: {url: "${REDIS_URL}", key_prefix: "${prefix}"}}`;
    const one = await build(section);
    const two = await build(section);
    await one.ready();
    await two.ready();
    const { refresh_token: token } = (await (await login(one)).json()) as {
      refresh_token: string;
    };
    expect((await refresh(two, token)).status).toBe(200);
    expect(await two.refreshTokens?.revoke(token)).toBe(true);
    expect((await refresh(one, token)).status).toBe(400);
    await one.refreshTokens?.revokeAccount("alice"); // leaves no key behind
  });

  it("ready() fails naming the section when Redis cannot be reached; building never connects", async () => {
    const built = await build('  refresh_tokens: {redis: {url: "redis://127.0.0.1:1"}}');
    await expect(built.ready()).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: expect.stringMatching(
        /^token\.refresh_tokens\.redis: cannot reach redis at 127\.0\.0\.1:1 \(.+\)$/,
      ),
    });
  });
});
