// The gate in front of the authenticator chain: a cache of successful
// authentications (never failures), and a bound on authentications in flight.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Authenticator, AuthnRequest, AuthnResult } from "../src/index.js";
import { createAuthenticationGate } from "../src/internal/authentication-gate.js";

const request = (account: string, password: string): AuthnRequest => ({
  account,
  password,
  service: "registry.test",
  clientIp: "127.0.0.1",
});

/** An authenticator that knows alice/right and counts how often it is asked. */
function counting(answer?: () => Promise<AuthnResult>) {
  const calls: string[] = [];
  const authenticator: Authenticator = {
    name: "counting",
    async authenticate({ account, password }) {
      calls.push(account);
      if (answer) return answer();
      if (account !== "alice") return { result: "no-match" };
      return password === "right"
        ? { result: "allow", labels: { groups: ["qa"] } }
        : { result: "deny" };
    },
  };
  return { authenticator, calls };
}

describe("credential cache", () => {
  it("a returning user is answered from the cache, labels included", async () => {
    const { authenticator, calls } = counting();
    const gate = createAuthenticationGate(authenticator, {
      cacheTtl: 60,
      cacheMaxEntries: 100,
      maxInFlight: 8,
    });
    expect(await gate.authenticate(request("alice", "right"))).toEqual({
      result: "allow",
      labels: { groups: ["qa"] },
    });
    expect(await gate.authenticate(request("alice", "right"))).toEqual({
      result: "allow",
      labels: { groups: ["qa"] },
    });
    expect(calls).toEqual(["alice"]);
  });

  it("a login remembered for one client address or service is not reused for another", async () => {
    // Reported by review: an authenticator that lets a robot in only from one
    // network was bypassed from anywhere once the robot had logged in.
    const calls: string[] = [];
    const gate = createAuthenticationGate(
      {
        name: "network",
        async authenticate({ clientIp, service }) {
          calls.push(`${service} ${clientIp}`);
          return clientIp === "10.0.0.5" && service === "internal"
            ? { result: "allow" }
            : { result: "deny" };
        },
      },
      { cacheTtl: 60, cacheMaxEntries: 100, maxInFlight: 8 },
    );
    const from = (service: string, clientIp: string | undefined): AuthnRequest => ({
      account: "ci",
      password: "token",
      service,
      clientIp,
    });
    expect((await gate.authenticate(from("internal", "10.0.0.5"))).result).toBe("allow");
    expect((await gate.authenticate(from("internal", "10.0.0.5"))).result).toBe("allow");
    expect((await gate.authenticate(from("internal", "1.2.3.4"))).result).toBe("deny");
    expect((await gate.authenticate(from("public", "10.0.0.5"))).result).toBe("deny");
    expect((await gate.authenticate(from("internal", undefined))).result).toBe("deny");
    expect(calls).toEqual([
      "internal 10.0.0.5",
      "internal 1.2.3.4",
      "public 10.0.0.5",
      "internal undefined",
    ]);
  });

  it("a wrong password is never cached and never answered from the cache", async () => {
    const { authenticator, calls } = counting();
    const gate = createAuthenticationGate(authenticator, {
      cacheTtl: 60,
      cacheMaxEntries: 100,
      maxInFlight: 8,
    });
    await gate.authenticate(request("alice", "right"));
    expect(await gate.authenticate(request("alice", "wrong"))).toEqual({ result: "deny" });
    expect(await gate.authenticate(request("alice", "wrong"))).toEqual({ result: "deny" });
    expect(await gate.authenticate(request("bob", "x"))).toEqual({ result: "no-match" });
    expect(calls).toEqual(["alice", "alice", "alice", "bob"]);
  });

  it("the key covers account and password: no prefix confusion between them", async () => {
    const { authenticator, calls } = counting(async () => ({ result: "allow" }));
    const gate = createAuthenticationGate(authenticator, {
      cacheTtl: 60,
      cacheMaxEntries: 100,
      maxInFlight: 8,
    });
    await gate.authenticate(request("ab", "c"));
    await gate.authenticate(request("a", "bc"));
    expect(calls).toEqual(["ab", "a"]);
  });

  it("a ttl of 0 turns the cache off", async () => {
    const { authenticator, calls } = counting();
    const gate = createAuthenticationGate(authenticator, {
      cacheTtl: 0,
      cacheMaxEntries: 100,
      maxInFlight: 8,
    });
    await gate.authenticate(request("alice", "right"));
    await gate.authenticate(request("alice", "right"));
    expect(calls).toEqual(["alice", "alice"]);
  });

  it("entries expire after the ttl (frozen clock)", async () => {
    const { authenticator, calls } = counting();
    let now = 1_000_000;
    const gate = createAuthenticationGate(authenticator, {
      cacheTtl: 60,
      cacheMaxEntries: 100,
      maxInFlight: 8,
      now: () => now,
    });
    await gate.authenticate(request("alice", "right"));
    now += 59_999;
    await gate.authenticate(request("alice", "right"));
    expect(calls).toEqual(["alice"]);
    now += 2;
    await gate.authenticate(request("alice", "right"));
    expect(calls).toEqual(["alice", "alice"]);
  });

  it("the cache's keys and values hold no password, no hash of it, and no account", async () => {
    const password = "correct horse battery staple";
    const hash = "$2b$04$abcdefghijklmnopqrstuuJ0Vd0mFz3m8wGQ0u3xkqkqkqkqkqkqk";
    const gate = createAuthenticationGate(
      {
        async authenticate() {
          return { result: "allow", labels: { groups: ["qa"] } };
        },
      },
      { cacheTtl: 60, cacheMaxEntries: 100, maxInFlight: 8 },
    );
    await gate.authenticate(request("alice", password));
    const entries = gate.cachedEntries();
    expect(entries).toHaveLength(1);
    const stored = JSON.stringify(entries);
    expect(stored).not.toContain(password);
    expect(stored).not.toContain("alice");
    expect(stored).not.toContain(hash);
    for (const digest of ["sha256", "sha1", "md5"] as const) {
      expect(stored).not.toContain(createHash(digest).update(password).digest("hex"));
      expect(stored).not.toContain(createHash(digest).update(password).digest("base64url"));
    }
    // What is kept: an HMAC under a per-process key (43 base64url characters) and the labels.
    expect(entries[0]?.[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(entries[0]?.[1]).toEqual({ groups: ["qa"] });
  });

  it("two gates (as after a config reload) share nothing: a new one starts empty", async () => {
    const { authenticator, calls } = counting();
    const options = { cacheTtl: 60, cacheMaxEntries: 100, maxInFlight: 8 };
    const before = createAuthenticationGate(authenticator, options);
    await before.authenticate(request("alice", "right"));
    const after = createAuthenticationGate(authenticator, options);
    expect(after.cachedEntries()).toEqual([]);
    await after.authenticate(request("alice", "right"));
    expect(calls).toEqual(["alice", "alice"]);
  });

  it("the cache is bounded: the least recently used entry goes first", async () => {
    const { authenticator, calls } = counting(async () => ({ result: "allow" }));
    const gate = createAuthenticationGate(authenticator, {
      cacheTtl: 60,
      cacheMaxEntries: 2,
      maxInFlight: 8,
    });
    for (const account of ["a", "b", "c", "a"]) await gate.authenticate(request(account, "p"));
    expect(calls).toEqual(["a", "b", "c", "a"]);
  });
});

describe("bound on authentications in flight", () => {
  it("one more than the bound is refused with ERR_OVERLOADED; others proceed", async () => {
    const releases: (() => void)[] = [];
    const slow = counting(
      () => new Promise<AuthnResult>((resolve) => releases.push(() => resolve({ result: "deny" }))),
    );
    const gate = createAuthenticationGate(slow.authenticator, {
      cacheTtl: 60,
      cacheMaxEntries: 100,
      maxInFlight: 2,
    });
    const first = gate.authenticate(request("x", "1"));
    const second = gate.authenticate(request("y", "2"));
    await expect(gate.authenticate(request("z", "3"))).rejects.toMatchObject({
      code: "ERR_OVERLOADED",
    });
    for (const release of releases) release();
    await Promise.all([first, second]);
    // Slots come back once the work is done.
    const third = gate.authenticate(request("z", "3"));
    releases[2]?.();
    expect(await third).toEqual({ result: "deny" });
  });

  it("cached users pass even when the bound is reached", async () => {
    let release: (() => void) | undefined;
    let calls = 0;
    const gate = createAuthenticationGate(
      {
        async authenticate() {
          calls++;
          if (calls === 1) return { result: "allow" };
          return new Promise<AuthnResult>((resolve) => {
            release = () => resolve({ result: "deny" });
          });
        },
      },
      { cacheTtl: 60, cacheMaxEntries: 100, maxInFlight: 1 },
    );
    await gate.authenticate(request("alice", "right"));
    const pending = gate.authenticate(request("mallory", "guess"));
    expect(await gate.authenticate(request("alice", "right"))).toEqual({
      result: "allow",
      labels: {},
    });
    release?.();
    await pending;
  });

  it("one address cannot hold every slot: past its share it is refused, others still get in", async () => {
    // Reported by review: a flood of wrong passwords from one address made
    // every other first login 503 while it lasted.
    const releases: (() => void)[] = [];
    const slow = counting(
      () => new Promise<AuthnResult>((resolve) => releases.push(() => resolve({ result: "deny" }))),
    );
    const gate = createAuthenticationGate(slow.authenticator, {
      cacheTtl: 60,
      cacheMaxEntries: 100,
      maxInFlight: 4,
      maxInFlightPerClient: 2,
    });
    const from = (clientIp: string | undefined, password: string): AuthnRequest => ({
      account: "mallory",
      password,
      service: "registry.test",
      clientIp,
    });
    const flood = [
      gate.authenticate(from("198.51.100.9", "a")),
      gate.authenticate(from("198.51.100.9", "b")),
    ];
    await expect(gate.authenticate(from("198.51.100.9", "c"))).rejects.toMatchObject({
      code: "ERR_OVERLOADED",
    });
    // Another address, and requests whose address is unknown (bound only by the total), still get in...
    const others = [
      gate.authenticate(from("203.0.113.1", "d")),
      gate.authenticate(from(undefined, "e")),
    ];
    // ...up to the bound for everyone.
    await expect(gate.authenticate(from("203.0.113.2", "f"))).rejects.toMatchObject({
      code: "ERR_OVERLOADED",
    });
    for (const release of releases) release();
    await Promise.all([...flood, ...others]);
    // The address's share comes back once its work is done.
    const again = gate.authenticate(from("198.51.100.9", "g"));
    releases.at(-1)?.();
    expect(await again).toEqual({ result: "deny" });
  });
});
