// createLdapAuthenticator against a real OpenLDAP slapd (plain LDAP on
// loopback), started by the project's harness with its own port and data.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuthnRequest, type Logger, RegauthError } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../../../test/support/cleanup.js";
import { checkPeers } from "../../../test/support/peers.js";
import { freePort } from "../../../test/support/ports.js";
import {
  type exampleDirectory,
  type RunningSlapd,
  SLAPD_PEERS,
  slapdOperations,
  startExampleSlapd,
} from "../../../test/support/slapd.js";
import {
  createLdapAuthenticator,
  type LdapAuthenticator,
  type LdapAuthenticatorOptions,
} from "../src/ldap/index.js";

const peers = checkPeers(...SLAPD_PEERS);

type Override = {
  [K in keyof LdapAuthenticatorOptions]?: LdapAuthenticatorOptions[K] | undefined;
};

function asked(account: string, password: string): AuthnRequest {
  return { account, password, service: "registry.test", clientIp: "192.0.2.1" };
}

/** A logger that keeps every call, to check what is (not) logged. */
function recordingLogger(): Logger & { readonly lines: unknown[] } {
  const lines: unknown[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, fields, message });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

describe.skipIf(!peers.ok)("createLdapAuthenticator against slapd", () => {
  const cleanup = new Cleanup();
  let slapd: RunningSlapd;
  let directory: ReturnType<typeof exampleDirectory>;
  let options: LdapAuthenticatorOptions;
  let ldap: LdapAuthenticator;

  /** An authenticator closed with the suite; an `undefined` in `override` removes that option. */
  const make = (override: Override = {}) => {
    const merged = Object.fromEntries(
      Object.entries({ ...options, ...override }).filter(([, value]) => value !== undefined),
    );
    const made = createLdapAuthenticator(merged as unknown as LdapAuthenticatorOptions);
    cleanup.defer(() => made.close());
    return made;
  };
  const password = (account: string) => directory.users[account]?.password ?? "";
  /** What slapd logged while `work` ran. */
  const during = async (work: () => Promise<unknown>) => {
    const before = (await slapd.settledLog()).length;
    await work();
    return slapdOperations((await slapd.settledLog()).slice(before));
  };

  beforeAll(async () => {
    ({ slapd, directory } = await startExampleSlapd(cleanup));
    options = {
      url: slapd.url,
      bindDn: directory.service.dn,
      bindPassword: directory.service.password,
      base: slapd.suffix,
      filter: "(&(objectClass=inetOrgPerson)(uid=${account}))",
      labels: { groups: { attribute: "memberOf", parseCN: true, lowerCase: true } },
    };
    ldap = make();
  });
  afterAll(() => cleanup.run());

  it("allows the right password, denies a wrong one, does not know a missing account", async () => {
    expect(await ldap.authenticate(asked("bob", "bob-pw"))).toEqual({
      result: "allow",
      labels: { groups: ["dev"] },
    });
    expect(await ldap.authenticate(asked("bob", "bob-PW"))).toEqual({ result: "deny" });
    expect(await ldap.authenticate(asked("bob", "alice-pw"))).toEqual({ result: "deny" });
    expect(await ldap.authenticate(asked("nobody", "bob-pw"))).toEqual({ result: "no-match" });
  });

  it("lookup (a refresh token's account): the search alone, with current labels; a missing entry is no-match", async () => {
    const lookup = (account: string) =>
      ldap.lookup?.({ account, service: "registry.test", clientIp: undefined });
    const operations = await during(async () => {
      expect(await lookup("bob")).toEqual({ result: "allow", labels: { groups: ["dev"] } });
      expect(await lookup("nobody")).toEqual({ result: "no-match" });
    });
    // Only the service account binds: no user's bind, no password needed.
    const binds = operations.filter((o) => o.kind === "bind").map((o) => o.dn);
    expect(binds.every((dn) => dn === directory.service.dn)).toBe(true);
    expect(operations.filter((o) => o.kind === "search")).toHaveLength(2);
  });

  it("gives a user in two groups both, as common names in lower case", async () => {
    const outcome = await ldap.authenticate(asked("alice", "alice-pw"));
    expect(outcome.result).toBe("allow");
    expect(outcome.result === "allow" && [...(outcome.labels?.groups ?? [])].sort()).toEqual([
      "dev",
      "qa",
    ]);
  });

  it("maps attributes to labels as asked: raw DNs, parseCN, lowerCase, plain attributes", async () => {
    const mapped = make({
      labels: {
        dns: { attribute: "memberOf" },
        names: { attribute: "memberOf", parseCN: true },
        lower: { attribute: "memberof", lowerCase: true },
        mail: { attribute: "mail" },
        absent: { attribute: "telephoneNumber" },
      },
    });
    const outcome = await mapped.authenticate(asked("alice", "alice-pw"));
    if (outcome.result !== "allow") throw new Error(`expected allow, got ${outcome.result}`);
    const sorted = (key: string) => [...(outcome.labels?.[key] ?? [])].sort();
    expect(sorted("dns")).toEqual([directory.groupDn("Dev"), directory.groupDn("QA")]);
    expect(sorted("names")).toEqual(["Dev", "QA"]);
    expect(sorted("lower")).toEqual(
      [directory.groupDn("Dev"), directory.groupDn("QA")].map((dn) => dn.toLowerCase()),
    );
    expect(sorted("mail")).toEqual(["alice@example.org"]);
    expect(sorted("absent")).toEqual([]);
    // carol is in no group
    expect(await mapped.authenticate(asked("carol", "carol-pw"))).toMatchObject({
      result: "allow",
      labels: { dns: [], names: [], mail: [] },
    });
  });

  it("searches as the service account and checks the password on another connection", async () => {
    const operations = await during(() => ldap.authenticate(asked("bob", "bob-pw")));
    const search = operations.find((o) => o.kind === "search");
    const userBind = operations.find((o) => o.kind === "bind" && o.dn === directory.users.bob?.dn);
    expect(search?.filter).toBe("(&(objectClass=inetOrgPerson)(uid=bob))");
    expect(userBind).toBeDefined();
    expect(userBind?.conn).not.toBe(search?.conn);
  });

  it("sends nothing for an empty password or account: no bind, no search", async () => {
    const operations = await during(async () => {
      expect(await ldap.authenticate(asked("alice", ""))).toEqual({ result: "no-match" });
      expect(await ldap.authenticate(asked("", "alice-pw"))).toEqual({ result: "no-match" });
    });
    expect(operations).toEqual([]);
  });

  it.each([
    ["*"],
    [")(uid=*"],
    ["admin)(|(uid=*"],
    ["*)(uid=*))(|(uid=*"],
    ["al*"],
    ["*lice"],
    ["alice)"],
    ["alice\u0000"],
    ["alice\u0000)(uid=admin"],
    ["\\"],
    ["alice\\"],
    ["\\2a"],
    ["$&"],
  ])("an injection attempt %j only ever matches itself", async (account) => {
    const operations = await during(async () => {
      for (const guess of ["alice-pw", "admin-pw", "x"]) {
        expect(await ldap.authenticate(asked(account, guess))).toEqual({ result: "no-match" });
      }
    });
    const filters = operations.filter((o) => o.kind === "search").map((o) => o.filter);
    expect(filters).toHaveLength(3);
    // One equality assertion on uid, nothing more: no presence, no substring, no extra clause.
    for (const filter of filters) {
      expect(filter).toMatch(/^\(&\(objectClass=inetOrgPerson\)\(uid=[^()*]*\)\)$/);
    }
    expect(operations.filter((o) => o.kind === "bind" && o.dn !== directory.service.dn)).toEqual(
      [],
    );
  });

  it.each([
    ["star*", "a literal *"],
    ["back\\slash", "a literal backslash"],
    ["jöns", "non-ASCII"],
    ["anna maria", "a space"],
  ])("authenticates %j (%s) with its own password only", async (account) => {
    expect(await ldap.authenticate(asked(account, password(account)))).toMatchObject({
      result: "allow",
    });
    expect(await ldap.authenticate(asked(account, "wrong"))).toEqual({ result: "deny" });
  });

  it("gives jöns the QA group", async () => {
    expect(await ldap.authenticate(asked("jöns", "jöns-pw"))).toEqual({
      result: "allow",
      labels: { groups: ["qa"] },
    });
  });

  it("throws ERR_BACKEND_UNAVAILABLE when two entries match, and binds as neither", async () => {
    const operations = await during(async () => {
      const error = await ldap.authenticate(asked("twin", "twin-pw")).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegauthError);
      expect(error).toMatchObject({
        code: "ERR_BACKEND_UNAVAILABLE",
        message: "ldap: more than one directory entry matches the account",
      });
    });
    expect(operations.filter((o) => o.kind === "bind")).toEqual([]);
  });

  it("searches anonymously without bindDn", async () => {
    const anonymous = make({ bindDn: undefined, bindPassword: undefined });
    const operations = await during(async () => {
      expect(await anonymous.authenticate(asked("bob", "bob-pw"))).toMatchObject({
        result: "allow",
      });
    });
    expect(operations.some((o) => o.kind === "bind" && o.dn === directory.service.dn)).toBe(false);
  });

  it("reads the service password from a file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "regauth-ldap-"));
    cleanup.defer(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "bind-password");
    await writeFile(path, `${directory.service.password}\n`);
    const fromFile = make({ bindPassword: undefined, bindPasswordFile: path });
    expect(await fromFile.authenticate(asked("bob", "bob-pw"))).toMatchObject({ result: "allow" });
  });

  it("fails with 503-type errors, not deny, when the service password is wrong", async () => {
    const logger = recordingLogger();
    const wrong = make({ bindPassword: "not-the-service-password", logger });
    await expect(wrong.authenticate(asked("bob", "bob-pw"))).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "ldap: the directory refused the service account's credentials",
    });
    const logged = JSON.stringify(logger.lines);
    expect(logged).toContain("refused the service account's password");
    expect(logged).not.toContain("not-the-service-password");
  });

  describe("initialBindAsUser", () => {
    let asUser: LdapAuthenticator;
    beforeAll(() => {
      asUser = make({
        bindDn: undefined,
        bindPassword: undefined,
        initialBindAsUser: `uid=\${account},ou=people,${slapd.suffix}`,
      });
    });

    it("has no lookup: without a service account nothing is read before the user's bind", () => {
      expect(asUser.lookup).toBeUndefined();
    });

    it("binds as the user, then reads the user's own entry for labels", async () => {
      const operations = await during(async () => {
        const outcome = await asUser.authenticate(asked("alice", "alice-pw"));
        expect(outcome.result === "allow" && [...(outcome.labels?.groups ?? [])].sort()).toEqual([
          "dev",
          "qa",
        ]);
      });
      const bind = operations.find((o) => o.kind === "bind");
      const search = operations.find((o) => o.kind === "search");
      expect(bind?.dn).toBe(directory.users.alice?.dn);
      expect(search?.conn).toBe(bind?.conn);
      expect(operations.some((o) => o.kind === "bind" && o.dn === directory.service.dn)).toBe(
        false,
      );
    });

    it("denies a wrong password and an unknown account alike (the directory says 49 to both)", async () => {
      expect(await asUser.authenticate(asked("alice", "bob-pw"))).toEqual({ result: "deny" });
      expect(await asUser.authenticate(asked("nobody", "x"))).toEqual({ result: "deny" });
    });

    it("escapes the account in the DN per RFC 4514", async () => {
      const operations = await during(async () => {
        expect(
          await asUser.authenticate(asked("alice,ou=people,dc=example,dc=org", "alice-pw")),
        ).toEqual({ result: "deny" });
        expect(await asUser.authenticate(asked("back\\slash", "back\\slash-pw"))).toMatchObject({
          result: "allow",
        });
      });
      // slapd logs DNs normalized: the escaped specials stay inside the one RDN.
      const dns = operations.filter((o) => o.kind === "bind").map((o) => o.dn);
      expect(dns[0]).toBe(
        `uid=alice\\2Cou\\3Dpeople\\2Cdc\\3Dexample\\2Cdc\\3Dorg,ou=people,${slapd.suffix}`,
      );
      expect(dns[1]).toMatch(/^uid=back\\(5C|\\)slash,ou=people,/);
    });
  });

  it("keeps its connections across logins; without reuse, one connection per login", async () => {
    const reusing = make();
    await reusing.authenticate(asked("bob", "bob-pw")); // warm up
    await slapd.settledLog();
    const before = slapd.acceptedConnections();
    for (let i = 0; i < 20; i++) {
      expect((await reusing.authenticate(asked("bob", i % 2 ? "bob-pw" : "no"))).result).toBe(
        i % 2 ? "allow" : "deny",
      );
    }
    await slapd.settledLog();
    expect(slapd.acceptedConnections() - before).toBe(0);

    const fresh = make({ reuseConnections: false });
    await slapd.settledLog();
    const beforeFresh = slapd.acceptedConnections();
    for (let i = 0; i < 5; i++) {
      expect((await fresh.authenticate(asked("bob", "bob-pw"))).result).toBe("allow");
    }
    await slapd.settledLog();
    expect(slapd.acceptedConnections() - beforeFresh).toBe(5); // one per request
  });

  it("answers 60 concurrent logins right on 2+2 connections, searches always as the service", async () => {
    const small = make({ maxConnections: 2 });
    const cases = Array.from({ length: 60 }, (_, i) => {
      const account = ["alice", "bob", "carol", "jöns", "nobody"][i % 5] as string;
      const right = i % 3 !== 0;
      const expected = account === "nobody" ? "no-match" : right ? "allow" : "deny";
      return { account, pw: right ? password(account) || "x" : "wrong", expected };
    });
    await slapd.settledLog();
    const before = slapd.acceptedConnections();
    const operations = await during(async () => {
      const outcomes = await Promise.all(
        cases.map((c) => small.authenticate(asked(c.account, c.pw))),
      );
      expect(outcomes.map((o) => o.result)).toEqual(cases.map((c) => c.expected));
    });
    await slapd.settledLog();
    expect(slapd.acceptedConnections() - before).toBeLessThanOrEqual(4);
    // On every connection, each search runs right after a service bind or another search.
    const lastBind = new Map<number, string | undefined>();
    for (const operation of operations) {
      if (operation.kind === "bind") lastBind.set(operation.conn, operation.dn);
      if (operation.kind === "search") {
        expect(lastBind.get(operation.conn) ?? directory.service.dn).toBe(directory.service.dn);
      }
    }
  });

  it("tries the next url when the first cannot be reached", async () => {
    const logger = recordingLogger();
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    const failover = make({ url: [dead, slapd.url], logger });
    expect(await failover.authenticate(asked("bob", "bob-pw"))).toMatchObject({
      result: "allow",
    });
    expect(JSON.stringify(logger.lines)).toContain(dead);
  });

  it("fails, never sending a password in clear, when StartTLS is refused", async () => {
    // This slapd has no certificate: it refuses StartTLS.
    const operations = await during(async () => {
      const startTls = make({ startTls: true });
      await expect(startTls.authenticate(asked("bob", "bob-pw"))).rejects.toMatchObject({
        code: "ERR_BACKEND_UNAVAILABLE",
        message: expect.stringMatching(
          /^ldap: the directory refused StartTLS \(result code \d+\)$/,
        ),
      });
    });
    expect(operations.filter((o) => o.kind === "bind")).toEqual([]);
  });

  it("never logs a password, at any level", async () => {
    const logger = recordingLogger();
    const logged = make({ logger });
    await logged.authenticate(asked("alice", "alice-pw"));
    await logged.authenticate(asked("alice", "wrong-alice-password"));
    await logged.authenticate(asked("nobody", "nobody-password"));
    await logged.authenticate(asked("twin", "twin-pw")).catch(() => undefined);
    const text = JSON.stringify(logger.lines);
    expect(logger.lines.length).toBeGreaterThan(0);
    for (const secret of [
      "alice-pw",
      "wrong-alice-password",
      "nobody-password",
      "twin-pw",
      directory.service.password,
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it("closes its connections on close() and refuses work after", async () => {
    const closing = createLdapAuthenticator(options);
    await closing.authenticate(asked("bob", "bob-pw"));
    const operations = await during(() => closing.close());
    expect(operations.filter((o) => o.kind === "unbind")).toHaveLength(2);
    await expect(closing.authenticate(asked("bob", "bob-pw"))).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
    });
  });
});
