// The RegistryPasswordStore contract, run against the memory store, the
// Redis store (a real Redis on 127.0.0.1:6379, or REGAUTH_TEST_REDIS_URL) and
// the MongoDB store (a FerretDB started here, or the server at MONGODB_URI).
import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../../../test/support/cleanup.js";
import {
  checkMongoServer,
  type MongoServer,
  startMongoServer,
  uniqueDatabaseName,
} from "../../../test/support/ferretdb.js";
import {
  createMemoryRegistryPasswordStore,
  createMongoRegistryPasswordStore,
  createRedisRegistryPasswordStore,
  type MongoRegistryPasswordStore,
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

// Throws in CI when ferretdb is missing (and MONGODB_URI is not set).
const mongo = checkMongoServer();
const mongoCleanup = new Cleanup();
const mongoDatabase = uniqueDatabaseName("oidc");
let mongoServer: MongoServer | undefined;
let mongoClient: MongoClient | undefined;
const mongoStores: MongoRegistryPasswordStore[] = [];
let mongoCollections = 0;

beforeAll(async () => {
  if (mongo.ok) {
    mongoServer = await startMongoServer({ cleanup: mongoCleanup });
    const client = new MongoClient(mongoServer.uri, { serverSelectionTimeoutMS: 10_000 });
    mongoClient = client;
    mongoCleanup.defer(async () => {
      await Promise.allSettled(mongoStores.map((store) => store.close()));
      await client
        .db(mongoDatabase)
        .dropDatabase()
        .catch(() => undefined);
      await client.close();
    });
  } else {
    console.warn(`SKIPPED MongoDB store tests: ${mongo.reason}`);
  }
}, 60_000);
afterAll(() => mongoCleanup.run(), 60_000);

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
  [
    "mongodb (own client from uri)",
    () => {
      if (mongoServer === undefined) return undefined;
      const store = createMongoRegistryPasswordStore({
        uri: mongoServer.uri,
        database: mongoDatabase,
        collection: `passwords_${++mongoCollections}`,
        timeoutMs: 5_000,
      });
      mongoStores.push(store);
      return store;
    },
  ],
  [
    "mongodb (caller's client)",
    () =>
      mongoClient === undefined
        ? undefined
        : createMongoRegistryPasswordStore({
            client: mongoClient,
            database: mongoDatabase,
            collection: `passwords_${++mongoCollections}`,
            timeoutMs: 5_000,
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

describe.skipIf(!mongo.ok)("mongodb store", () => {
  it("creates the TTL index on expireAt (or purges at save without TTL) and the account index", async () => {
    if (mongoClient === undefined || mongoServer === undefined) throw new Error("no server");
    const db = mongoClient.db(mongoDatabase);
    // Whether this server has TTL indexes at all: FerretDB 1.x answers NotImplemented.
    const ttl = await db
      .collection(`probe_${++mongoCollections}`)
      .createIndex({ at: 1 }, { expireAfterSeconds: 0 })
      .then(
        () => true,
        (error: unknown) => {
          expect(error).toMatchObject({ code: 238 });
          return false;
        },
      );
    const collection = `passwords_${++mongoCollections}`;
    const store = createMongoRegistryPasswordStore({
      uri: mongoServer.uri,
      database: mongoDatabase,
      collection,
    });
    mongoStores.push(store);
    await store.ready();
    const indexes = await db.collection(collection).listIndexes().toArray();
    expect(indexes).toContainEqual(
      expect.objectContaining({ name: "account_issuedAt", key: { account: 1, issuedAt: 1 } }),
    );
    const ttlIndex = expect.objectContaining({
      name: "expireAt_ttl",
      key: { expireAt: 1 },
      expireAfterSeconds: 0,
    });
    if (ttl) {
      expect(indexes).toContainEqual(ttlIndex);
      return;
    }
    expect(indexes).not.toContainEqual(ttlIndex);
    now = Date.now();
    await store.save(record("gone", "frank", 1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    now = Date.now();
    await store.save(record("kept", "grace"));
    expect(await db.collection(collection).distinct("_id")).toEqual(["kept"]);
  });

  it("counts only live records on revoke, ignoring expired ones the TTL monitor has not removed", async () => {
    if (mongoClient === undefined) throw new Error("no server");
    const store = createMongoRegistryPasswordStore({
      client: mongoClient,
      database: mongoDatabase,
      collection: `passwords_${++mongoCollections}`,
    });
    now = Date.now();
    await store.save(record("old", "dave@example.com", 1));
    await store.save(record("old2", "dave@example.com", 1));
    await store.save(record("new", "dave@example.com", 60_000));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await store.update("old", { labels: {}, checkedAt: now })).toBe(false);
    expect(await store.revoke("old")).toBe(false);
    expect(await store.revokeAccount("dave@example.com")).toBe(1);
    await store.close(); // leaves the caller's client open
    expect(await mongoClient.db(mongoDatabase).collection("unused").countDocuments()).toBe(0);
  });

  it("keeps any label name and leaves the refresh token when an update gives none", async () => {
    if (mongoClient === undefined) throw new Error("no server");
    const store = createMongoRegistryPasswordStore({
      client: mongoClient,
      database: mongoDatabase,
      collection: `passwords_${++mongoCollections}`,
    });
    now = Date.now();
    await store.save({ ...record("l1", "erin"), labels: { "a.b": ["x"], $c: [] } });
    expect(
      await store.update("l1", { labels: { "a.b": ["y"], $c: ["z"] }, checkedAt: now + 1 }),
    ).toBe(true);
    expect(await store.list("erin")).toEqual([
      { ...record("l1", "erin"), labels: { "a.b": ["y"], $c: ["z"] }, checkedAt: now + 1 },
    ]);
  });
});

describe("mongodb store faults", () => {
  it("turns an unreachable server or a closed store into ERR_BACKEND_UNAVAILABLE", async () => {
    const store = createMongoRegistryPasswordStore({
      uri: "mongodb://127.0.0.1:1/",
      database: "regauth_unreachable",
      timeoutMs: 200,
    });
    await expect(store.list("a")).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "registry password store (mongodb) failed to read",
    });
    await expect(store.save(record("x", "a"))).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
    });
    await store.close();
    await expect(store.revoke("x")).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "registry password store (mongodb) failed to revoke",
    });
  });

  it("refuses bad options with ERR_CONFIG_INVALID", () => {
    expect(() => createMongoRegistryPasswordStore({ database: "d" })).toThrow(
      expect.objectContaining({ code: "ERR_CONFIG_INVALID" }),
    );
  });
});
