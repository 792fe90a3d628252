// The RegistryPasswordStore contract, run against the memory store and the
// Redis store (a real Redis on 127.0.0.1:6379, or REGAUTH_TEST_REDIS_URL).
import { randomBytes } from "node:crypto";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createMemoryRegistryPasswordStore,
  createRedisRegistryPasswordStore,
  type RegistryPasswordRecord,
  type RegistryPasswordStore,
} from "../src/oidc/index.js";

const REDIS_URL = process.env.REGAUTH_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const inCi = !["", "0", "false", undefined].includes(process.env.CI);
const makeClient = () =>
  createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 2_000, reconnectStrategy: false as const },
  });
type Client = ReturnType<typeof makeClient>;
let redis: Client | undefined;
const prefix = `regauth-test:${randomBytes(6).toString("hex")}:`;

beforeAll(async () => {
  try {
    const client = makeClient();
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

let now = Date.now();
const record = (id: string, account: string, lifetimeMs = 60_000): RegistryPasswordRecord => ({
  id,
  account,
  hash: "h".repeat(43),
  labels: { groups: ["qa"] },
  subject: `sub-${account}`,
  refreshToken: "sealed",
  issuedAt: now,
  expiresAt: now + lifetimeMs,
  checkedAt: now,
});

const stores: Array<[string, () => RegistryPasswordStore | undefined]> = [
  ["memory", () => createMemoryRegistryPasswordStore({ clock: () => now })],
  [
    "redis",
    () =>
      redis === undefined
        ? undefined
        : createRedisRegistryPasswordStore({
            client: redis,
            keyPrefix: `${prefix}${randomBytes(4).toString("hex")}:`,
          }),
  ],
];

describe.each(stores)("RegistryPasswordStore contract: %s", (_name, make) => {
  it("saves, lists oldest first, updates, revokes one and all", async (context) => {
    const store = make();
    if (store === undefined) return context.skip();
    now = Date.now();
    await store.save(record("a1", "alice@example.com"));
    now += 1;
    await store.save(record("a2", "alice@example.com"));
    await store.save(record("b1", "bob:*?[x]"));
    expect((await store.list("alice@example.com")).map((r) => r.id)).toEqual(["a1", "a2"]);
    expect((await store.list("bob:*?[x]")).map((r) => r.id)).toEqual(["b1"]);
    expect(await store.list("nobody")).toEqual([]);

    expect(
      await store.update("a1", {
        labels: { groups: ["dev"] },
        checkedAt: now + 5,
        refreshToken: "new",
      }),
    ).toBe(true);
    const [a1] = await store.list("alice@example.com");
    expect(a1).toMatchObject({
      id: "a1",
      labels: { groups: ["dev"] },
      checkedAt: now + 5,
      refreshToken: "new",
    });
    expect(await store.update("missing", { labels: {}, checkedAt: now })).toBe(false);

    expect(await store.revoke("a1")).toBe(true);
    expect(await store.revoke("a1")).toBe(false);
    expect(await store.update("a1", { labels: {}, checkedAt: now })).toBe(false);
    expect((await store.list("alice@example.com")).map((r) => r.id)).toEqual(["a2"]);
    expect(await store.revokeAccount("alice@example.com")).toBe(1);
    expect(await store.list("alice@example.com")).toEqual([]);
    expect((await store.list("bob:*?[x]")).map((r) => r.id)).toEqual(["b1"]);
  });

  it("forgets expired records", async (context) => {
    const store = make();
    if (store === undefined) return context.skip();
    now = Date.now();
    await store.save(record("short", "carol@example.com", 50));
    await store.save(record("long", "carol@example.com", 60_000));
    now += 200;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await store.list("carol@example.com")).map((r) => r.id)).toEqual(["long"]);
  });
});

describe("memory store bound", () => {
  it("drops the oldest record when full", async () => {
    now = Date.now();
    const store = createMemoryRegistryPasswordStore({ maxRecords: 2, clock: () => now });
    await store.save(record("1", "a"));
    await store.save(record("2", "a"));
    await store.save(record("3", "a"));
    expect((await store.list("a")).map((r) => r.id)).toEqual(["2", "3"]);
  });
});

describe("redis store faults", () => {
  it("turns a failing client into ERR_BACKEND_UNAVAILABLE", async () => {
    const store = createRedisRegistryPasswordStore({
      client: { get: () => new Promise(() => {}), eval: () => Promise.reject(new Error("down")) },
      timeoutMs: 20,
    });
    await expect(store.list("a")).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "registry password store (redis) failed to read",
    });
    await expect(store.revoke("x")).rejects.toMatchObject({ code: "ERR_BACKEND_UNAVAILABLE" });
  });
});
