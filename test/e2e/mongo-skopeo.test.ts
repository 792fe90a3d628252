// End to end with users and rules in MongoDB: docker-registry 2.8 trusts tokens
// from regauth whose authenticator and authorizer read a MongoDB-protocol
// server (FerretDB started by the harness, or MONGODB_URI), and skopeo pushes
// and pulls through it. Rules written at run time take effect on reload(), and
// a stopped database gives 503, then service resumes.
import { join } from "node:path";
import { hashPassword } from "@regauth/authn";
import { createMongoAuthenticator, type MongoAuthenticator } from "@regauth/authn/mongodb";
import { createMongoAclAuthorizer, type MongoAclAuthorizer } from "@regauth/authz/mongodb";
import { createTokenHandler } from "@regauth/core";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
import { createTokenIssuer } from "@regauth/token";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import {
  checkMongoServer,
  type MongoServer,
  startMongoServer,
  uniqueDatabaseName,
} from "../support/ferretdb.js";
import { checkPeers } from "../support/peers.js";
import type { Credentials } from "../support/skopeo.js";
import { type Stack, startStack } from "../support/stack.js";

const peers = checkPeers("docker-registry", "skopeo", "openssl");
const mongo = checkMongoServer();

const BUILDER: Credentials = { username: "builder", password: "builder-e2e-password" };
const VIEWER: Credentials = { username: "viewer", password: "viewer-e2e-password" };

describe.skipIf(!peers.ok || !mongo.ok)("registry 2.8 + skopeo, users and ACL in MongoDB", () => {
  const cleanup = new Cleanup();
  const database = uniqueDatabaseName("e2e");
  let server: MongoServer;
  let client: MongoClient;
  let authenticator: MongoAuthenticator;
  let authorizer: MongoAclAuthorizer;
  let stack: Stack;
  let image: OciImage;

  const push = (creds: Credentials, repo: string) =>
    stack.skopeo.copy(image.reference, stack.imageRef(repo), { destCreds: creds });
  const pullTarget = (name: string) => `oci:${join(stack.workDir, `pulled-${name}`)}:latest`;

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
    const db = client.db(database);
    await db.collection("users").insertMany([
      {
        username: BUILDER.username,
        password: await hashPassword(BUILDER.password, 4),
        labels: { groups: ["builders"] },
      },
      { username: VIEWER.username, password: await hashPassword(VIEWER.password, 4) },
    ]);
    // Inserted out of order: seq decides, not insertion.
    await db.collection("acl").insertMany([
      {
        seq: 30,
        match: { account: "/.+/", type: "repository" },
        actions: ["pull"],
        comment: "signed-in users pull",
      },
      {
        seq: 10,
        match: { labels: { groups: "builders" }, name: "team/*" },
        actions: ["pull", "push"],
        comment: "builders push to team/",
      },
    ]);

    authenticator = createMongoAuthenticator({ uri: server.uri, database, timeoutMs: 2_000 });
    authorizer = createMongoAclAuthorizer({
      uri: server.uri,
      database,
      cacheTtl: 60,
      timeoutMs: 2_000,
    });
    cleanup.defer(() => authenticator.close());
    cleanup.defer(() => authorizer.close());
    await Promise.all([authenticator.ready(), authorizer.ready()]);

    stack = await startStack({
      cleanup,
      createHandler: ({ signing, service, issuer }) =>
        createTokenHandler({
          authenticators: [authenticator],
          authorizers: [authorizer],
          issuer: createTokenIssuer({ issuer, privateKey: signing.privateKeyPem }),
          services: [service],
          // Every request reaches the backend: these cases are about the backend
          // (outages give 503), not about the credential cache in front of it.
          credentialCacheTtl: 0,
        }),
    });
    image = await buildOciImage(join(stack.workDir, "source"));
  }, 300_000);
  afterAll(() => cleanup.run(), 60_000);

  it("lets a MongoDB user push under a MongoDB rule, and pull it back", async () => {
    const pushed = await push(BUILDER, "team/app");
    expect(pushed.code, `push failed${stack.diagnostics()}`).toBe(0);
    const inspected = await stack.skopeo.inspect(stack.imageRef("team/app"), BUILDER);
    expect(inspected.digest, stack.diagnostics()).toBe(image.manifestDigest);
    const asked = stack.tokens.requests.find(
      (r) => r.account === BUILDER.username && r.scopes.includes("repository:team/app:pull,push"),
    );
    expect(asked?.status, stack.diagnostics()).toBe(200);
  });

  it("grants the viewer pull only: its push is refused by the registry, its pull works", async () => {
    expect((await push(BUILDER, "team/shared")).code, stack.diagnostics()).toBe(0);
    const refused = await push(VIEWER, "team/viewer-push");
    expect(refused.code, `viewer's push should fail${stack.diagnostics()}`).not.toBe(0);
    expect(refused.stderr, stack.diagnostics()).toMatch(
      /requested access to the resource is denied/,
    );
    const pulled = await stack.skopeo.copy(stack.imageRef("team/shared"), pullTarget("viewer"), {
      srcCreds: VIEWER,
    });
    expect(pulled.code, `viewer's pull failed${stack.diagnostics()}`).toBe(0);
  });

  it("refuses a wrong password with 401", async () => {
    const fetched = await stack.fetchToken({ username: BUILDER.username, password: "nope" }, [
      "repository:team/app:pull",
    ]);
    expect(fetched.status).toBe(401);
    expect(fetched.body).toMatchObject({ errors: [{ code: "UNAUTHORIZED" }] });
  });

  it("applies a rule inserted at run time after reload()", async () => {
    const repo = "viewer/own";
    expect((await push(VIEWER, repo)).code, "not allowed yet").not.toBe(0);
    await client
      .db(database)
      .collection("acl")
      .insertOne({
        seq: 5,
        match: { name: "${account}/*" },
        actions: ["*"],
        comment: "everyone owns their namespace",
      });
    await authorizer.reload();
    const pushed = await push(VIEWER, repo);
    expect(pushed.code, `push after reload failed${stack.diagnostics()}`).toBe(0);
  });

  it.skipIf(mongo.external !== undefined)(
    "answers 503 while the database is stopped, then serves again",
    async () => {
      await server.stop();
      try {
        const fetched = await stack.fetchToken(BUILDER, ["repository:team/app:pull,push"]);
        expect(fetched.status, JSON.stringify(fetched.body)).toBe(503);
        expect(fetched.body).toMatchObject({ errors: [{ code: "UNAVAILABLE" }] });
        expect(fetched.token).toBeUndefined();
        const pushed = await push(BUILDER, "team/during-outage");
        expect(pushed.code, `push during the outage should fail${stack.diagnostics()}`).not.toBe(0);
      } finally {
        await server.start();
      }
      await expect
        .poll(
          async () => (await stack.fetchToken(BUILDER, ["repository:team/app:pull,push"])).status,
          { timeout: 20_000, interval: 250 },
        )
        .toBe(200);
      const pushed = await push(BUILDER, "team/after-outage");
      expect(pushed.code, `push after the outage failed${stack.diagnostics()}`).toBe(0);
    },
  );
});
