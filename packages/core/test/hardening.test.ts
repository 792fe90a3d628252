// Hardening found by trying to break the handler as a user would: reserved keys
// in options, malformed answers from custom backends, parameters that disagree
// with themselves, and secrets inside backends' own error messages.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type Authenticator,
  type Authorizer,
  createTokenHandler,
  parseOptions,
  type RegauthError,
} from "../src/index.js";
import { basic, recordingLogger, stubIssuer } from "./helpers.js";

const SERVICE = "registry.test";
const anyone: Authenticator = {
  name: "anyone",
  async authenticate() {
    return { result: "allow" };
  },
};
const pullOnly: Authorizer = {
  async authorize() {
    return { result: "grant", actions: ["pull"] };
  },
};

function thrown(run: () => unknown): RegauthError {
  try {
    run();
  } catch (error) {
    return error as RegauthError;
  }
  throw new Error("expected a throw");
}

describe("parseOptions refuses reserved keys zod would drop", () => {
  const schema = z.strictObject({
    labels: z.record(z.string(), z.string()).default({}),
  });

  it("a __proto__ label key is an error naming its path, not a silently empty match", () => {
    const input = JSON.parse('{"labels":{"__proto__":"admins"}}');
    const error = thrown(() => parseOptions(schema, input, ["acl", 0, "match"]));
    expect(error.code).toBe("ERR_CONFIG_INVALID");
    expect(error.message).toBe("acl[0].match.labels.__proto__: reserved key not allowed");
  });

  it("constructor and prototype are refused as well, at any depth", () => {
    const input = JSON.parse('{"labels":{"ok":"x"},"deep":[{"constructor":1}]}');
    expect(thrown(() => parseOptions(schema, input)).message).toBe(
      "deep[0].constructor: reserved key not allowed",
    );
  });

  it("ordinary options parse as before", () => {
    expect(parseOptions(schema, { labels: { groups: "qa" } })).toEqual({
      labels: { groups: "qa" },
    });
  });
});

describe("malformed answers from custom backends are faults, never decisions", () => {
  function handlerWith(authenticator: Authenticator, authorizer: Authorizer) {
    const issuer = stubIssuer();
    const handler = createTokenHandler({
      authenticators: [authenticator],
      authorizers: [authorizer],
      issuer,
      services: [SERVICE],
    });
    return { handler, issuer };
  }
  const url = `http://a.test/auth?service=${SERVICE}&scope=repository:app:pull,push`;

  it("an authorizer granting a string instead of an array gives 503, not substring grants", async () => {
    const stringy = {
      async authorize() {
        return { result: "grant", actions: "pull" };
      },
    } as unknown as Authorizer;
    const { handler, issuer } = handlerWith(anyone, stringy);
    const response = await handler(new Request(url));
    expect(response.status).toBe(503);
    expect(issuer.grants).toEqual([]);
  });

  it("an authenticator answering an unknown result gives 503", async () => {
    const odd = {
      async authenticate() {
        return { result: "yes" };
      },
    } as unknown as Authenticator;
    const { handler, issuer } = handlerWith(odd, pullOnly);
    expect((await handler(new Request(url))).status).toBe(503);
    expect(issuer.grants).toEqual([]);
  });

  it("an authenticator answering labels that are not string arrays gives 503", async () => {
    const odd = {
      async authenticate() {
        return { result: "allow", labels: { groups: "qa" } };
      },
    } as unknown as Authenticator;
    const { handler } = handlerWith(odd, pullOnly);
    expect((await handler(new Request(url))).status).toBe(503);
  });
});

describe("parameters that must have one value", () => {
  const handler = createTokenHandler({
    authenticators: [anyone],
    authorizers: [pullOnly],
    issuer: stubIssuer(),
    services: [SERVICE, "other.test"],
  });

  it("service given twice with different values is 400", async () => {
    const response = await handler(
      new Request(`http://a.test/auth?service=${SERVICE}&service=other.test`),
    );
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("parameter service given twice with different values");
  });

  it("account given twice with different values is 400", async () => {
    const response = await handler(
      new Request(`http://a.test/auth?service=${SERVICE}&account=reader&account=admin`, {
        headers: { authorization: basic("reader", "pw") },
      }),
    );
    expect(response.status).toBe(400);
  });

  it("the same value twice is tolerated", async () => {
    const response = await handler(
      new Request(`http://a.test/auth?service=${SERVICE}&service=${SERVICE}`),
    );
    expect(response.status).toBe(200);
  });
});

describe("secrets inside a backend's error message are redacted from logs", () => {
  it("a password echoed by a failing authenticator never reaches the log", async () => {
    const logger = recordingLogger();
    const leaky: Authenticator = {
      name: "leaky",
      async authenticate({ account, password }) {
        throw new Error(`bind failed for ${account} with ${password}`);
      },
    };
    const handler = createTokenHandler({
      authenticators: [leaky],
      authorizers: [pullOnly],
      issuer: stubIssuer(),
      services: [SERVICE],
      logger,
    });
    const response = await handler(
      new Request(`http://a.test/auth?service=${SERVICE}`, {
        headers: { authorization: basic("alice", "SuperSecret123") },
      }),
    );
    expect(response.status).toBe(503);
    const text = logger.text();
    expect(text).toContain("bind failed for alice with [redacted]");
    expect(text).not.toContain("SuperSecret123");
  });

  it("a POST password or refresh token in the URL is refused (400), never used nor logged", async () => {
    // Reported by review: the grant took the password from the query, where
    // access logs and proxies keep it (RFC 6749 wants it in the body).
    const logger = recordingLogger();
    const asked: string[] = [];
    const recording: Authenticator = {
      name: "recording",
      async authenticate({ account }) {
        asked.push(account);
        return { result: "allow" };
      },
    };
    const handler = createTokenHandler({
      authenticators: [recording],
      authorizers: [pullOnly],
      issuer: stubIssuer(),
      services: [SERVICE],
      logger,
    });
    for (const query of ["password=QueryPassword123", "refresh_token=rgr_QueryRefreshToken"]) {
      const response = await handler(
        new Request(`http://a.test/auth?${query}&service=${SERVICE}`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: "grant_type=password&username=alice",
        }),
      );
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: string; error_description: string };
      expect(body.error).toBe("invalid_request");
      expect(body.error_description).toMatch(/must be sent in the form body, never in the URL/);
    }
    expect(asked).toEqual([]);
    expect(logger.text()).not.toContain("QueryPassword123");
    expect(logger.text()).not.toContain("QueryRefreshToken");
  });
});

describe("the handler's authentication gate", () => {
  it("more authentications in flight than allowed get 503 with Retry-After, never a token", async () => {
    const releases: (() => void)[] = [];
    const slow: Authenticator = {
      async authenticate() {
        return new Promise((resolve) => releases.push(() => resolve({ result: "allow" })));
      },
    };
    const issuer = stubIssuer();
    const handler = createTokenHandler({
      authenticators: [slow],
      authorizers: [pullOnly],
      issuer,
      services: [SERVICE],
      maxAuthenticationsInFlight: 2,
    });
    const ask = (user: string) =>
      handler(
        new Request(`http://a.test/auth?service=${SERVICE}`, {
          headers: { authorization: basic(user, "pw") },
        }),
      );
    const first = ask("a");
    const second = ask("b");
    const refused = await ask("c");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(issuer.grants).toHaveLength(0);
    for (const release of releases) release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });

  it("by default one client address gets half of the slots: a flood from it leaves room for others", async () => {
    const releases: (() => void)[] = [];
    const slow: Authenticator = {
      async authenticate() {
        return new Promise((resolve) => releases.push(() => resolve({ result: "deny" })));
      },
    };
    const handler = createTokenHandler({
      authenticators: [slow],
      authorizers: [pullOnly],
      issuer: stubIssuer(),
      services: [SERVICE],
      maxAuthenticationsInFlight: 4,
    });
    const ask = (clientIp: string, user: string) =>
      handler(
        new Request(`http://a.test/auth?service=${SERVICE}`, {
          headers: { authorization: basic(user, "wrong") },
        }),
        { clientIp },
      );
    const flood = [ask("198.51.100.9", "a"), ask("198.51.100.9", "b")];
    expect((await ask("198.51.100.9", "c")).status).toBe(503);
    const other = ask("203.0.113.1", "d");
    await new Promise((resolve) => setImmediate(resolve));
    expect(releases).toHaveLength(3);
    for (const release of releases) release();
    expect((await Promise.all([...flood, other])).map((r) => r.status)).toEqual([401, 401, 401]);
  });

  it("a returning user is served from the credential cache; credentialCacheTtl 0 turns it off", async () => {
    for (const [ttl, expectedCalls] of [
      [undefined, 1],
      [0, 3],
    ] as const) {
      let calls = 0;
      const counting: Authenticator = {
        async authenticate() {
          calls++;
          return { result: "allow" };
        },
      };
      const handler = createTokenHandler({
        authenticators: [counting],
        authorizers: [pullOnly],
        issuer: stubIssuer(),
        services: [SERVICE],
        ...(ttl === undefined ? {} : { credentialCacheTtl: ttl }),
      });
      for (let i = 0; i < 3; i++) {
        const response = await handler(
          new Request(`http://a.test/auth?service=${SERVICE}`, {
            headers: { authorization: basic("alice", "pw") },
          }),
        );
        expect(response.status).toBe(200);
      }
      expect(calls).toBe(expectedCalls);
    }
  });
});

describe('services: "any" (docker_auth issues tokens for whatever service is named)', () => {
  const issuer = stubIssuer();
  const handler = createTokenHandler({
    authenticators: [anyone],
    authorizers: [pullOnly],
    issuer,
    services: "any",
  });

  it("the named service becomes the audience", async () => {
    const response = await handler(new Request("http://a.test/auth?service=reg.one.test"));
    expect(response.status).toBe(200);
    expect(issuer.grants.at(-1)?.audience).toBe("reg.one.test");
  });

  it.each([
    ["no service", ""],
    ["an empty service", "?service="],
    ["a service with a space", "?service=a%20b"],
    ["a service of 257 characters", `?service=${"s".repeat(257)}`],
  ])("%s is 400, never a token with an odd audience", async (_label, query) => {
    const before = issuer.grants.length;
    const response = await handler(new Request(`http://a.test/auth${query}`));
    expect(response.status).toBe(400);
    expect(issuer.grants.length).toBe(before);
  });
});

describe("credentials that could split a line-based protocol are refused (400)", () => {
  const issuer = stubIssuer();
  const asked: string[] = [];
  const recording: Authenticator = {
    async authenticate({ account }) {
      asked.push(account);
      return { result: "allow" };
    },
  };
  const handler = createTokenHandler({
    authenticators: [recording],
    authorizers: [pullOnly],
    issuer,
    services: [SERVICE],
  });
  const get = (user: string, password: string) =>
    handler(
      new Request(`http://a.test/auth?service=${SERVICE}`, {
        headers: { authorization: basic(user, password) },
      }),
    );

  it.each([
    [
      "a line break in the user (reported: 'bob extpass\\nadmin' chose its account)",
      "bob extpass\nadmin",
      "zzz",
    ],
    ["a NUL in the user", "bob\u0000admin", "pw"],
    ["a tab in the user", "bob\tadmin", "pw"],
    ["a line break in the password", "bob", "extpass\nzzz"],
    ["a carriage return in the password", "bob", "extpass\rzzz"],
    ["a NUL in the password", "bob", "pw\u0000x"],
  ])("%s", async (_label, user, password) => {
    const before = asked.length;
    const response = await get(user, password);
    expect(response.status).toBe(400);
    expect(asked.length).toBe(before);
    expect(await response.text()).not.toContain(password);
  });

  it("the same through the OAuth2 password grant", async () => {
    const response = await handler(
      new Request("http://a.test/auth", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "password",
          service: SERVICE,
          username: "bob extpass\nadmin",
          password: "zzz",
        }),
      }),
    );
    expect(response.status).toBe(400);
    expect(issuer.grants).toHaveLength(0);
  });

  it("spaces and unicode in a password are fine", async () => {
    expect((await get("bob", "pass with spaces ü")).status).toBe(200);
  });
});

describe("a POST body the client never finished is a 400, not a server error", () => {
  it("a body stream that breaks mid-way answers 400 and logs no error", async () => {
    const logger = recordingLogger();
    const handler = createTokenHandler({
      authenticators: [anyone],
      authorizers: [pullOnly],
      issuer: stubIssuer(),
      services: [SERVICE],
      logger,
    });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("grant_type=pass"));
        controller.error(new Error("aborted"));
      },
    });
    const response = await handler(
      new Request("http://a.test/auth", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
        duplex: "half",
      } as RequestInit),
    );
    expect(response.status).toBe(400);
    expect(logger.calls.filter((call) => call.level === "error")).toEqual([]);
  });
});

describe("overload is visible in the log, without one line per refused request", () => {
  it("many refusals give one warning", async () => {
    const logger = recordingLogger();
    const never: Authenticator = {
      authenticate: () => new Promise(() => {}),
    };
    const handler = createTokenHandler({
      authenticators: [never],
      authorizers: [pullOnly],
      issuer: stubIssuer(),
      services: [SERVICE],
      maxAuthenticationsInFlight: 1,
      logger,
    });
    const ask = (user: string) =>
      handler(
        new Request(`http://a.test/auth?service=${SERVICE}`, {
          headers: { authorization: basic(user, "pw") },
        }),
      );
    void ask("stuck");
    const statuses = await Promise.all(
      ["a", "b", "c", "d"].map((user) => ask(user).then((r) => r.status)),
    );
    expect(statuses).toEqual([503, 503, 503, 503]);
    const warnings = logger.calls.filter((call) => call.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain("too many authentications in flight");
  });
});
