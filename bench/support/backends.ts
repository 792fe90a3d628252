// The real backends of the speed bench: OpenLDAP slapd and FerretDB (a
// MongoDB-protocol server), started on loopback by the test harness. A
// missing peer makes its rows "n/a (peer missing)" instead of failing.
import { generateKeyPairSync } from "node:crypto";
import { hashPassword } from "@regauth/authn";
import { MongoClient } from "mongodb";
import type { Cleanup } from "../../test/support/cleanup.js";
import { startMongoServer, uniqueDatabaseName } from "../../test/support/ferretdb.js";
import { findPeer } from "../../test/support/peers.js";
import { startExampleSlapd } from "../../test/support/slapd.js";

/** The password of the static and MongoDB user `alice`. */
export const STATIC_PASSWORD = "bench-password";
/** bcrypt cost of that user's hash: the library's default. */
export const BCRYPT_COST = 10;

/** A backend the bench could start, or why not. */
export type Backend<T> =
  | { readonly available: true; readonly options: T }
  | { readonly available: false; readonly reason: string };

/** Where the LDAP user is: what `createLdapAuthenticator` needs, and the user. */
export interface LdapBackend {
  readonly url: string;
  readonly bindDn: string;
  readonly bindPassword: string;
  readonly base: string;
  readonly account: string;
  readonly password: string;
}

/** Where the MongoDB user is. */
export interface MongoBackend {
  readonly uri: string;
  readonly database: string;
  readonly collection: string;
}

/** Everything both bench processes need to build the same handlers (plain data, sent over IPC). */
export interface BenchSetup {
  readonly privateKeyPem: string;
  /** bcrypt hash of {@link STATIC_PASSWORD}. */
  readonly hash: string;
  readonly ldap: Backend<LdapBackend>;
  readonly mongo: Backend<MongoBackend>;
}

function missing(names: readonly string[]): string[] {
  return names.filter((name) => findPeer(name) === undefined);
}

async function startLdap(cleanup: Cleanup): Promise<Backend<LdapBackend>> {
  const absent = missing(["slapd", "slapadd", "ldapadd"]);
  if (absent.length > 0) return { available: false, reason: `peer missing: ${absent.join(", ")}` };
  try {
    const { slapd, directory } = await startExampleSlapd(cleanup, { logLevel: 0 });
    const alice = directory.users.alice;
    if (alice === undefined) return { available: false, reason: "no user alice" };
    return {
      available: true,
      options: {
        url: slapd.url,
        bindDn: directory.service.dn,
        bindPassword: directory.service.password,
        base: `ou=people,${slapd.suffix}`,
        account: alice.account,
        password: alice.password,
      },
    };
  } catch (error) {
    return { available: false, reason: `slapd failed: ${(error as Error).message.split("\n")[0]}` };
  }
}

async function startMongo(cleanup: Cleanup, hash: string): Promise<Backend<MongoBackend>> {
  const external = (process.env.MONGODB_URI ?? "") !== "";
  if (!external && findPeer("ferretdb") === undefined) {
    return { available: false, reason: "peer missing: ferretdb" };
  }
  try {
    const server = await startMongoServer({ cleanup });
    const database = uniqueDatabaseName("bench");
    const collection = "users";
    const client = new MongoClient(server.uri);
    await client.connect();
    await client
      .db(database)
      .collection(collection)
      .insertOne({ username: "alice", password: hash, labels: { groups: ["bench"] } });
    await client.close();
    cleanup.defer(async () => {
      const dropper = new MongoClient(server.uri);
      try {
        await dropper.db(database).dropDatabase();
      } finally {
        await dropper.close();
      }
    });
    return { available: true, options: { uri: server.uri, database, collection } };
  } catch (error) {
    return {
      available: false,
      reason: `MongoDB server failed: ${(error as Error).message.split("\n")[0]}`,
    };
  }
}

/** Makes the signing key and the bcrypt hash, and starts slapd and FerretDB side by side. */
export async function prepareBackends(cleanup: Cleanup): Promise<BenchSetup> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const hash = await hashPassword(STATIC_PASSWORD, BCRYPT_COST);
  const [ldap, mongo] = await Promise.all([startLdap(cleanup), startMongo(cleanup, hash)]);
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    hash,
    ldap,
    mongo,
  };
}
