import { type AuthnRequest, RegauthError } from "@regauth/core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  createStaticAuthenticator,
  hashPassword,
  type StaticAuthenticatorOptions,
} from "../src/index.js";

function asked(account: string, password: string): AuthnRequest {
  return { account, password, service: "registry.test", clientIp: "192.0.2.1" };
}

function configErrorOf(options: unknown): RegauthError {
  try {
    createStaticAuthenticator(options as StaticAuthenticatorOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(RegauthError);
    expect((error as RegauthError).code).toBe("ERR_CONFIG_INVALID");
    return error as RegauthError;
  }
  throw new Error("expected ERR_CONFIG_INVALID, nothing was thrown");
}

let hash2b: string; // of "alice-pw", cost 4

beforeAll(async () => {
  hash2b = await hashPassword("alice-pw", 4);
});

describe("createStaticAuthenticator", () => {
  it.each(["$2a$", "$2b$", "$2y$"])("verifies a %s hash", async (prefix) => {
    expect(hash2b.startsWith("$2b$04$")).toBe(true);
    const authenticator = createStaticAuthenticator({
      users: { alice: { password: `${prefix}${hash2b.slice(4)}` } },
    });
    expect(await authenticator.authenticate(asked("alice", "alice-pw"))).toEqual({
      result: "allow",
      labels: {},
    });
    expect(await authenticator.authenticate(asked("alice", "alice-pW"))).toEqual({
      result: "deny",
    });
  });

  // Hashes of "secret" made by another bcrypt (glibc/libxcrypt crypt(3), the
  // one behind htpasswd on Linux), so the vectors do not come from the library
  // under test.
  it.each([
    "$2y$05$.U.Gq02rtzD9ZSTW29lkke58dmJXq/Z7JFauAtUinZ1ez8i2NcIze",
    "$2a$05$r5Jf7VjX9YndONLaQLElK.bN4HGsKSxTmhT0LWBBmzQo1A36CEO1O",
    "$2b$05$Xyw0vhLfoENdXUnwiRwlSOoOABgUrmkODEQJof3wUHwYR3ShYWDIC",
  ])("verifies %s made by libxcrypt", async (hash) => {
    const authenticator = createStaticAuthenticator({ users: { alice: { password: hash } } });
    expect((await authenticator.authenticate(asked("alice", "secret"))).result).toBe("allow");
    expect((await authenticator.authenticate(asked("alice", "Secret"))).result).toBe("deny");
  });

  it("lookup (a refresh token's account): a listed account with its labels, an unlisted one no-match", async () => {
    const authenticator = createStaticAuthenticator({
      users: { alice: { password: hash2b, labels: { groups: ["qa"] } }, "": {} },
    });
    const lookup = (account: string) =>
      authenticator.lookup?.({ account, service: "registry.test", clientIp: undefined });
    expect(await lookup("alice")).toEqual({ result: "allow", labels: { groups: ["qa"] } });
    expect(await lookup("bob")).toEqual({ result: "no-match" });
    expect(await lookup("")).toEqual({ result: "no-match" });
  });

  it("hands over the user's labels on allow", async () => {
    const labels = { groups: ["dev", "qa"], team: ["core"] };
    const authenticator = createStaticAuthenticator({
      users: { alice: { password: hash2b, labels } },
    });
    expect(await authenticator.authenticate(asked("alice", "alice-pw"))).toEqual({
      result: "allow",
      labels,
    });
  });

  it("a wrong or empty password for a known account is deny", async () => {
    const authenticator = createStaticAuthenticator({ users: { alice: { password: hash2b } } });
    expect(await authenticator.authenticate(asked("alice", "wrong"))).toEqual({ result: "deny" });
    expect(await authenticator.authenticate(asked("alice", ""))).toEqual({ result: "deny" });
  });

  it("an unknown account is no-match, even with another user's password", async () => {
    const authenticator = createStaticAuthenticator({ users: { alice: { password: hash2b } } });
    expect(await authenticator.authenticate(asked("bob", "alice-pw"))).toEqual({
      result: "no-match",
    });
    expect(await authenticator.authenticate(asked("Alice", "alice-pw"))).toEqual({
      result: "no-match",
    });
  });

  it("the '' entry lets anonymous requests in with its labels", async () => {
    const authenticator = createStaticAuthenticator({
      users: { alice: { password: hash2b }, "": { labels: { groups: ["guests"] } } },
    });
    expect(await authenticator.authenticate(asked("", ""))).toEqual({
      result: "allow",
      labels: { groups: ["guests"] },
    });
  });

  it("a bare '' entry allows anonymous with no labels", async () => {
    const authenticator = createStaticAuthenticator({ users: { "": {} } });
    expect(await authenticator.authenticate(asked("", ""))).toEqual({
      result: "allow",
      labels: {},
    });
    // and knows nobody else
    expect(await authenticator.authenticate(asked("alice", "x"))).toEqual({ result: "no-match" });
  });

  it("without a '' entry anonymous is no-match", async () => {
    const authenticator = createStaticAuthenticator({ users: { alice: { password: hash2b } } });
    expect(await authenticator.authenticate(asked("", ""))).toEqual({ result: "no-match" });
  });

  it("an account named like an Object property is just unknown", async () => {
    const authenticator = createStaticAuthenticator({ users: { alice: { password: hash2b } } });
    for (const account of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect(await authenticator.authenticate(asked(account, "x"))).toEqual({ result: "no-match" });
    }
  });

  it("is named static unless told otherwise", () => {
    expect(createStaticAuthenticator({ users: {} }).name).toBe("static");
    expect(createStaticAuthenticator({ users: {}, name: "ci-users" }).name).toBe("ci-users");
  });

  describe("configuration errors name the path and never the hash", () => {
    it("a hash that is not bcrypt", () => {
      const md5 = "$apr1$Vz8gEaTb$HgNWYvzoXSHd5AIdM2iZc/";
      const error = configErrorOf({ users: { alice: { password: md5 } } });
      expect(error.message).toBe(
        "users.alice.password: expected a bcrypt hash ($2a$, $2b$ or $2y$)",
      );
      expect(error.message).not.toContain("Vz8gEaTb");
    });

    it("a plain-text password where a hash belongs", () => {
      const error = configErrorOf({ users: { alice: { password: "hunter2" } } });
      expect(error.message).toBe(
        "users.alice.password: expected a bcrypt hash ($2a$, $2b$ or $2y$)",
      );
      expect(error.message).not.toContain("hunter2");
      expect(JSON.stringify(error)).not.toContain("hunter2");
    });

    it("a bcrypt hash with a cost out of range or a cut tail", () => {
      expect(
        configErrorOf({ users: { a: { password: `$2b$03$${hash2b.slice(7)}` } } }).message,
      ).toBe("users.a.password: expected a bcrypt hash ($2a$, $2b$ or $2y$)");
      expect(configErrorOf({ users: { a: { password: hash2b.slice(0, -1) } } }).message).toBe(
        "users.a.password: expected a bcrypt hash ($2a$, $2b$ or $2y$)",
      );
    });

    it("an account without a password", () => {
      expect(configErrorOf({ users: { alice: { password: hash2b }, bob: {} } }).message).toBe(
        "users.bob.password: required",
      );
    });

    it("an account whose name would not read after a dot is quoted", () => {
      expect(configErrorOf({ users: { "ci.bot@example.com": {} } }).message).toBe(
        'users["ci.bot@example.com"].password: required',
      );
    });

    it("the '' entry with a password", () => {
      expect(configErrorOf({ users: { "": { password: hash2b } } }).message).toBe(
        'users[""].password: the anonymous entry takes no password',
      );
    });

    it("an unknown key in the '' entry", () => {
      expect(configErrorOf({ users: { "": { label: {} } } }).message).toBe(
        'users[""].label: unknown key',
      );
    });

    it("an account name holding ':' (no Basic client can send it)", () => {
      expect(configErrorOf({ users: { "a:b": { password: hash2b } } }).message).toBe(
        `users["a:b"]: an account name cannot contain ':' (Basic credentials end the user there)`,
      );
    });

    it("an unknown key in a user", () => {
      expect(configErrorOf({ users: { alice: { password: hash2b, grups: ["x"] } } }).message).toBe(
        "users.alice.grups: unknown key",
      );
    });

    it("an unknown top-level key", () => {
      expect(configErrorOf({ users: {}, user: {} }).message).toBe("user: unknown key");
    });

    it("labels that are not lists of strings", () => {
      expect(
        configErrorOf({ users: { alice: { password: hash2b, labels: { groups: "dev" } } } })
          .message,
      ).toBe("users.alice.labels.groups: invalid input: expected array, received string");
    });

    it("no users at all", () => {
      expect(configErrorOf({}).message).toBe(
        "users: invalid input: expected record, received undefined",
      );
    });
  });
});

describe("createStaticAuthenticator: an unknown account costs a bcrypt", () => {
  // An unknown account must take as long as a wrong password, or the 401s can
  // be told apart by time and accounts listed. With a cost-12 hash one
  // verification takes ~100-300 ms, far above scheduling noise: without the
  // decoy verification the unknown account answers in well under 1 ms.
  let slow: string;
  let fast: string;

  beforeAll(async () => {
    [slow, fast] = await Promise.all([hashPassword("slow-pw", 12), hashPassword("fast-pw", 4)]);
  }, 20_000);

  async function elapsed(run: () => Promise<unknown>): Promise<number> {
    const started = performance.now();
    await run();
    return performance.now() - started;
  }

  async function medians(
    authenticate: (r: AuthnRequest) => Promise<unknown>,
    wrong: AuthnRequest,
    unknown: AuthnRequest,
  ): Promise<{ wrong: number; unknown: number }> {
    const w: number[] = [];
    const u: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      w.push(await elapsed(() => authenticate(wrong)));
      u.push(await elapsed(() => authenticate(unknown)));
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[1] as number;
    return { wrong: median(w), unknown: median(u) };
  }

  it("unknown-account latency is at least half of wrong-password latency", async () => {
    const authenticator = createStaticAuthenticator({ users: { alice: { password: slow } } });
    const times = await medians(
      (r) => authenticator.authenticate(r),
      asked("alice", "wrong"),
      asked("mallory", "wrong"),
    );
    expect(times.wrong).toBeGreaterThan(20); // the premise: cost 12 is slow
    expect(times.unknown).toBeGreaterThanOrEqual(times.wrong / 2);
  }, 20_000);

  it("spends the verification on the costliest hash in use", async () => {
    const authenticator = createStaticAuthenticator({
      users: { fast: { password: fast }, slow: { password: slow }, also: { password: fast } },
    });
    const times = await medians(
      (r) => authenticator.authenticate(r),
      asked("slow", "wrong"),
      asked("mallory", "wrong"),
    );
    expect(times.unknown).toBeGreaterThanOrEqual(times.wrong / 2);
  }, 20_000);
});
