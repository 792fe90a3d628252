// createMongoAuthenticator against a real MongoDB-protocol server: FerretDB
// started by test/support/ferretdb.ts, or the server at MONGODB_URI.
import { type AuthnRequest, isRegauthError, type Logger, RegauthError } from "@regauth/core";
import { type Collection, MongoClient } from "mongodb";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../../../test/support/cleanup.js";
import {
  checkMongoServer,
  type MongoServer,
  startMongoServer,
  uniqueDatabaseName,
} from "../../../test/support/ferretdb.js";
import { hashPassword } from "../src/index.js";
import {
  createMongoAuthenticator,
  type MongoAuthenticator,
  type MongoAuthenticatorOptions,
} from "../src/mongodb/index.js";

const mongo = checkMongoServer();

interface UserDocument {
  username: string;
  password?: string | null;
  labels?: unknown;
}

function request(account: string, password: string): AuthnRequest {
  return { account, password, service: "registry.test", clientIp: "127.0.0.1" };
}

interface LogCall {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(): Logger & { calls: LogCall[]; text(): string } {
  const calls: LogCall[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    calls.push({ level, fields, message });
  };
  return {
    calls,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    text: () =>
      calls
        .map((call) => {
          const err = call.fields.err;
          const detail = err instanceof Error ? `${err.message} ${String(err.cause)}` : "";
          return `${call.level} ${call.message} ${JSON.stringify(call.fields)} ${detail}`;
        })
        .join("\n"),
  };
}

/** Awaits `promise`, expecting a RegauthError with `code`; returns it. */
async function rejection(promise: Promise<unknown>, code: string): Promise<RegauthError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RegauthError);
  expect((error as RegauthError).code).toBe(code);
  return error as RegauthError;
}

describe.skipIf(!mongo.ok)("createMongoAuthenticator (real server)", () => {
  const cleanup = new Cleanup();
  const database = uniqueDatabaseName("authn");
  let server: MongoServer;
  let client: MongoClient;
  let opened: MongoAuthenticator[] = [];
  let collectionCount = 0;
  const passwords = { alice: "alice-password", bob: "bob-password" };

  /** A fresh collection name, so the cases do not share users or indexes. */
  const freshCollection = () => `users_${++collectionCount}`;
  const users = (name: string): Collection<UserDocument> =>
    client.db(database).collection<UserDocument>(name);

  /** An authenticator on `collection` (opened from the URI unless `client` is given), closed after the case. */
  function authenticator(
    collection: string,
    options: Partial<MongoAuthenticatorOptions> = {},
  ): MongoAuthenticator {
    const created = createMongoAuthenticator({
      uri: server.uri,
      database,
      collection,
      timeoutMs: 1_500,
      ...options,
    });
    opened.push(created);
    return created;
  }

  beforeAll(async () => {
    server = await startMongoServer({ cleanup });
    client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
    cleanup.defer(async () => {
      await client
        .db(database)
        .dropDatabase()
        .catch(() => undefined);
      await client.close();
    });
  }, 60_000);
  afterEach(async () => {
    await Promise.allSettled(opened.map((created) => created.close()));
    opened = [];
  });
  afterAll(() => cleanup.run(), 60_000);

  describe("users with labels", () => {
    const collection = freshCollection();
    beforeAll(async () => {
      await users(collection).insertMany([
        {
          username: "alice",
          password: await hashPassword(passwords.alice, 4),
          labels: { groups: ["qa", "dev"], team: ["core"] },
        },
        { username: "bob", password: await hashPassword(passwords.bob, 4) },
        { username: "carol", password: await hashPassword("carol-password", 4), labels: null },
      ]);
    });

    it("allows a right password with the document's labels", async () => {
      const result = await authenticator(collection).authenticate(
        request("alice", passwords.alice),
      );
      expect(result).toEqual({
        result: "allow",
        labels: { groups: ["qa", "dev"], team: ["core"] },
      });
    });

    it("allows a user without labels (absent or null) with {}", async () => {
      const checker = authenticator(collection);
      expect(await checker.authenticate(request("bob", passwords.bob))).toEqual({
        result: "allow",
        labels: {},
      });
      expect(await checker.authenticate(request("carol", "carol-password"))).toEqual({
        result: "allow",
        labels: {},
      });
    });

    it("denies a wrong password, an empty one and another user's", async () => {
      const checker = authenticator(collection);
      for (const password of ["wrong", "", passwords.bob, `${passwords.alice} `]) {
        expect(await checker.authenticate(request("alice", password))).toEqual({
          result: "deny",
        });
      }
    });

    it("answers no-match for an unknown account and for anonymous", async () => {
      const checker = authenticator(collection);
      expect(await checker.authenticate(request("mallory", "anything"))).toEqual({
        result: "no-match",
      });
      expect(await checker.authenticate(request("Alice", passwords.alice))).toEqual({
        result: "no-match",
      });
      expect(await checker.authenticate(request("", ""))).toEqual({ result: "no-match" });
    });

    it("lookup (a refresh token's account): the document's current labels; a missing one is no-match", async () => {
      const checker = authenticator(collection);
      const lookup = (account: string) =>
        checker.lookup({ account, service: "registry.test", clientIp: undefined });
      expect(await lookup("alice")).toEqual({
        result: "allow",
        labels: { groups: ["qa", "dev"], team: ["core"] },
      });
      expect(await lookup("carol")).toEqual({ result: "allow", labels: {} });
      expect(await lookup("mallory")).toEqual({ result: "no-match" });
      expect(await lookup("")).toEqual({ result: "no-match" });
    });

    it("treats an account that looks like a query operator as a plain name", async () => {
      const checker = authenticator(collection);
      expect(await checker.authenticate(request('{"$ne":null}', "x"))).toEqual({
        result: "no-match",
      });
      expect(await checker.authenticate(request("$where", "x"))).toEqual({ result: "no-match" });
    });

    it("spends bcrypt work on an unknown account, as on a wrong password", async () => {
      const slow = freshCollection();
      await users(slow).insertOne({
        username: "dave",
        password: await hashPassword("dave-password", 10),
      });
      const checker = authenticator(slow);
      await checker.authenticate(request("dave", "warm-up"));
      const time = async (account: string) => {
        const started = performance.now();
        await checker.authenticate(request(account, "not-it"));
        return performance.now() - started;
      };
      const wrong = Math.min(await time("dave"), await time("dave"));
      const unknown = Math.min(await time("nobody"), await time("nobody-else"));
      // Same hash cost: the unknown account is not answered in a fraction of the time.
      expect(unknown).toBeGreaterThan(wrong / 3);
    });
  });

  describe("the unique index on username", () => {
    it("is created by ready(), and then a duplicate username cannot be inserted", async () => {
      const collection = freshCollection();
      await users(collection).insertOne({
        username: "alice",
        password: await hashPassword(passwords.alice, 4),
      });
      await authenticator(collection).ready();
      const indexes = await users(collection).listIndexes().toArray();
      expect(indexes).toContainEqual(
        expect.objectContaining({ name: "username_1", key: { username: 1 }, unique: true }),
      );
      const duplicate = await users(collection)
        .insertOne({ username: "alice", password: "x" })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(duplicate).toMatchObject({ code: 11000 });
    });

    it("is created on first use too, when ready() was not called", async () => {
      const collection = freshCollection();
      await users(collection).insertOne({
        username: "bob",
        password: await hashPassword(passwords.bob, 4),
      });
      expect(await authenticator(collection).authenticate(request("bob", passwords.bob))).toEqual({
        result: "allow",
        labels: {},
      });
      const indexes = await users(collection).listIndexes().toArray();
      expect(indexes.some((index) => index.name === "username_1" && index.unique)).toBe(true);
    });

    it("cannot be built over duplicate usernames: 503 with the reason logged, never a login", async () => {
      const collection = freshCollection();
      const hash = await hashPassword(passwords.alice, 4);
      await users(collection).insertMany([
        { username: "alice", password: hash },
        { username: "alice", password: await hashPassword("other-password", 4) },
      ]);
      const logger = recordingLogger();
      const checker = authenticator(collection, { logger });
      const error = await rejection(checker.ready(), "ERR_BACKEND_UNAVAILABLE");
      expect(error.message).toBe("mongodb: cannot create the unique index on username");
      expect(error.cause).toBeInstanceOf(Error);
      await rejection(
        checker.authenticate(request("alice", passwords.alice)),
        "ERR_BACKEND_UNAVAILABLE",
      );
      expect(logger.calls.some((call) => call.level === "error")).toBe(true);
      expect(logger.text()).toMatch(/duplicate usernames\?/);
      expect(logger.text()).not.toContain(hash);
    });

    it("is not created with createIndex: false, and duplicates are still refused at lookup", async () => {
      const collection = freshCollection();
      await users(collection).insertMany([
        { username: "alice", password: await hashPassword(passwords.alice, 4) },
        { username: "alice", password: await hashPassword(passwords.alice, 4) },
        { username: "bob", password: await hashPassword(passwords.bob, 4) },
      ]);
      const checker = authenticator(collection, { createIndex: false });
      await checker.ready();
      const indexes = await users(collection).listIndexes().toArray();
      expect(indexes.map((index) => index.name)).toEqual(["_id_"]);
      const error = await rejection(
        checker.authenticate(request("alice", passwords.alice)),
        "ERR_BACKEND_UNAVAILABLE",
      );
      expect(error.message).toBe("mongodb: several user documents share this username");
      expect(await checker.authenticate(request("bob", passwords.bob))).toEqual({
        result: "allow",
        labels: {},
      });
    });

    it("refuses an existing index on username that is not unique", async () => {
      // MongoDB answers IndexKeySpecsConflict; FerretDB 1.24 keeps the old index
      // silently, which the authenticator notices by listing the indexes.
      const collection = freshCollection();
      await users(collection).createIndex({ username: 1 }, { name: "username_1" });
      const logger = recordingLogger();
      const error = await rejection(
        authenticator(collection, { logger }).ready(),
        "ERR_BACKEND_UNAVAILABLE",
      );
      expect(error.message).toBe("mongodb: cannot create the unique index on username");
      expect(logger.calls.map((call) => call.level)).toContain("error");
    });
  });

  describe("documents without a usable password", () => {
    const collection = freshCollection();
    beforeAll(async () => {
      await users(collection).insertMany([
        { username: "nopass", labels: { groups: ["ghosts"] } },
        { username: "nullpass", password: null },
        { username: "plain", password: "plain-text-password" },
        { username: "md5", password: "$apr1$abc$0123456789abcdefghijkl" },
        { username: "empty", password: "" },
      ]);
    });

    it("never authenticates a document without a password, by default", async () => {
      const checker = authenticator(collection);
      for (const account of ["nopass", "nullpass"]) {
        for (const password of ["", "anything"]) {
          expect(await checker.authenticate(request(account, password))).toEqual({
            result: "deny",
          });
        }
      }
    });

    it("lookup denies a document that could not sign in any more", async () => {
      const lookup = (checker: ReturnType<typeof authenticator>, account: string) =>
        checker.lookup({ account, service: "registry.test", clientIp: undefined });
      const strict = authenticator(collection);
      for (const account of ["nopass", "nullpass", "plain", "md5", "empty"]) {
        expect(await lookup(strict, account)).toEqual({ result: "deny" });
      }
      const lenient = authenticator(collection, { allowPasswordless: true });
      expect(await lookup(lenient, "nopass")).toEqual({
        result: "allow",
        labels: { groups: ["ghosts"] },
      });
      expect(await lookup(lenient, "plain")).toEqual({ result: "deny" });
    });

    it("lets it in with any password under allowPasswordless (docker_auth's behaviour)", async () => {
      const checker = authenticator(collection, { allowPasswordless: true });
      expect(await checker.authenticate(request("nopass", "anything"))).toEqual({
        result: "allow",
        labels: { groups: ["ghosts"] },
      });
      expect(await checker.authenticate(request("nullpass", ""))).toEqual({
        result: "allow",
        labels: {},
      });
      // A password that is there but is not bcrypt is not "no password".
      expect(await checker.authenticate(request("empty", ""))).toEqual({ result: "deny" });
    });

    it("denies a password stored in another scheme or in clear, and logs the _id, not the value", async () => {
      const logger = recordingLogger();
      const checker = authenticator(collection, { logger });
      expect(await checker.authenticate(request("plain", "plain-text-password"))).toEqual({
        result: "deny",
      });
      expect(await checker.authenticate(request("md5", "x"))).toEqual({ result: "deny" });
      const warnings = logger.calls.filter((call) => call.level === "warn");
      expect(warnings).toHaveLength(2);
      expect(warnings[0]?.fields.id).toMatch(/^ObjectId\("[0-9a-f]{24}"\)$/);
      expect(warnings[0]?.message).toMatch(/not a bcrypt hash/);
      expect(logger.text()).not.toContain("plain-text-password");
      expect(logger.text()).not.toContain("$apr1$");
    });

    it("fails (503) on malformed labels, naming the _id and the field in the cause", async () => {
      const bad = freshCollection();
      await users(bad).insertOne({
        username: "eve",
        password: await hashPassword("eve-password", 4),
        labels: { groups: "admins" },
      });
      const error = await rejection(
        authenticator(bad).authenticate(request("eve", "eve-password")),
        "ERR_BACKEND_UNAVAILABLE",
      );
      expect(error.message).toBe("mongodb: a user document is malformed");
      expect(isRegauthError(error.cause, "ERR_CONFIG_INVALID")).toBe(true);
      expect((error.cause as Error).message).toMatch(
        /^users document _id ObjectId\("[0-9a-f]{24}"\): labels\.groups: expected an array of strings/,
      );
      // A wrong password is a plain deny: the malformed document is not revealed.
      expect(await authenticator(bad).authenticate(request("eve", "guess"))).toEqual({
        result: "deny",
      });
    });
  });

  describe("connections", () => {
    const collection = freshCollection();
    beforeAll(async () => {
      await users(collection).insertOne({
        username: "alice",
        password: await hashPassword(passwords.alice, 4),
      });
    });

    it("uses a MongoClient it is given and leaves it open on close()", async () => {
      const own = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5_000 });
      try {
        const checker = createMongoAuthenticator({ client: own, database, collection });
        expect(await checker.authenticate(request("alice", passwords.alice))).toMatchObject({
          result: "allow",
        });
        await checker.close();
        await rejection(
          checker.authenticate(request("alice", passwords.alice)),
          "ERR_BACKEND_UNAVAILABLE",
        );
        // The service's client still works.
        expect(await own.db(database).collection(collection).countDocuments()).toBe(1);
      } finally {
        await own.close();
      }
    });

    it("closes the client it opened from the URI", async () => {
      const checker = authenticator(collection);
      expect(await checker.authenticate(request("alice", passwords.alice))).toMatchObject({
        result: "allow",
      });
      await checker.close();
      await checker.close(); // twice is fine
      const error = await rejection(
        checker.authenticate(request("alice", passwords.alice)),
        "ERR_BACKEND_UNAVAILABLE",
      );
      expect(error.message).toBe("mongodb: closed");
    });
  });

  describe("the server stopped mid-run", () => {
    it.skipIf(mongo.external !== undefined)(
      "fails with ERR_BACKEND_UNAVAILABLE (503) within timeoutMs, then recovers, even if it never connected",
      async () => {
        const collection = freshCollection();
        await users(collection).insertOne({
          username: "alice",
          password: await hashPassword(passwords.alice, 4),
          labels: { groups: ["qa"] },
        });
        const checker = authenticator(collection, { timeoutMs: 1_000 });
        expect(await checker.authenticate(request("alice", passwords.alice))).toMatchObject({
          result: "allow",
        });

        await server.stop();
        // Created and first used while the server is down: its client's first
        // connection fails, which the driver does not retry by itself.
        const late = authenticator(collection, { timeoutMs: 1_000 });
        try {
          await rejection(late.ready(), "ERR_BACKEND_UNAVAILABLE");
          for (const account of ["alice", "unknown"]) {
            const started = performance.now();
            const error = await rejection(
              checker.authenticate(request(account, passwords.alice)),
              "ERR_BACKEND_UNAVAILABLE",
            );
            expect(error.message).toBe("mongodb: user lookup failed");
            expect(performance.now() - started).toBeLessThan(5_000);
          }
        } finally {
          await server.start();
        }
        await expect
          .poll(
            () =>
              checker.authenticate(request("alice", passwords.alice)).catch((error: unknown) => ({
                result: isRegauthError(error) ? error.code : "other",
              })),
            { timeout: 15_000, interval: 250 },
          )
          .toEqual({ result: "allow", labels: { groups: ["qa"] } });
        await expect
          .poll(
            () =>
              late.authenticate(request("alice", passwords.alice)).catch((error: unknown) => ({
                result: isRegauthError(error) ? error.code : "other",
              })),
            { timeout: 15_000, interval: 250 },
          )
          .toEqual({ result: "allow", labels: { groups: ["qa"] } });
      },
      40_000,
    );
  });
});

describe("createMongoAuthenticator options", () => {
  const configError = (options: unknown): RegauthError => {
    try {
      createMongoAuthenticator(options as MongoAuthenticatorOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(RegauthError);
      expect((error as RegauthError).code).toBe("ERR_CONFIG_INVALID");
      return error as RegauthError;
    }
    throw new Error("expected ERR_CONFIG_INVALID");
  };

  it("needs a database and exactly one of uri and client", () => {
    expect(configError({ uri: "mongodb://127.0.0.1:1/" }).message).toBe(
      "database: required, expected a database name",
    );
    expect(configError({ database: "auth" }).message).toBe("uri: required: give uri or client");
    const client = new MongoClient("mongodb://127.0.0.1:1/");
    expect(configError({ database: "auth", uri: "mongodb://127.0.0.1:1/", client }).message).toBe(
      "client: give uri or client, not both",
    );
    expect(configError({ database: "auth", client, clientOptions: {} }).message).toBe(
      "clientOptions: only used with uri; configure the client you pass instead",
    );
    expect(configError({ database: "auth", client: {} }).message).toBe(
      "client: expected a MongoClient",
    );
  });

  it("names bad fields and unknown keys without echoing a connection string", () => {
    const secret = "hunter2-secret";
    const bad = configError({ database: "auth", uri: `http://admin:${secret}@db:27017/` });
    expect(bad.message).toBe("uri: expected a mongodb:// or mongodb+srv:// connection string");
    const refused = configError({ database: "auth", uri: `mongodb://admin:${secret}@/` });
    expect(refused.message).toMatch(/^uri: the MongoDB driver refused this connection string/);
    for (const error of [bad, refused]) {
      expect(error.message).not.toContain(secret);
      expect(String(error.cause ?? "")).not.toContain(secret);
    }
    expect(
      configError({ database: "auth", uri: "mongodb://h/", timeoutMs: 0, colection: "x" }).message,
    ).toBe("timeoutMs: expected at least 1 ms; colection: unknown key");
    expect(
      configError({ database: "auth", uri: "mongodb://h/", logger: console.log }).message,
    ).toBe("logger: expected a logger with debug, info, warn and error");
  });

  it("connects at first use, not at construction: an unreachable server gives 503", async () => {
    // Port 1 has no server: construction succeeds, the first use fails with 503.
    const checker = createMongoAuthenticator({
      uri: "mongodb://127.0.0.1:1/",
      database: "auth",
      timeoutMs: 300,
    });
    await rejection(checker.authenticate(request("alice", "x")), "ERR_BACKEND_UNAVAILABLE");
    await checker.close();
  });
});
