// End to end: `regauth serve CONFIG`, a docker_auth-style YAML file with `mongo_auth`
// and `acl_mongo` (users and rules in a MongoDB-protocol server: FerretDB started by
// the harness, or MONGODB_URI), is the token server of docker-registry 2.8; skopeo
// pushes and pulls. A rule inserted at run time applies within cache_ttl, and
// `regauth explain` names the rule document that decides.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hashPassword } from "@regauth/authn";
import { buildOciImage, type OciImage } from "@regauth/example-standalone/demo-image";
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
import { freePort } from "../support/ports.js";
import { type RegauthServe, runRegauth, startRegauthServe } from "../support/regauth-cli.js";
import { type RunningRegistry, startRegistry } from "../support/registry.js";
import { createSigningMaterial } from "../support/signing.js";
import { type Credentials, createSkopeo, type Skopeo } from "../support/skopeo.js";

const peers = checkPeers("docker-registry", "skopeo", "openssl");
const mongo = checkMongoServer();
const SERVICE = "registry.e2e.test";
const BUILDER: Credentials = { username: "builder", password: "builder-e2e-password" };
const VIEWER: Credentials = { username: "viewer", password: "viewer-e2e-password" };

/**
 * docker_auth's `dial_info` for a connection string: hosts, and credentials
 * (the password as a `${ENV}` reference, its value returned in `env`).
 */
function dialInfo(uri: string, database: string): { yaml: string; env: Record<string, string> } {
  const parsed = /^mongodb:\/\/(?:([^:@/]+)(?::([^@/]*))?@)?([^/?]+)\/?(?:\?(.*))?$/.exec(uri);
  if (parsed === null) throw new Error("MONGODB_URI: only mongodb://[user:pass@]hosts[/?options]");
  const [, user, password, hosts, query] = parsed;
  const source = new URLSearchParams(query ?? "").get("authSource");
  const lines = [
    `addrs: [${(hosts ?? "")
      .split(",")
      .map((host) => JSON.stringify(host))
      .join(", ")}]`,
    `database: ${database}`,
    `timeout: "10s"`,
  ];
  const env: Record<string, string> = {};
  if (user !== undefined) {
    lines.push(`username: ${JSON.stringify(decodeURIComponent(user))}`);
    lines.push('password: "${MONGO_E2E_PASSWORD}"');
    env.MONGO_E2E_PASSWORD = decodeURIComponent(password ?? "");
    lines.push(`source: ${source ?? "admin"}`);
  }
  return { yaml: lines.map((line) => `    ${line}`).join("\n"), env };
}

describe.skipIf(!peers.ok || !mongo.ok)(
  "regauth serve with mongo_auth + acl_mongo (FerretDB) + registry 2.8 + skopeo",
  () => {
    const cleanup = new Cleanup();
    const database = uniqueDatabaseName("server");
    let mongoServer: MongoServer;
    let client: MongoClient;
    let server: RegauthServe;
    let registry: RunningRegistry;
    let skopeo: Skopeo;
    let image: OciImage;
    let work: string;
    let configPath: string;
    let env: Record<string, string>;
    const diagnostics = () =>
      `\n${skopeo.lastOutput()}\n--- regauth ---\n${server.log().slice(-3000)}\n--- mongo ---\n${mongoServer.logTail(20)}\n--- registry ---\n${registry.logTail(20)}`;
    const ref = (name: string) => `docker://${registry.host}/${name}:latest`;
    const push = (creds: Credentials, repository: string) =>
      skopeo.copy(image.reference, ref(repository), { destCreds: creds });

    beforeAll(async () => {
      mongoServer = await startMongoServer({ cleanup });
      client = new MongoClient(mongoServer.uri, { serverSelectionTimeoutMS: 10_000 });
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
      // Out of order on purpose: seq decides.
      await db.collection("acl").insertMany([
        {
          seq: 30,
          match: { account: "/.+/" },
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

      const root = await cleanup.tempDir("server-mongo-");
      for (const sub of ["signing", "registry", "skopeo", "work"]) await mkdir(join(root, sub));
      work = join(root, "work");
      const signing = await createSigningMaterial(join(root, "signing"));
      const dial = dialInfo(mongoServer.uri, database);
      env = dial.env;
      const port = await freePort();
      configPath = join(root, "auth_config.yml");
      await writeFile(
        configPath,
        `server:
  addr: "127.0.0.1:${port}"
token:
  issuer: "regauth-e2e"
  expiration: 900
  certificate: ${signing.certificatePath}
  key: ${signing.keyPath}
mongo_auth:
  dial_info:
${dial.yaml}
  collection: users
acl_mongo:
  dial_info:
${dial.yaml}
  collection: acl
  cache_ttl: "1s"
`,
      );
      server = await startRegauthServe({ cleanup, configPath, env });
      registry = await startRegistry({
        dir: join(root, "registry"),
        realm: `http://127.0.0.1:${port}/auth`,
        service: SERVICE,
        issuer: "regauth-e2e",
        rootCertBundlePath: signing.certificatePath,
      });
      cleanup.defer(() => registry.stop());
      skopeo = await createSkopeo(join(root, "skopeo"));
      image = await buildOciImage(join(work, "source"));
    }, 300_000);
    afterAll(() => cleanup.run(), 60_000);

    it("check shows both sections in docker_auth's chain order", async () => {
      const { code, stdout, stderr } = await runRegauth(["check", configPath], env);
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("authenticators: mongo_auth\n");
      expect(stdout).toContain("authorizers:    acl_mongo\n");
      expect(stdout).toContain(`mongo_auth:     users in ${database}.users at `);
      expect(stdout).toContain(`acl_mongo:      rules in ${database}.acl at `);
      expect(stdout).toContain("reloaded every 1 s");
    });

    it("a MongoDB user pushes under a MongoDB rule; a viewer pulls but cannot push", async () => {
      const pushed = await push(BUILDER, "team/app");
      expect(pushed.code, diagnostics()).toBe(0);
      const inspected = await skopeo.inspect(ref("team/app"), VIEWER);
      expect(inspected.digest, diagnostics()).toBe(image.manifestDigest);
      const refused = await push(VIEWER, "team/viewer-push");
      expect(refused.code, diagnostics()).not.toBe(0);
      const wrong = await skopeo.inspect(ref("team/app"), { ...BUILDER, password: "nope" });
      expect(wrong.code, diagnostics()).not.toBe(0);
    });

    it("explain names the rule document that decides", async () => {
      const { code, stdout, stderr } = await runRegauth(
        ["explain", configPath, "--account", "viewer", "--scope", "repository:team/app:pull,push"],
        env,
      );
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("granted  pull");
      expect(stdout).toMatch(
        /by {7}acl_mongo document _id ObjectId\("[0-9a-f]{24}"\) \(seq 30\) "signed-in users pull", allows pull/,
      );
    });

    it("a rule inserted at run time applies within cache_ttl", async () => {
      expect((await push(VIEWER, "viewer/own")).code, "not allowed yet").not.toBe(0);
      await client
        .db(database)
        .collection("acl")
        .insertOne({
          seq: 5,
          match: { name: "${account}/*" },
          actions: ["*"],
          comment: "everyone owns their namespace",
        });
      await expect
        .poll(async () => (await push(VIEWER, "viewer/own")).code, {
          timeout: 20_000,
          interval: 500,
        })
        .toBe(0);
      expect(server.process.exitCode).toBeNull();
    });
  },
);
