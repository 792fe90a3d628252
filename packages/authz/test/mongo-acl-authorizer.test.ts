// createMongoAclAuthorizer against a real MongoDB-protocol server: FerretDB
// started by test/support/ferretdb.ts, or the server at MONGODB_URI.
import { type AuthzRequest, isRegauthError, type Logger, RegauthError } from "@regauth/core";
import { type Collection, type Document, MongoClient, ObjectId } from "mongodb";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../../../test/support/cleanup.js";
import {
  checkMongoServer,
  type MongoServer,
  startMongoServer,
  uniqueDatabaseName,
} from "../../../test/support/ferretdb.js";
import {
  createMongoAclAuthorizer,
  type MongoAclAuthorizer,
  type MongoAclAuthorizerOptions,
} from "../src/mongodb/index.js";

const mongo = checkMongoServer();

function request(
  account: string,
  name: string,
  actions: string[] = ["pull", "push"],
  labels: Record<string, string[]> = {},
): AuthzRequest {
  return {
    account,
    service: "registry.test",
    clientIp: "10.1.2.3",
    labels,
    scope: { type: "repository", name, actions },
  };
}

interface LogCall {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(): Logger & { calls: LogCall[] } {
  const calls: LogCall[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    calls.push({ level, fields, message });
  };
  return { calls, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
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

/** The authorizer's answer, or the code it threw. */
async function outcome(authorizer: MongoAclAuthorizer, input: AuthzRequest): Promise<unknown> {
  try {
    return await authorizer.authorize(input);
  } catch (error) {
    return { threw: isRegauthError(error) ? error.code : String(error) };
  }
}

describe.skipIf(!mongo.ok)("createMongoAclAuthorizer (real server)", () => {
  const cleanup = new Cleanup();
  const database = uniqueDatabaseName("authz");
  let server: MongoServer;
  let client: MongoClient;
  let opened: MongoAclAuthorizer[] = [];
  let collectionCount = 0;

  const freshCollection = () => `acl_${++collectionCount}`;
  const rules = (name: string): Collection<Document> => client.db(database).collection(name);

  /** An authorizer on `collection`, opened from the URI unless `client` is given, closed after the case. */
  function authorizer(
    collection: string,
    options: Partial<MongoAclAuthorizerOptions> = {},
  ): MongoAclAuthorizer {
    const created = createMongoAclAuthorizer({
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

  it("orders rules by seq, whatever the insertion order", async () => {
    const collection = freshCollection();
    // Inserted last-first: the general rule before the specific one.
    await rules(collection).insertMany([
      { seq: 300, match: {}, actions: [], comment: "everything else: nothing" },
      { seq: 20, match: { account: "/.+/" }, actions: ["pull"], comment: "users pull" },
      { seq: 1.5, match: { account: "admin" }, actions: ["*"], comment: "admin" },
      { seq: -4, match: { name: "${account}/*" }, actions: ["pull", "push"], comment: "own" },
    ]);
    const acl = authorizer(collection);
    await acl.ready();
    expect(await acl.authorize(request("alice", "alice/app"))).toEqual({
      result: "grant",
      actions: ["pull", "push"],
    });
    expect(await acl.authorize(request("admin", "team/app"))).toEqual({
      result: "grant",
      actions: ["*"],
    });
    expect(await acl.authorize(request("alice", "team/app"))).toEqual({
      result: "grant",
      actions: ["pull"],
    });
    expect(await acl.authorize(request("", "team/app"))).toEqual({ result: "grant", actions: [] });

    const decision = acl.explain(request("bob", "team/app", ["pull", "push"]));
    expect(decision).toMatchObject({
      entryIndex: 2,
      seq: 20,
      comment: "users pull",
      allowed: ["pull"],
      granted: ["pull"],
    });
    const stored = await rules(collection).findOne({ seq: 20 });
    expect(String(decision.documentId)).toBe(String(stored?._id));
    expect(acl.status()).toMatchObject({ rules: 4, lastError: undefined });
  });

  it("answers no-match when no rule matches, and for an empty collection (with a warning)", async () => {
    const collection = freshCollection();
    const logger = recordingLogger();
    const empty = authorizer(collection, { logger });
    expect(await empty.authorize(request("alice", "app"))).toEqual({ result: "no-match" });
    expect(logger.calls).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message: "the acl collection holds no rules: every request gets no-match",
      }),
    );
    await rules(collection).insertOne({ seq: 1, match: { account: "bob" }, actions: ["*"] });
    await empty.reload();
    expect(await empty.authorize(request("alice", "app"))).toEqual({ result: "no-match" });
    expect(empty.explain(request("alice", "app"))).toMatchObject({
      entryIndex: undefined,
      documentId: undefined,
      seq: undefined,
    });
  });

  it("orders equal seq values by _id and warns about them", async () => {
    const collection = freshCollection();
    await rules(collection).insertMany([
      { _id: new ObjectId("000000000000000000000002"), seq: 5, actions: ["pull"] },
      { _id: new ObjectId("000000000000000000000001"), seq: 5, actions: ["push"] },
    ]);
    const logger = recordingLogger();
    const acl = authorizer(collection, { logger });
    expect(await acl.authorize(request("alice", "app"))).toEqual({
      result: "grant",
      actions: ["push"],
    });
    expect(logger.calls).toContainEqual(
      expect.objectContaining({ level: "warn", fields: expect.objectContaining({ seqs: [5] }) }),
    );
  });

  it("puts a rule inserted at run time in force on reload(), not before", async () => {
    const collection = freshCollection();
    await rules(collection).insertOne({ seq: 100, match: { account: "/.+/" }, actions: ["pull"] });
    const acl = authorizer(collection, { cacheTtl: 3_600 });
    expect(await acl.authorize(request("carol", "app"))).toEqual({
      result: "grant",
      actions: ["pull"],
    });
    await rules(collection).insertOne({ seq: 10, match: { account: "carol" }, actions: ["*"] });
    expect(await acl.authorize(request("carol", "app"))).toEqual({
      result: "grant",
      actions: ["pull"],
    });
    const loaded = await acl.reload();
    expect(loaded.rules).toBe(2);
    expect(loaded.loadedAt).toBeInstanceOf(Date);
    expect(await acl.authorize(request("carol", "app"))).toEqual({
      result: "grant",
      actions: ["*"],
    });
  });

  it("puts a rule inserted at run time in force within cacheTtl seconds", async () => {
    const collection = freshCollection();
    await rules(collection).insertOne({ seq: 100, match: { account: "/.+/" }, actions: ["pull"] });
    const acl = authorizer(collection, { cacheTtl: 0.5 });
    await acl.ready();
    const firstLoad = acl.status().loadedAt;
    await rules(collection).insertOne({ seq: 10, match: { account: "dave" }, actions: [] });
    const inserted = performance.now();
    await expect
      .poll(() => acl.authorize(request("dave", "app")), { timeout: 5_000, interval: 50 })
      .toEqual({ result: "grant", actions: [] });
    expect(performance.now() - inserted).toBeLessThan(3_000);
    expect(acl.status().loadedAt?.getTime()).toBeGreaterThan(firstLoad?.getTime() ?? 0);
  });

  it("rejects a malformed rule with its _id and field, and keeps the old rules in force", async () => {
    const collection = freshCollection();
    await rules(collection).insertOne({ seq: 1, match: { account: "erin" }, actions: ["pull"] });
    const logger = recordingLogger();
    const acl = authorizer(collection, { logger });
    await acl.ready();

    const bad = await rules(collection).insertOne({
      seq: 0,
      match: { nmae: "erin/*" }, // a typo docker_auth would read as "match everything"
      actions: ["*"],
    });
    const error = await rejection(acl.reload(), "ERR_CONFIG_INVALID");
    expect(error.message).toBe(
      `acl document _id ObjectId("${bad.insertedId.toHexString()}"): match.nmae: unknown key`,
    );
    expect(await acl.authorize(request("erin", "erin/app"))).toEqual({
      result: "grant",
      actions: ["pull"],
    });
    expect(acl.status()).toMatchObject({ rules: 1, lastError: error });
    const warning = logger.calls.find((call) => call.level === "warn");
    expect(warning?.message).toBe("acl reload failed; the rules loaded before stay in force");
    expect(warning?.fields.reason).toBe(error.message);

    // Fixed in the database: the next load puts both rules in force.
    await rules(collection).updateOne(
      { _id: bad.insertedId },
      { $rename: { "match.nmae": "match.name" } },
    );
    await acl.reload();
    expect(acl.status()).toMatchObject({ rules: 2, lastError: undefined });
    expect(await acl.authorize(request("erin", "erin/app"))).toEqual({
      result: "grant",
      actions: ["*"],
    });
  });

  it("checks every document with the static ACL's schema", async () => {
    const collection = freshCollection();
    // _id values of several BSON types, as the messages print them.
    const anyIds = client
      .db(database)
      .collection<{ _id: string | number; [field: string]: unknown }>(collection);
    await anyIds.insertMany([
      { _id: "no-seq", match: {}, actions: ["pull"] },
      { _id: "string-seq", seq: "1", actions: ["pull"] },
      { _id: "bad-regex", seq: 2, match: { name: "/(unclosed/" }, actions: ["pull"] },
      { _id: "bad-ip", seq: 3, match: { ip: "10.0.0.0/33" }, actions: ["pull"] },
      { _id: "extra-field", seq: 4, actions: ["pull"], owner: "ops" },
      { _id: "no-actions", seq: 5, match: { account: "x" } },
      { _id: 7, seq: 6, actions: "pull" },
    ]);
    const acl = authorizer(collection);
    const error = await rejection(acl.reload(), "ERR_CONFIG_INVALID");
    const reported = error.message.split("; ");
    expect(reported.slice(0, 5)).toEqual([
      'acl document _id "no-seq": seq: required, expected a number',
      'acl document _id "string-seq": seq: expected a number',
      expect.stringMatching(
        /^acl document _id "bad-regex": match\.name: invalid regular expression: /,
      ),
      expect.stringMatching(/^acl document _id "bad-ip": match\.ip: expected an ip address/),
      'acl document _id "extra-field": owner: unknown key',
    ]);
    expect(reported[5]).toBe("and 2 more");
  });

  it("never grants while no rules could be loaded: 503 until a good load", async () => {
    const collection = freshCollection();
    const bad = await rules(collection).insertOne({
      seq: 1,
      match: { acount: "x" },
      actions: ["*"],
    });
    const logger = recordingLogger();
    const acl = authorizer(collection, { logger });
    const error = await rejection(acl.authorize(request("x", "app")), "ERR_BACKEND_UNAVAILABLE");
    expect(error.message).toBe("mongodb-acl: no acl rules loaded");
    expect(isRegauthError(error.cause, "ERR_CONFIG_INVALID")).toBe(true);
    expect(() => acl.explain(request("x", "app"))).toThrow(/no acl rules loaded/);
    await rejection(acl.ready(), "ERR_CONFIG_INVALID");
    expect(acl.status()).toMatchObject({ loadedAt: undefined, rules: 0 });
    expect(logger.calls.find((call) => call.level === "error")?.message).toBe(
      "acl rules cannot be loaded; no rules in force",
    );

    // $rename, not $set of the whole `match`: FerretDB 1.24 takes { acount: "x" } ->
    // { account: "x" } (same values, another key) for "no change" and keeps the typo.
    await rules(collection).updateOne(
      { _id: bad.insertedId },
      { $rename: { "match.acount": "match.account" } },
    );
    await expect
      .poll(() => outcome(acl, request("x", "app")), { timeout: 5_000, interval: 200 })
      .toEqual({ result: "grant", actions: ["*"] });
  });

  it("uses a MongoClient it is given and leaves it open on close()", async () => {
    const collection = freshCollection();
    await rules(collection).insertOne({ seq: 1, actions: ["pull"] });
    const own = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5_000 });
    try {
      const acl = createMongoAclAuthorizer({ client: own, database, collection });
      expect(await acl.authorize(request("a", "b"))).toEqual({
        result: "grant",
        actions: ["pull"],
      });
      await acl.close();
      await rejection(acl.authorize(request("a", "b")), "ERR_BACKEND_UNAVAILABLE");
      await rejection(acl.reload(), "ERR_BACKEND_UNAVAILABLE");
      expect(await own.db(database).collection(collection).countDocuments()).toBe(1);
    } finally {
      await own.close();
    }
  });

  describe("the server stopped mid-run", () => {
    it.skipIf(mongo.external !== undefined)(
      "keeps the rules in force, reports failed reloads, 503 for a fresh authorizer, then recovers",
      async () => {
        const collection = freshCollection();
        await rules(collection).insertOne({
          seq: 1,
          match: { account: "frank" },
          actions: ["pull"],
        });
        const logger = recordingLogger();
        const running = authorizer(collection, { cacheTtl: 0.5, timeoutMs: 1_000, logger });
        await running.ready();

        await server.stop();
        let fresh: MongoAclAuthorizer | undefined;
        try {
          const error = await rejection(running.reload(), "ERR_BACKEND_UNAVAILABLE");
          expect(error.message).toBe("mongodb-acl: cannot read the rules");
          // The last good copy answers.
          expect(await running.authorize(request("frank", "app"))).toEqual({
            result: "grant",
            actions: ["pull"],
          });
          expect(running.status().lastError?.code).toBe("ERR_BACKEND_UNAVAILABLE");
          expect(logger.calls.map((call) => call.level)).toContain("warn");

          fresh = authorizer(collection, { timeoutMs: 1_000 });
          const started = performance.now();
          await rejection(fresh.authorize(request("frank", "app")), "ERR_BACKEND_UNAVAILABLE");
          expect(performance.now() - started).toBeLessThan(5_000);
        } finally {
          await server.start();
        }
        await rules(collection).insertOne({ seq: 0, match: { account: "frank" }, actions: ["*"] });
        // The timer's next reload picks the new rule up; the fresh one loads on demand.
        await expect
          .poll(() => outcome(running, request("frank", "app")), { timeout: 15_000, interval: 250 })
          .toEqual({ result: "grant", actions: ["*"] });
        expect(running.status().lastError).toBeUndefined();
        await expect
          .poll(() => outcome(fresh as MongoAclAuthorizer, request("frank", "app")), {
            timeout: 15_000,
            interval: 250,
          })
          .toEqual({ result: "grant", actions: ["*"] });
      },
      60_000,
    );
  });
});

describe("createMongoAclAuthorizer options", () => {
  const configError = (options: unknown): RegauthError => {
    try {
      createMongoAclAuthorizer(options as MongoAclAuthorizerOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(RegauthError);
      expect((error as RegauthError).code).toBe("ERR_CONFIG_INVALID");
      return error as RegauthError;
    }
    throw new Error("expected ERR_CONFIG_INVALID");
  };

  it("names each bad option", () => {
    expect(configError({ uri: "mongodb://h/" }).message).toBe(
      "database: required, expected a database name",
    );
    expect(configError({ database: "d" }).message).toBe("uri: required: give uri or client");
    expect(configError({ database: "d", uri: "mongodb://h/", cacheTtl: 0 }).message).toBe(
      "cacheTtl: expected at least 0.1 seconds",
    );
    expect(configError({ database: "d", uri: "mongodb://h/", cacheTtl: "1m" }).message).toBe(
      "cacheTtl: expected a number of seconds",
    );
    expect(configError({ database: "d", uri: "mongodb://h/", cache_ttl: 60 }).message).toBe(
      "cache_ttl: unknown key",
    );
  });

  it("never echoes the connection string", () => {
    const error = configError({ database: "d", uri: "mongodb://u:s3cr3t-pw@/" });
    expect(error.message).not.toContain("s3cr3t-pw");
  });
});
