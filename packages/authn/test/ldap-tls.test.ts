// createLdapAuthenticator over TLS against a real slapd: StartTLS and LDAPS
// with a CA the test makes with openssl, and the ways TLS must fail closed.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { AuthnRequest, Logger } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../../../test/support/cleanup.js";
import { checkPeers } from "../../../test/support/peers.js";
import {
  type exampleDirectory,
  makeCertificates,
  type RunningSlapd,
  SLAPD_PEERS,
  type SlapdCa,
  slapdOperations,
  startExampleSlapd,
} from "../../../test/support/slapd.js";
import {
  createLdapAuthenticator,
  type LdapAuthenticator,
  type LdapAuthenticatorOptions,
} from "../src/ldap/index.js";

const peers = checkPeers(...SLAPD_PEERS);

function asked(account: string, password: string): AuthnRequest {
  return { account, password, service: "registry.test", clientIp: undefined };
}

describe.skipIf(!peers.ok)("createLdapAuthenticator over TLS", () => {
  const cleanup = new Cleanup();
  let slapd: RunningSlapd;
  let ca: SlapdCa;
  let otherCa: SlapdCa;
  let directory: ReturnType<typeof exampleDirectory>;
  let common: LdapAuthenticatorOptions;

  const make = (override: Partial<LdapAuthenticatorOptions>): LdapAuthenticator => {
    const made = createLdapAuthenticator({ ...common, ...override });
    cleanup.defer(() => made.close());
    return made;
  };
  const during = async (work: () => Promise<unknown>) => {
    const before = (await slapd.settledLog()).length;
    await work();
    return slapdOperations((await slapd.settledLog()).slice(before));
  };

  beforeAll(async () => {
    ({ slapd, directory } = await startExampleSlapd(cleanup, { tls: true }));
    if (slapd.ca === undefined) throw new Error("slapd was started without TLS");
    ca = slapd.ca;
    const otherDir = join(await cleanup.tempDir("other-ca-"), "ca");
    await mkdir(otherDir);
    otherCa = await makeCertificates(otherDir, "an unrelated CA");
    common = {
      url: slapd.url,
      bindDn: directory.service.dn,
      bindPassword: directory.service.password,
      base: slapd.suffix,
      filter: "(uid=${account})",
      labels: { groups: { attribute: "memberOf", parseCN: true, lowerCase: true } },
      connectTimeoutMs: 3_000,
    };
  });
  afterAll(() => cleanup.run());

  it("authenticates over StartTLS with the CA given as PEM; every bind is encrypted", async () => {
    const ldap = make({ startTls: true, ca: ca.pem });
    const operations = await during(async () => {
      expect(await ldap.authenticate(asked("bob", "bob-pw"))).toEqual({
        result: "allow",
        labels: { groups: ["dev"] },
      });
      expect(await ldap.authenticate(asked("bob", "wrong"))).toEqual({ result: "deny" });
    });
    expect(operations.filter((o) => o.kind === "starttls")).toHaveLength(2);
    const bound = operations.filter((o) => o.kind === "bound");
    expect(bound.map((o) => o.dn)).toContain(directory.users.bob?.dn);
    for (const bind of bound) expect(bind.ssf ?? 0).toBeGreaterThan(0);
  });

  it("authenticates over LDAPS with the CA read from a file", async () => {
    const ldap = make({ url: slapd.ldapsUrl as string, caFile: ca.path });
    const outcome = await ldap.authenticate(asked("alice", "alice-pw"));
    expect(outcome.result === "allow" && [...(outcome.labels?.groups ?? [])].sort()).toEqual([
      "dev",
      "qa",
    ]);
    expect(await ldap.authenticate(asked("alice", "bob-pw"))).toEqual({ result: "deny" });
  });

  it("accepts `localhost`, a name the certificate holds", async () => {
    const ldap = make({
      url: (slapd.ldapsUrl as string).replace("127.0.0.1", "localhost"),
      ca: ca.pem,
    });
    // localhost may resolve to ::1 first, where slapd does not listen: only IPv4 is asserted.
    const outcome = await ldap
      .authenticate(asked("bob", "bob-pw"))
      .catch((error: unknown) => error);
    if (outcome instanceof Error) {
      expect(outcome.message).toBe("ldap: cannot connect to the directory");
    } else {
      expect(outcome).toMatchObject({ result: "allow" });
    }
  });

  it.each([
    [
      "LDAPS, no CA given (Node's list does not hold the test CA)",
      () => ({ url: slapd.ldapsUrl as string }),
    ],
    ["LDAPS, another CA", () => ({ url: slapd.ldapsUrl as string, ca: otherCa.pem })],
    ["StartTLS, no CA given", () => ({ startTls: true })],
    ["StartTLS, another CA", () => ({ startTls: true, caFile: otherCa.path })],
  ])("fails closed on an untrusted certificate: %s", async (_name, override) => {
    const ldap = make(override());
    const operations = await during(async () => {
      await expect(ldap.authenticate(asked("bob", "bob-pw"))).rejects.toMatchObject({
        code: "ERR_BACKEND_UNAVAILABLE",
        message: "ldap: the TLS handshake with the directory failed",
        cause: expect.objectContaining({
          message: expect.stringMatching(/certificate|self.signed/i),
        }),
      });
    });
    // Nothing was sent in clear: no bind reached the server.
    expect(operations.filter((o) => o.kind === "bind")).toEqual([]);
  });

  it("skips certificate checks only when told to, with a warning at construction", async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (_fields, message) => warnings.push(message),
      error() {},
    };
    const ldap = make({ url: slapd.ldapsUrl as string, insecureSkipTlsVerify: true, logger });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("insecureSkipTlsVerify");
    expect(await ldap.authenticate(asked("bob", "bob-pw"))).toMatchObject({ result: "allow" });
  });

  it("keeps TLS connections across requests", async () => {
    const ldap = make({ startTls: true, ca: ca.pem });
    await ldap.authenticate(asked("bob", "bob-pw"));
    await slapd.settledLog();
    const before = slapd.acceptedConnections();
    for (let i = 0; i < 10; i++) {
      expect((await ldap.authenticate(asked("carol", "carol-pw"))).result).toBe("allow");
    }
    await slapd.settledLog();
    expect(slapd.acceptedConnections()).toBe(before);
  });
});
