// Refresh tokens: the store contract, run against the in-memory store and the
// Redis store (a real Redis on 127.0.0.1:6379, or REGAUTH_TEST_REDIS_URL), and
// two handler instances sharing one Redis.
import { randomUUID } from "node:crypto";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createMemoryRefreshTokenStore,
  createRefreshTokens,
  createTokenHandler,
  DEFAULT_REFRESH_TOKEN_LIFETIME,
  isRegauthError,
  type RefreshTokenRecord,
  type RefreshTokenStore,
} from "../src/index.js";
import { createRedisRefreshTokenStore, type RedisScriptClient } from "../src/redis/index.js";
import { basic, stubIssuer, tableAuthorizer } from "./helpers.js";

const REDIS_URL = process.env.REGAUTH_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const inCi = !["", "0", "false", undefined].includes(process.env.CI);

const connectOptions = {
  url: REDIS_URL,
  socket: { connectTimeout: 2_000, reconnectStrategy: false as const },
};
const makeClient = () => createClient(connectOptions);
type Client = ReturnType<typeof makeClient>;
let redis: Client | undefined;
const prefix = `regauth-test:${randomUUID()}:`;

beforeAll(async () => {
  const client = makeClient();
  client.on("error", () => undefined);
  try {
    await client.connect();
    redis = client;
  } catch (error) {
    if (inCi) throw new Error(`Redis at ${REDIS_URL} is needed in CI: ${String(error)}`);
    console.warn(`SKIPPED Redis store tests: no Redis at ${REDIS_URL}`);
  }
});

afterAll(async () => {
  if (redis === undefined) return;
  for await (const keys of redis.scanIterator({ MATCH: `${prefix}*` })) {
    if (keys.length > 0) await redis.del(keys);
  }
  await redis.close();
});

function record(overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  const issuedAt = Date.now();
  return {
    account: "alice",
    service: "registry.test",
    clientId: "docker",
    labels: { groups: ["dev"] },
    issuedAt,
    expiresAt: issuedAt + 60_000,
    ...overrides,
  };
}

const stores: Array<[string, () => RefreshTokenStore | undefined]> = [
  ["memory", () => createMemoryRefreshTokenStore()],
  [
    "redis",
    () =>
      redis === undefined
        ? undefined
        : createRedisRefreshTokenStore({
            client: redis,
            keyPrefix: `${prefix}${randomUUID()}:`,
          }),
  ],
];

describe.each(stores)("RefreshTokenStore contract: %s", (name, make) => {
  const store = () => {
    const made = make();
    if (made === undefined) return undefined;
    return made;
  };

  it("saves, finds, and forgets on revoke", async (context) => {
    const s = store();
    if (s === undefined) return context.skip();
    const saved = record();
    await s.save("id-1", saved);
    expect(await s.find("id-1")).toEqual(saved);
    expect(await s.find("id-2")).toBeUndefined();
    expect(await s.revoke("id-1")).toBe(true);
    expect(await s.revoke("id-1")).toBe(false);
    expect(await s.find("id-1")).toBeUndefined();
  });

  it("revokes every token of one account, across services, and no other", async (context) => {
    const s = store();
    if (s === undefined) return context.skip();
    await s.save("a1", record());
    await s.save("a2", record({ service: "mirror.test", clientId: "" }));
    await s.save("b1", record({ account: "bob" }));
    expect(await s.revokeAccount("alice")).toBe(2);
    expect(await s.find("a1")).toBeUndefined();
    expect(await s.find("a2")).toBeUndefined();
    expect(await s.find("b1")).toMatchObject({ account: "bob" });
    expect(await s.revokeAccount("alice")).toBe(0);
    expect(await s.revokeAccount("nobody")).toBe(0);
  });

  it("keeps an account name with Redis-pattern and key characters apart", async (context) => {
    const s = store();
    if (s === undefined) return context.skip();
    await s.save("x1", record({ account: "a*" }));
    await s.save("x2", record({ account: "ab" }));
    expect(await s.revokeAccount("a*")).toBe(1);
    expect(await s.find("x2")).toBeDefined();
  });

  it("drops a record when its lifetime is over", async (context) => {
    const s = store();
    if (s === undefined) return context.skip();
    const issuedAt = Date.now();
    await s.save("short", record({ issuedAt, expiresAt: issuedAt + 150 }));
    expect(await s.find("short")).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await s.find("short")).toBeUndefined();
  });

  if (name === "redis") {
    it("keeps only the SHA-256 of a token, never the token", async (context) => {
      if (redis === undefined) return context.skip();
      const keyPrefix = `${prefix}${randomUUID()}:`;
      const tokens = createRefreshTokens({
        store: createRedisRefreshTokenStore({ client: redis, keyPrefix }),
      });
      const token = await tokens.issue({
        account: "alice",
        service: "registry.test",
        clientId: "",
        labels: {},
      });
      const keys: string[] = [];
      for await (const batch of redis.scanIterator({ MATCH: `${keyPrefix}*` })) keys.push(...batch);
      expect(keys).toHaveLength(2);
      for (const key of keys) {
        expect(key).not.toContain(token.slice(4));
        const value =
          (await redis.type(key)) === "string"
            ? await redis.get(key)
            : (await redis.sMembers(key)).join();
        expect(value).not.toContain(token.slice(4));
      }
      const ttl = await redis.pTTL(`${keyPrefix}a:alice`);
      expect(ttl).toBeGreaterThan((DEFAULT_REFRESH_TOKEN_LIFETIME - 60) * 1000);
    });
  }
});

describe("memory store bound", () => {
  it("drops expired tokens, then the oldest, when full", async () => {
    let now = 1_000_000;
    const store = createMemoryRefreshTokenStore({ maxTokens: 2, clock: () => now });
    await store.save("old", record({ issuedAt: now, expiresAt: now + 10 }));
    await store.save("mid", record({ issuedAt: now, expiresAt: now + 100_000 }));
    now += 20;
    await store.save("new", record({ issuedAt: now, expiresAt: now + 100_000 }));
    expect(await store.find("old")).toBeUndefined();
    expect(await store.find("mid")).toBeDefined();
    await store.save("newer", record({ issuedAt: now, expiresAt: now + 100_000 }));
    expect(await store.find("mid")).toBeUndefined();
    expect(await store.find("newer")).toBeDefined();
  });
});

describe("createRefreshTokens", () => {
  it("refuses bad options, naming them", () => {
    expect(() => createRefreshTokens({ lifetime: 59 })).toThrow(/lifetime/);
    expect(() => createRefreshTokens({ lifetime: 1.5 })).toThrow(/lifetime/);
    expect(() => createRefreshTokens({ store: {} as unknown as RefreshTokenStore })).toThrow(
      /store: expected a RefreshTokenStore/,
    );
    try {
      createRefreshTokens({ lifetime: 0 });
    } catch (error) {
      expect(isRegauthError(error, "ERR_CONFIG_INVALID")).toBe(true);
    }
  });

  it("makes 256-bit tokens that differ every time", async () => {
    const tokens = createRefreshTokens();
    const binding = { account: "alice", service: "s", clientId: "", labels: {} };
    const made = new Set(
      await Promise.all(Array.from({ length: 50 }, () => tokens.issue(binding))),
    );
    expect(made.size).toBe(50);
    for (const token of made) expect(token).toMatch(/^rgr_[A-Za-z0-9_-]{43}$/);
  });

  it("turns a store fault into ERR_BACKEND_UNAVAILABLE (503) with the Redis store", async () => {
    const broken: RedisScriptClient = {
      get: async () => {
        throw new Error("connection lost");
      },
      eval: () => new Promise(() => undefined), // never answers
    };
    const tokens = createRefreshTokens({
      store: createRedisRefreshTokenStore({ client: broken, timeoutMs: 50 }),
    });
    const binding = { account: "alice", service: "registry.test", clientId: "", labels: {} };
    await expect(tokens.issue(binding)).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "refresh token store (redis) failed to save",
    });
    const handler = createTokenHandler({
      authenticators: [{ authenticate: async () => ({ result: "allow" }) }],
      authorizers: [tableAuthorizer({})],
      issuer: stubIssuer(),
      services: ["registry.test"],
      refreshTokens: tokens,
    });
    const response = await handler(
      new Request("http://auth.test/auth", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `grant_type=refresh_token&refresh_token=rgr_${"A".repeat(43)}`,
      }),
    );
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: "temporarily_unavailable" });
  });
});

describe("two handler instances sharing one Redis", () => {
  it("one issues, the other redeems; a revoke on one is seen by both", async (context) => {
    if (redis === undefined) return context.skip();
    const keyPrefix = `${prefix}${randomUUID()}:`;
    const instance = () => {
      const refreshTokens = createRefreshTokens({
        store: createRedisRefreshTokenStore({ client: redis as Client, keyPrefix }),
      });
      const handler = createTokenHandler({
        authenticators: [
          {
            authenticate: async ({ account, password }) =>
              account === "alice" && password === "pw"
                ? { result: "allow", labels: { groups: ["dev"] } }
                : { result: "deny" },
          },
        ],
        authorizers: [tableAuthorizer({ app: ["pull"] })],
        issuer: stubIssuer(),
        services: ["registry.test"],
        refreshTokens,
      });
      return { handler, refreshTokens };
    };
    const one = instance();
    const two = instance();
    const login = await one.handler(
      new Request(
        "http://auth.test/auth?service=registry.test&offline_token=true&client_id=docker",
        {
          headers: { authorization: basic("alice", "pw") },
        },
      ),
    );
    const { refresh_token: token } = (await login.json()) as { refresh_token: string };
    const redeem = (h: typeof one) =>
      h.handler(
        new Request("http://auth.test/auth", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "refresh_token",
            refresh_token: token,
            service: "registry.test",
            client_id: "docker",
            scope: "repository:app:pull",
          }).toString(),
        }),
      );
    expect((await redeem(two)).status).toBe(200);
    expect((await redeem(one)).status).toBe(200);
    expect(await two.refreshTokens.revokeAccount("alice")).toBe(1);
    expect((await redeem(one)).status).toBe(400);
    expect((await redeem(two)).status).toBe(400);
  });
});
