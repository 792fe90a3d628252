// createLdapAuthenticator when the directory goes away: slapd stopped, or
// frozen (SIGSTOP) so it accepts connections but answers nothing. Faults must
// throw (503), never deny and never allow, and the authenticator must recover
// by itself once slapd is back.
import type { AuthnRequest, AuthnResult } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../../../test/support/cleanup.js";
import { checkPeers } from "../../../test/support/peers.js";
import {
  type exampleDirectory,
  type RunningSlapd,
  SLAPD_PEERS,
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

/** What a call ended with: its result, or the code and message it threw. */
async function outcomeOf(work: Promise<AuthnResult>): Promise<string> {
  try {
    return (await work).result;
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    return `${code}: ${message}`;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!peers.ok)("createLdapAuthenticator when the directory fails", () => {
  const cleanup = new Cleanup();
  let slapd: RunningSlapd;
  let directory: ReturnType<typeof exampleDirectory>;
  let common: LdapAuthenticatorOptions;

  const make = (override: Partial<LdapAuthenticatorOptions> = {}): LdapAuthenticator => {
    const made = createLdapAuthenticator({ ...common, ...override });
    cleanup.defer(() => made.close());
    return made;
  };

  beforeAll(async () => {
    ({ slapd, directory } = await startExampleSlapd(cleanup));
    common = {
      url: slapd.url,
      bindDn: directory.service.dn,
      bindPassword: directory.service.password,
      base: slapd.suffix,
      filter: "(uid=${account})",
      connectTimeoutMs: 1_000,
      operationTimeoutMs: 400,
    };
  });
  afterAll(async () => {
    slapd.resume();
    await cleanup.run();
  });

  it("throws while slapd is stopped and recovers on its own when it is back", async () => {
    const ldap = make();
    expect(await outcomeOf(ldap.authenticate(asked("bob", "bob-pw")))).toBe("allow");
    await slapd.stop();
    try {
      const started = Date.now();
      expect(await outcomeOf(ldap.authenticate(asked("bob", "bob-pw")))).toBe(
        "ERR_BACKEND_UNAVAILABLE: ldap: cannot connect to the directory",
      );
      expect(await outcomeOf(ldap.authenticate(asked("bob", "wrong")))).toMatch(
        /^ERR_BACKEND_UNAVAILABLE: /,
      );
      expect(Date.now() - started).toBeLessThan(2_000); // refused at once, no waiting for timeouts
    } finally {
      await slapd.start();
    }
    // The pooled connections died with the old process: the first request
    // after the restart already works, on fresh connections.
    expect(await outcomeOf(ldap.authenticate(asked("bob", "bob-pw")))).toBe("allow");
    expect(await outcomeOf(ldap.authenticate(asked("bob", "wrong")))).toBe("deny");
  });

  it("never denies nor wrongly allows while slapd stops and starts mid-run", async () => {
    const ldap = make({ maxConnections: 2 });
    const outcomes: Array<{ account: string; outcome: string }> = [];
    let running = true;
    const load = async (account: string, password: string) => {
      while (running) {
        outcomes.push({
          account,
          outcome: await outcomeOf(ldap.authenticate(asked(account, password))),
        });
        await sleep(5);
      }
    };
    const workers = [
      load("alice", "alice-pw"),
      load("bob", "bob-pw"),
      load("carol", "not-carols-password"),
    ];
    await sleep(300);
    await slapd.stop();
    await sleep(300);
    await slapd.start();
    await sleep(300);
    running = false;
    await Promise.all(workers);

    const failures = outcomes.filter((o) => o.outcome.startsWith("ERR_"));
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures)
      expect(failure.outcome).toMatch(/^ERR_BACKEND_UNAVAILABLE: ldap: /);
    for (const { account, outcome } of outcomes.filter((o) => !o.outcome.startsWith("ERR_"))) {
      expect(outcome).toBe(account === "carol" ? "deny" : "allow");
    }
    // After the restart every worker got answers again.
    for (const account of ["alice", "bob", "carol"]) {
      const last = outcomes.filter((o) => o.account === account).at(-1);
      expect(last?.outcome).toBe(account === "carol" ? "deny" : "allow");
    }
  });

  it("times out on a frozen slapd (connections accepted, nothing answered), then recovers", async () => {
    const ldap = make({ maxConnections: 1 });
    expect(await outcomeOf(ldap.authenticate(asked("bob", "bob-pw")))).toBe("allow");
    await slapd.pause();
    try {
      const started = Date.now();
      const outcomes = await Promise.all(
        Array.from({ length: 4 }, () => outcomeOf(ldap.authenticate(asked("bob", "bob-pw")))),
      );
      const elapsed = Date.now() - started;
      expect(outcomes[0]).toBe(
        "ERR_BACKEND_UNAVAILABLE: ldap: the directory did not answer the search in time",
      );
      // The others waited for the one connection, at most operationTimeoutMs each.
      for (const outcome of outcomes.slice(1))
        expect(outcome).toMatch(/^ERR_BACKEND_UNAVAILABLE: /);
      expect(elapsed).toBeLessThan(3_000);

      // A fresh authenticator: TCP connects (the kernel accepts), the service bind hangs.
      const fresh = make();
      expect(await outcomeOf(fresh.authenticate(asked("bob", "bob-pw")))).toBe(
        "ERR_BACKEND_UNAVAILABLE: ldap: the directory did not answer the bind in time",
      );
    } finally {
      slapd.resume();
    }
    expect(await outcomeOf(ldap.authenticate(asked("bob", "bob-pw")))).toBe("allow");
  });

  it("gives up connecting after connectTimeoutMs when the TLS upgrade hangs", async () => {
    // slapd has no TLS here, but frozen it cannot even refuse StartTLS.
    const ldap = make({ startTls: true, connectTimeoutMs: 300 });
    await slapd.pause();
    try {
      const started = Date.now();
      expect(await outcomeOf(ldap.authenticate(asked("bob", "bob-pw")))).toMatch(
        /^ERR_BACKEND_UNAVAILABLE: ldap: (connecting to the directory took longer than 300 ms|the directory did not answer)/,
      );
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      slapd.resume();
    }
  });
});
