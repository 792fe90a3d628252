// docker_auth's ldap_auth, mongo_auth and acl_mongo sections: written as docker_auth's
// examples/reference.yml writes them, they load into the backends' options; every
// mistake names its path.
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConfiguredHandler } from "../src/create-configured-handler.js";
import { explainAccess, formatExplanation } from "../src/explain-access.js";
import {
  ldapOptions,
  mongoConnectionOptions,
  renameKeys,
} from "../src/internal/backend-options.js";
import { parseGoDuration } from "../src/internal/backend-sections.js";
import { loadConfig } from "../src/load-config.js";
import { startServer } from "../src/start-server.js";
import { EXT_AUTH, EXT_AUTHZ, keyDir, writeConfig } from "./support.js";

let dir: string;
let cleanup: () => Promise<void>;
let closedPort: number;
beforeAll(async () => {
  ({ dir, cleanup } = await keyDir());
  await writeFile(`${dir}/ldap-bind.txt`, "  service-secret \n");
  await writeFile(`${dir}/mongo-password.txt`, "mongo-secret\n");
  await writeFile(`${dir}/empty.txt`, "\n");
  // A port nothing listens on: MongoDB backends fail fast against it.
  closedPort = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
});
afterAll(() => cleanup());

const HEAD = `
server: {addr: ":5001"}
token: {issuer: "Acme auth server", certificate: signing-cert.pem, key: signing-key.pem}
`;

/** docker_auth's reference.yml sections, with its empty keys (`bind_dn:`, `username: ""`). */
const REFERENCE = `${HEAD}
ldap_auth:
  addr: ldap.example.com:636
  tls: always
  insecure_tls_skip_verify: false
  bind_dn:
  bind_password_file:
  base: o=example.com
  filter: (&(uid=\${account})(objectClass=person))
mongo_auth:
  dial_info:
    addrs: ["localhost"]
    timeout: "10s"
    database: "docker_auth"
    username: ""
    password_file: ""
  collection: "users"
acl_mongo:
  dial_info:
    addrs: ["localhost"]
    timeout: "10s"
    database: "docker_auth"
    username: ""
    password_file: ""
  collection: "acl"
  cache_ttl: "1m"
`;

async function configError(text: string, env: Record<string, string> = {}): Promise<string> {
  try {
    await loadConfig({ text, baseDir: dir }, { env });
  } catch (error) {
    expect((error as { code: string }).code).toBe("ERR_CONFIG_INVALID");
    return (error as Error).message;
  }
  throw new Error("expected the config to be refused");
}

async function buildError(text: string, env: Record<string, string> = {}): Promise<string> {
  const config = await loadConfig({ text, baseDir: dir }, { env });
  try {
    const built = await createConfiguredHandler(config);
    await built.close();
  } catch (error) {
    expect((error as { code: string }).code).toBe("ERR_CONFIG_INVALID");
    return (error as Error).message;
  }
  throw new Error("expected the config not to build");
}

const LDAP = (extra: string) => `${HEAD}acl: []
ldap_auth:
  addr: 127.0.0.1:389
  base: ou=people,dc=example,dc=org
  filter: (&(objectClass=inetOrgPerson)(uid=\${account}))
${extra}`;

const MONGO = (section: string, extra: string) => `${HEAD}users: {}
acl: []
${section}:
  dial_info: {addrs: ["127.0.0.1:${closedPort}"], database: registry, timeout: 300ms}
  collection: things
${extra}`;

describe("docker_auth's reference.yml sections", () => {
  it("load with docker_auth's meaning: empty keys unset, :636 means LDAPS", async () => {
    const config = await loadConfig({ text: REFERENCE, baseDir: dir });
    expect(config.ldapAuth).toEqual({
      addr: "ldap.example.com:636",
      url: "ldaps://ldap.example.com:636",
      tls: "always",
      insecureTlsSkipVerify: false,
      caCertificate: undefined,
      bindDn: undefined,
      bindPasswordFile: undefined,
      bindPassword: undefined,
      initialBindAsUser: false,
      base: "o=example.com",
      filter: "(&(uid=${account})(objectClass=person))",
      labels: {},
    });
    const dialInfo = {
      addrs: ["localhost"],
      database: "docker_auth",
      timeoutMs: 10_000,
      username: undefined,
      password: undefined,
      passwordFile: undefined,
      source: undefined,
      replicaSetName: undefined,
      direct: false,
      mechanism: undefined,
      enableTls: false,
      poolLimit: undefined,
    };
    expect(config.mongoAuth).toEqual({
      dialInfo,
      collection: "users",
      allowPasswordless: false,
      createIndex: true,
    });
    expect(config.aclMongo).toEqual({ dialInfo, collection: "acl", cacheTtl: 60 });
    // Users come from LDAP or MongoDB and rules from MongoDB: users and acl are not needed.
    expect(config.users).toBeUndefined();
    expect(config.acl).toBeUndefined();
  });

  it("tls: unset is none unless the port is 636; starttls keeps ldap://", async () => {
    const plain = await loadConfig({ text: LDAP(""), baseDir: dir });
    expect(plain.ldapAuth?.url).toBe("ldap://127.0.0.1:389");
    expect(plain.ldapAuth?.tls).toBe("none");
    const upgraded = await loadConfig({
      text: LDAP("  tls: starttls\n  ca_certificate: signing-cert.pem\n"),
      baseDir: dir,
    });
    expect(upgraded.ldapAuth?.url).toBe("ldap://127.0.0.1:389");
    expect(upgraded.ldapAuth?.caCertificate).toBe(`${dir}/signing-cert.pem`);
    const ipv6 = await loadConfig({
      text: LDAP("").replace("127.0.0.1:389", "'[::1]:636'"),
      baseDir: dir,
    });
    expect(ipv6.ldapAuth?.url).toBe("ldaps://[::1]:636");
  });

  it("run in docker_auth's order: users, ext_auth, ldap_auth, mongo_auth; acl, acl_mongo, ext_authz", async () => {
    const text = `${HEAD}
mongo_auth:
  dial_info: {addrs: ["127.0.0.1:${closedPort}"], database: d, timeout: 300ms}
  collection: users
ldap_auth: {addr: "127.0.0.1:389", base: "dc=x", filter: "(uid=\${account})"}
ext_auth: {command: ${EXT_AUTH}}
users: {}
ext_authz: {command: ${EXT_AUTHZ}}
acl_mongo:
  dial_info: {addrs: ["127.0.0.1:${closedPort}"], database: d, timeout: 300ms}
  collection: acl
acl: []
`;
    const built = await createConfiguredHandler(await loadConfig({ text, baseDir: dir }));
    try {
      expect(built.authenticators.map((a) => a.name)).toEqual([
        "static",
        "ext_auth",
        "ldap_auth",
        "mongo_auth",
      ]);
      expect(built.authorizers.map((a) => a.name)).toEqual(["acl", "acl_mongo", "ext_authz"]);
      expect(built.aclMongo?.name).toBe("acl_mongo");
      // Nothing listens there: not ready, named by section, with the driver's reason.
      const failure = await built.ready().then(
        () => undefined,
        (error: unknown) => error as { code: string; message: string },
      );
      expect(failure?.code).toBe("ERR_BACKEND_UNAVAILABLE");
      expect(failure?.message).toMatch(/^(mongo_auth|acl_mongo): .+\(.+\)$/);
    } finally {
      await built.close();
    }
  });
});

describe("ldap_auth into the LDAP authenticator's options", () => {
  it("service account: bind_dn and bind_password_file (read and trimmed, as docker_auth)", async () => {
    const config = await loadConfig({
      text: LDAP(`  tls: starttls
  ca_certificate: signing-cert.pem
  bind_dn: cn=registry,ou=services,dc=example,dc=org
  bind_password_file: ldap-bind.txt
  labels:
    groups: {attribute: memberOf, parse_cn: true, lower_case: true}
    mail: {attribute: mail}
`),
      baseDir: dir,
    });
    const section = config.ldapAuth;
    if (section === undefined) throw new Error("no ldap_auth");
    expect(section.bindPasswordFile).toBe(`${dir}/ldap-bind.txt`);
    expect(ldapOptions(section, "service-secret")).toEqual({
      url: "ldap://127.0.0.1:389",
      startTls: true,
      caFile: `${dir}/signing-cert.pem`,
      bindDn: "cn=registry,ou=services,dc=example,dc=org",
      bindPassword: "service-secret",
      base: "ou=people,dc=example,dc=org",
      filter: "(&(objectClass=inetOrgPerson)(uid=${account}))",
      labels: {
        groups: { attribute: "memberOf", parseCN: true, lowerCase: true },
        mail: { attribute: "mail", parseCN: false, lowerCase: false },
      },
    });
    // The file is read when built: it builds (nothing is contacted yet).
    const built = await createConfiguredHandler(config);
    expect(built.authenticators.map((a) => a.name)).toEqual(["ldap_auth"]);
    await built.close();
  });

  it("initial_bind_as_user: bind_dn is the user's DN template", async () => {
    const config = await loadConfig({
      text: LDAP(`  initial_bind_as_user: true
  bind_dn: uid=\${account},ou=people,dc=example,dc=org
  insecure_tls_skip_verify: true
  tls: always
`),
      baseDir: dir,
    });
    const section = config.ldapAuth;
    if (section === undefined) throw new Error("no ldap_auth");
    expect(ldapOptions(section, undefined)).toEqual({
      url: "ldaps://127.0.0.1:389",
      insecureSkipTlsVerify: true,
      initialBindAsUser: "uid=${account},ou=people,dc=example,dc=org",
      base: "ou=people,dc=example,dc=org",
      filter: "(&(objectClass=inetOrgPerson)(uid=${account}))",
      labels: {},
    });
  });

  it("bind_password (regauth extension) takes a ${ENV} reference", async () => {
    const config = await loadConfig(
      {
        text: LDAP("  bind_dn: cn=registry,dc=example,dc=org\n  bind_password: ${LDAP_PW}\n"),
        baseDir: dir,
      },
      { env: { LDAP_PW: "from-env" } },
    );
    expect(config.ldapAuth?.bindPassword).toBe("from-env");
  });

  it("mistakes name their path", async () => {
    expect(await configError(LDAP("  labels: {groups: {attribute: 'member of'}}\n"))).toBe(
      "ldap_auth.labels.groups.attribute: expected an attribute name such as memberOf",
    );
    expect(await configError(LDAP("  labels: {groups: {atribute: memberOf}}\n"))).toBe(
      "ldap_auth.labels.groups.attribute: required, expected an attribute name such as memberOf; ldap_auth.labels.groups.atribute: unknown key",
    );
    expect(await configError(LDAP("  tls: yes\n"))).toBe(
      'ldap_auth.tls: expected "none", "starttls" or "always"',
    );
    expect(await configError(LDAP("  ca_certificate: ca.pem\n"))).toBe(
      "ldap_auth.ca_certificate: only with tls: starttls or always",
    );
    expect(await configError(LDAP("  bind_dn: cn=registry,dc=example,dc=org\n"))).toBe(
      "ldap_auth.bind_password_file: required with bind_dn (or bind_password)",
    );
    expect(await configError(LDAP("  initial_bind_as_user: true\n  bind_dn: cn=x\n"))).toBe(
      "ldap_auth.bind_dn: expected ${account} in the DN with initial_bind_as_user",
    );
    expect(
      await configError(
        LDAP("  initial_bind_as_user: true\n  bind_dn: uid=${account}\n  bind_password_file: f\n"),
      ),
    ).toBe(
      "ldap_auth.bind_password_file: not with initial_bind_as_user: the user's own password binds",
    );
    expect(await configError(LDAP("").replace("127.0.0.1:389", "ldap.example.com"))).toBe(
      "ldap_auth.addr: expected HOST:PORT such as ldap.example.com:636",
    );
    expect(await configError(LDAP("").replace("(uid=${account})", "(uid=x)"))).toBe(
      "ldap_auth.filter: expected ${account} in the filter, such as (uid=${account})",
    );
    expect(await configError(LDAP("  method: simple_tls\n"))).toBe(
      "ldap_auth.method: docker_auth's old method key is not read: write tls: none, starttls or always",
    );
    expect(await configError(LDAP("  bind_password: ${LDAP_PW}\n  bind_dn: cn=x\n"))).toBe(
      "ldap_auth.bind_password: environment variable LDAP_PW is not set",
    );
  });

  it("mistakes found when built are named by docker_auth's keys", async () => {
    expect(await buildError(LDAP("").replace("(uid=${account}))", "(uid=${account})"))).toBe(
      "ldap_auth.filter: expected an RFC 4515 filter in parentheses, such as (uid=${account})",
    );
    expect(
      await buildError(LDAP("  bind_dn: cn=registry,dc=x\n  bind_password_file: missing.txt\n")),
    ).toMatch(/^ldap_auth\.bind_password_file: cannot read .*missing\.txt: ENOENT$/);
    expect(
      await buildError(LDAP("  bind_dn: cn=registry,dc=x\n  bind_password_file: empty.txt\n")),
    ).toMatch(/^ldap_auth\.bind_password_file: .*empty\.txt is empty$/);
    expect(await buildError(LDAP("  tls: starttls\n  ca_certificate: missing-ca.pem\n"))).toMatch(
      /^ldap_auth\.ca_certificate: cannot read .*missing-ca\.pem$/,
    );
    expect(await buildError(LDAP("  tls: starttls\n  ca_certificate: ldap-bind.txt\n"))).toMatch(
      /^ldap_auth\.ca_certificate: expected PEM certificates in .*ldap-bind\.txt/,
    );
  });
});

describe("mongo_auth and acl_mongo into the MongoDB backends' options", () => {
  it("dial_info: addrs, credentials in client options (never the URI), mgo's auth source", async () => {
    const config = await loadConfig(
      {
        text: `${HEAD}acl: []
mongo_auth:
  dial_info:
    addrs: ["db1.internal", "db2.internal:27018"]
    database: registry
    timeout: 1m30s
    username: regauth
    password_file: mongo-password.txt
    replicasetname: rs0
    enable_tls: true
    poollimit: 20
  collection: users
  allow_passwordless: true
  create_index: false
acl_mongo:
  dial_info:
    addrs: ["db1.internal"]
    database: registry
    username: reader
    password: \${MONGO_PW}
    source: admin
    direct: true
    mechanism: SCRAM-SHA-256
  collection: acl
  cache_ttl: 2m30s
`,
        baseDir: dir,
      },
      { env: { MONGO_PW: "from-env" } },
    );
    const users = config.mongoAuth;
    const rules = config.aclMongo;
    if (users === undefined || rules === undefined) throw new Error("sections missing");
    expect(users.dialInfo.timeoutMs).toBe(90_000);
    expect(users.dialInfo.passwordFile).toBe(`${dir}/mongo-password.txt`);
    expect(users.allowPasswordless).toBe(true);
    expect(users.createIndex).toBe(false);
    expect(mongoConnectionOptions(users.dialInfo, "mongo-secret")).toEqual({
      uri: "mongodb://db1.internal,db2.internal:27018/",
      clientOptions: {
        auth: { username: "regauth", password: "mongo-secret" },
        authSource: "registry",
        replicaSet: "rs0",
        tls: true,
        maxPoolSize: 20,
      },
    });
    expect(rules.cacheTtl).toBe(150);
    expect(rules.dialInfo.timeoutMs).toBe(10_000);
    expect(mongoConnectionOptions(rules.dialInfo, rules.dialInfo.password)).toEqual({
      uri: "mongodb://db1.internal/",
      clientOptions: {
        auth: { username: "reader", password: "from-env" },
        authSource: "admin",
        authMechanism: "SCRAM-SHA-256",
        directConnection: true,
      },
    });
    expect(
      mongoConnectionOptions({ ...rules.dialInfo, username: undefined, direct: false }, undefined),
    ).toEqual({
      uri: "mongodb://db1.internal/",
      clientOptions: { authMechanism: "SCRAM-SHA-256" },
    });
  });

  it("mistakes name their path", async () => {
    expect(await configError(MONGO("acl_mongo", "  cache_ttl: 60\n"))).toBe(
      'acl_mongo.cache_ttl: expected a duration such as "10s" or "1m" (a bare number is not one)',
    );
    expect(await configError(MONGO("acl_mongo", "  cache_ttl: 1 minute\n"))).toBe(
      'acl_mongo.cache_ttl: expected a duration such as "10s", "1m" or "1m30s"',
    );
    expect(await configError(MONGO("acl_mongo", "  cache_ttl: 50ms\n"))).toBe(
      "acl_mongo.cache_ttl: expected from 100ms to 24h",
    );
    expect(await configError(MONGO("mongo_auth", "").replace("collection: things\n", ""))).toBe(
      'mongo_auth.collection: required, expected the users collection, such as "users"',
    );
    expect(
      await configError(
        MONGO("mongo_auth", "").replace(`addrs: ["127.0.0.1:${closedPort}"]`, "addrs: []"),
      ),
    ).toBe("mongo_auth.dial_info.addrs: expected at least one HOST or HOST:PORT");
    expect(await configError(MONGO("mongo_auth", "").replace("database: registry, ", ""))).toBe(
      "mongo_auth.dial_info.database: required, expected a database name",
    );
    expect(
      await configError(
        MONGO("mongo_auth", "").replace("timeout: 300ms", "timeout: 300ms, failfast: true"),
      ),
    ).toBe(
      "mongo_auth.dial_info.failfast: not supported: the driver's server selection timeout is dial_info.timeout",
    );
    expect(
      await configError(
        MONGO("acl_mongo", "").replace("timeout: 300ms", "timeout: 300ms, pasword: x"),
      ),
    ).toBe("acl_mongo.dial_info.pasword: unknown key");
    expect(
      await configError(
        MONGO("acl_mongo", "").replace("timeout: 300ms", "timeout: 300ms, password: x"),
      ),
    ).toBe("acl_mongo.dial_info.username: required with a password");
    expect(await configError(`${HEAD}users: {}\nacl_mongo: {collection: acl}\n`)).toBe(
      "acl_mongo.dial_info: required, expected a mapping with addrs and database",
    );
    expect(await configError(`${HEAD}users: {}\n`)).toBe(
      "acl: no authorization configured: add acl (an empty list denies everything), acl_mongo or ext_authz",
    );
  });

  it("an unreadable password file is named by its key when built", async () => {
    const text = MONGO("acl_mongo", "").replace(
      "timeout: 300ms",
      "timeout: 300ms, username: u, password_file: nope.txt",
    );
    expect(await buildError(text)).toMatch(
      /^acl_mongo\.dial_info\.password_file: cannot read .*nope\.txt: ENOENT$/,
    );
  });

  it("explain says acl_mongo would decide, and why it cannot now", async () => {
    const config = await loadConfig({
      text: MONGO("acl_mongo", "").replace(
        "acl: []",
        "acl: [{match: {account: admin}, actions: ['*']}]",
      ),
      baseDir: dir,
    });
    const built = await createConfiguredHandler(config);
    try {
      await built.aclMongo?.ready().catch(() => undefined);
      const request = { account: "alice", scopes: ["repository:team/app:pull"] };
      const [result] = explainAccess(config, built, request);
      expect(result?.decision.by).toBe("unavailable");
      expect(result?.granted).toEqual([]);
      const text = formatExplanation(request, explainAccess(config, built, request));
      expect(text).toContain("granted  nothing: the server would answer 503");
      expect(text).toMatch(
        /by {7}acl_mongo, whose rules are not loaded: cannot read the rules: .*ECONNREFUSED/,
      );
      expect(text).toContain('acl[0]: account: "alice" does not match "admin"');
      // An account the static acl decides never reaches acl_mongo.
      const [admin] = explainAccess(config, built, { account: "admin", scopes: request.scopes });
      expect(admin?.decision.by).toBe("acl");
    } finally {
      await built.close();
    }
  });
});

describe("helpers", () => {
  it("parseGoDuration reads Go's time.ParseDuration syntax, in milliseconds", () => {
    expect(parseGoDuration("10s")).toBe(10_000);
    expect(parseGoDuration("1m30s")).toBe(90_000);
    expect(parseGoDuration("1.5h")).toBe(5_400_000);
    expect(parseGoDuration("250ms")).toBe(250);
    expect(parseGoDuration("0")).toBe(0);
    for (const bad of ["", "10", "-1s", "1 m", "s", "1d"])
      expect(parseGoDuration(bad)).toBeUndefined();
  });

  it("renameKeys names backend options by docker_auth's keys", () => {
    expect(
      renameKeys("caFile: cannot read /x; labels.url.parseCN: expected a boolean", {
        caFile: "ca_certificate",
        url: "addr",
        parseCN: "parse_cn",
      }),
    ).toBe("ca_certificate: cannot read /x; labels.url.parse_cn: expected a boolean");
  });
});

describe("startServer", () => {
  it("does not start while a MongoDB backend cannot be reached, as docker_auth", async () => {
    const configPath = await writeConfig(dir, MONGO("acl_mongo", ""), "mongo-down.yml");
    const failure = await startServer({ configPath, watch: false, listen: { port: 0 } }).then(
      async (server) => {
        await server.close();
        return undefined;
      },
      (error: unknown) => error as { code: string; message: string },
    );
    expect(failure?.code).toBe("ERR_BACKEND_UNAVAILABLE");
    expect(failure?.message).toMatch(/^acl_mongo: cannot read the rules \(.+\)$/);
  });
});
