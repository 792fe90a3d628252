import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
// @regauth/authn is not a dependency of the core (it depends on the core), so
// its source is imported by path; it resolves @regauth/core to the same modules.
import { createStaticAuthenticator, hashPassword } from "../../authn/src/index.js";
import {
  type Authenticator,
  type Authorizer,
  createTokenHandler,
  DEFAULT_MAX_SCOPES,
  MAX_QUERY_PARAMETERS,
  MAX_URL_LENGTH,
  RegauthError,
  type TokenHandlerOptions,
} from "../src/index.js";
import {
  basic,
  type RecordingLogger,
  recordingLogger,
  STUB_TOKEN,
  type StubIssuer,
  stubIssuer,
  tableAuthorizer,
} from "./helpers.js";

const SERVICE = "registry.test";
const OTHER_SERVICE = "mirror.test";
const ALICE_PASSWORD = "alice-Pa55w0rd!";
const CAROL_PASSWORD = "c:a:r:o:l"; // Basic passwords may contain ':'

let users: Parameters<typeof createStaticAuthenticator>[0]["users"];

beforeAll(async () => {
  users = {
    alice: { password: await hashPassword(ALICE_PASSWORD, 4), labels: { groups: ["dev", "qa"] } },
    carol: { password: await hashPassword(CAROL_PASSWORD, 4) },
  };
});

afterEach(() => {
  vi.useRealTimers();
});

interface Setup {
  handler: ReturnType<typeof createTokenHandler>;
  issuer: StubIssuer;
  logger: RecordingLogger;
  authorizer: ReturnType<typeof tableAuthorizer>;
}

function setup(
  options: Partial<TokenHandlerOptions> & { anonymous?: boolean } = {},
  table: Record<string, readonly string[]> = { app: ["pull", "push"], "team/lib": ["*"] },
): Setup {
  const { anonymous, ...rest } = options;
  const issuer = stubIssuer();
  const logger = recordingLogger();
  const authorizer = tableAuthorizer(table);
  const handler = createTokenHandler({
    authenticators: [
      createStaticAuthenticator({ users: anonymous ? { ...users, "": {} } : users }),
    ],
    authorizers: [authorizer],
    issuer,
    services: [SERVICE, OTHER_SERVICE],
    logger,
    ...rest,
  });
  return { handler, issuer, logger, authorizer };
}

function get(query: string, headers: Record<string, string> = {}, method = "GET"): Request {
  return new Request(`http://auth.test/auth${query}`, { method, headers });
}

async function errorBody(response: Response): Promise<{ code: string; message: string }> {
  const body = (await response.json()) as {
    errors: { code: string; message: string }[];
    details: string;
  };
  expect(body.errors).toHaveLength(1);
  const [error] = body.errors;
  if (error === undefined) throw new Error("no error entry");
  expect(body.details).toBe(error.message);
  return error;
}

describe("createTokenHandler: success", () => {
  it("answers exactly token, access_token, expires_in and issued_at, not cached", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2031-02-03T04:05:06.789Z"));
    const { handler } = setup();
    const response = await handler(
      get(`?service=${SERVICE}&scope=repository:app:pull`, {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("pragma")).toBe("no-cache");
    expect(response.headers.get("www-authenticate")).toBeNull();
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "issued_at", "token"]);
    expect(body.token).toBe(STUB_TOKEN);
    expect(body.access_token).toBe(STUB_TOKEN);
    expect(body.expires_in).toBe(300);
    expect(Number.isInteger(body.expires_in)).toBe(true);
    // RFC 3339 at the current time, whole seconds (what docker parses)
    expect(body.issued_at).toBe("2031-02-03T04:05:06Z");
  });

  it("issued_at follows the clock, not a fixed date", async () => {
    const { handler } = setup({ anonymous: true });
    const before = Math.floor(Date.now() / 1000) * 1000;
    const response = await handler(get(""));
    const body = (await response.json()) as { issued_at: string };
    expect(body.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const issued = Date.parse(body.issued_at);
    expect(issued).toBeGreaterThanOrEqual(before);
    expect(issued).toBeLessThanOrEqual(Date.now());
  });

  it("asks the issuer for subject, audience and requested ∩ allowed per scope", async () => {
    const { handler, issuer } = setup(
      {},
      { app: ["pull"], "team/lib": ["*"], denied: [], catalog: ["*"], "plug/x": ["pull"] },
    );
    const response = await handler(
      get(
        `?service=${SERVICE}&scope=repository:app:pull,push` +
          "&scope=repository:team/lib:pull,push,delete" +
          "&scope=repository:denied:pull" +
          "&scope=repository:nobody-knows:pull" +
          "&scope=registry:catalog:*" +
          "&scope=repository(plugin):plug/x:pull,push",
        { Authorization: basic("alice", ALICE_PASSWORD) },
      ),
    );
    expect(response.status).toBe(200);
    expect(issuer.grants).toEqual([
      {
        subject: "alice",
        audience: SERVICE,
        access: [
          { type: "repository", name: "app", actions: ["pull"] },
          { type: "repository", name: "team/lib", actions: ["pull", "push", "delete"] },
          { type: "repository", name: "denied", actions: [] },
          { type: "repository", name: "nobody-knows", actions: [] },
          { type: "registry", name: "catalog", actions: ["*"] },
          { type: "repository", class: "plugin", name: "plug/x", actions: ["pull"] },
        ],
      },
    ]);
  });

  it("grants registry:catalog:* only when * is allowed, not for pull", async () => {
    const { handler, issuer } = setup({}, { catalog: ["pull"] });
    await handler(
      get("?scope=registry:catalog:*", { Authorization: basic("alice", ALICE_PASSWORD) }),
    );
    expect(issuer.grants[0]?.access).toEqual([{ type: "registry", name: "catalog", actions: [] }]);
  });

  it("merges the same repository asked twice and grants a cross-repo mount per repository", async () => {
    const { handler, issuer } = setup({}, { dst: ["pull", "push"], src: ["pull"] });
    await handler(
      get("?scope=repository:dst:push&scope=repository:src:pull,push&scope=repository:dst:pull", {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    expect(issuer.grants[0]?.access).toEqual([
      { type: "repository", name: "dst", actions: ["push", "pull"] },
      { type: "repository", name: "src", actions: ["pull"] },
    ]);
  });

  it("takes several scopes inside one value", async () => {
    const { handler, issuer } = setup();
    await handler(
      get("?scope=repository%3Aapp%3Apull+repository%3Ateam%2Flib%3Apush", {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    expect(issuer.grants[0]?.access).toEqual([
      { type: "repository", name: "app", actions: ["pull"] },
      { type: "repository", name: "team/lib", actions: ["push"] },
    ]);
  });

  it("hands the authorizer the account, service, labels and scope", async () => {
    const { handler, authorizer } = setup();
    await handler(
      get(`?service=${OTHER_SERVICE}&scope=repository:app:pull`, {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
      { clientIp: "192.0.2.7" },
    );
    expect(authorizer.requests).toEqual([
      {
        account: "alice",
        service: OTHER_SERVICE,
        clientIp: "192.0.2.7",
        labels: { groups: ["dev", "qa"] },
        scope: { type: "repository", name: "app", actions: ["pull"] },
      },
    ]);
  });

  it("an empty scope= (docker login) gives a token with access []", async () => {
    const { handler, issuer, authorizer } = setup();
    const response = await handler(
      get(`?account=alice&scope=&service=${SERVICE}`, {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    expect(response.status).toBe(200);
    expect(issuer.grants).toEqual([{ subject: "alice", audience: SERVICE, access: [] }]);
    expect(authorizer.requests).toEqual([]);
  });

  it("accepts a Basic password that contains ':'", async () => {
    const { handler, issuer } = setup();
    const response = await handler(
      get("?scope=repository:app:pull", { Authorization: basic("carol", CAROL_PASSWORD) }),
    );
    expect(response.status).toBe(200);
    expect(issuer.grants[0]?.subject).toBe("carol");
  });

  it("accepts the scheme name in any case and extra spaces (RFC 7617)", async () => {
    const { handler } = setup();
    const encoded = Buffer.from(`alice:${ALICE_PASSWORD}`).toString("base64");
    for (const header of [`basic ${encoded}`, `BASIC ${encoded}`, `Basic   ${encoded}`]) {
      expect((await handler(get("", { Authorization: header }))).status).toBe(200);
    }
  });

  it("ignores client_id, offline_token and unknown parameters", async () => {
    const { handler, issuer } = setup();
    const plain = await handler(
      get(`?service=${SERVICE}&scope=repository:app:pull`, {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    const extra = await handler(
      get(
        `?service=${SERVICE}&scope=repository:app:pull&client_id=docker&offline_token=true&realm_param=1&x=`,
        { Authorization: basic("alice", ALICE_PASSWORD) },
      ),
    );
    expect(plain.status).toBe(200);
    expect(extra.status).toBe(200);
    expect(Object.keys((await extra.json()) as object).sort()).toEqual([
      "access_token",
      "expires_in",
      "issued_at",
      "token",
    ]);
    expect(issuer.grants[1]).toEqual(issuer.grants[0]);
  });

  it("serves an anonymous request when the '' user exists, with subject ''", async () => {
    const { handler, issuer, authorizer } = setup({ anonymous: true });
    const response = await handler(get("?scope=repository:app:pull"));
    expect(response.status).toBe(200);
    expect(issuer.grants).toEqual([
      {
        subject: "",
        audience: SERVICE,
        access: [{ type: "repository", name: "app", actions: ["pull"] }],
      },
    ]);
    expect(authorizer.requests[0]?.account).toBe("");
  });

  it("an account parameter without credentials does not make the request that account", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const response = await handler(get("?account=alice&scope=repository:app:pull"));
    expect(response.status).toBe(200);
    expect(issuer.grants[0]?.subject).toBe("");
  });
});

describe("createTokenHandler: service", () => {
  it.each([
    ["no service parameter", ""],
    ["an empty service=", "?service="],
  ])("%s gets the first configured service", async (_label, query) => {
    const { handler, issuer } = setup({ anonymous: true });
    expect((await handler(get(query))).status).toBe(200);
    expect(issuer.grants[0]?.audience).toBe(SERVICE);
  });

  it("a configured service other than the first is the audience", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    expect((await handler(get(`?service=${OTHER_SERVICE}`))).status).toBe(200);
    expect(issuer.grants[0]?.audience).toBe(OTHER_SERVICE);
  });

  it("an unknown service is 400 and no token", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const response = await handler(get("?service=elsewhere.test"));
    expect(response.status).toBe(400);
    expect(await errorBody(response)).toEqual({
      code: "INVALID_REQUEST",
      message: 'unknown service "elsewhere.test"',
    });
    expect(issuer.grants).toEqual([]);
  });
});

describe("createTokenHandler: account parameter", () => {
  it("equal to the Basic user is accepted", async () => {
    const { handler, issuer } = setup();
    const response = await handler(
      get("?account=alice&scope=repository:app:pull", {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    expect(response.status).toBe(200);
    expect(issuer.grants[0]?.subject).toBe("alice");
  });

  it("different from the Basic user is 400 and no token", async () => {
    const { handler, issuer } = setup();
    const response = await handler(
      get("?account=bob&scope=repository:app:pull", {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    expect(response.status).toBe(400);
    expect(await errorBody(response)).toEqual({
      code: "INVALID_REQUEST",
      message: "the account parameter differs from the user in the Basic credentials",
    });
    expect(issuer.grants).toEqual([]);
  });

  it("an empty account= is treated as absent, as docker_auth does", async () => {
    const { handler, issuer } = setup();
    const response = await handler(
      get("?account=&scope=repository:app:pull", {
        Authorization: basic("alice", ALICE_PASSWORD),
      }),
    );
    expect(response.status).toBe(200);
    expect(issuer.grants[0]?.subject).toBe("alice");
  });
});

describe("createTokenHandler: methods", () => {
  it("POST is the OAuth2 grant (every branch: oauth.test.ts)", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const response = await handler(
      new Request("http://auth.test/auth", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: `grant_type=password&username=alice&password=${ALICE_PASSWORD}&service=${SERVICE}`,
      }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ access_token: expect.any(String) });
    expect(issuer.grants).toHaveLength(1);
  });

  it.each(["PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"])(
    "%s is 405 with Allow: GET, POST",
    async (method) => {
      const { handler, issuer } = setup({ anonymous: true });
      const response = await handler(get("", {}, method));
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("GET, POST");
      expect(await errorBody(response)).toEqual({
        code: "UNSUPPORTED",
        message: `method ${method} not allowed`,
      });
      expect(issuer.grants).toEqual([]);
    },
  );
});

describe("createTokenHandler: bad input", () => {
  const badBasic: [label: string, header: string, message: string][] = [
    [
      "not base64",
      "Basic !!!not-base64!!!",
      "authorization header: Basic credentials are not base64",
    ],
    [
      "base64 with a bad length",
      "Basic YWxpY2U6eA",
      "authorization header: Basic credentials are not base64",
    ],
    [
      "no colon",
      `Basic ${Buffer.from("alice").toString("base64")}`,
      "authorization header: Basic credentials have no ':'",
    ],
    ["empty Basic", "Basic", "authorization header: empty Basic credentials"],
    ["Basic and spaces", "Basic    ", "authorization header: empty Basic credentials"],
    ["an empty header", "", "authorization header: expected the Basic scheme"],
    [
      "another scheme (Bearer)",
      "Bearer abc.def.ghi",
      "authorization header: expected the Basic scheme",
    ],
    [
      "not UTF-8",
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`,
      "authorization header: Basic credentials are not UTF-8",
    ],
    [
      "64 KiB",
      `Basic ${"A".repeat(64 * 1024)}`,
      "authorization header too long: more than 8192 bytes",
    ],
  ];
  it.each(badBasic)("a Basic header that is %s is 400", async (_label, header, message) => {
    const { handler, issuer } = setup({ anonymous: true });
    const response = await handler(get("?scope=repository:app:pull", { Authorization: header }));
    expect(response.status).toBe(400);
    expect(await errorBody(response)).toEqual({ code: "INVALID_REQUEST", message });
    expect(issuer.grants).toEqual([]);
  });

  const badScopes: [label: string, scope: string, message: string][] = [
    ["an empty name", "repository::pull", 'invalid scope "repository::pull": empty resource name'],
    [
      "an empty type",
      ":a:pull",
      'invalid scope ":a:pull": resource type "" is not type or type(class)',
    ],
    ["no actions", "repository:a:", 'invalid scope "repository:a:": no actions'],
    ["a trailing comma", "repository:a:pull,", 'invalid scope "repository:a:pull,": empty action'],
    [
      "an unknown type",
      "blob:a:pull",
      'invalid scope "blob:a:pull": unknown resource type "blob", expected repository or registry',
    ],
    [
      "a tag",
      "repository:app:latest:pull",
      'invalid scope "repository:app:latest:pull": resource name does not follow the reference grammar',
    ],
  ];
  it.each(badScopes)("a scope with %s is 400 INVALID_SCOPE", async (_label, scope, message) => {
    const { handler, issuer } = setup({ anonymous: true });
    const response = await handler(get(`?scope=${encodeURIComponent(scope)}`));
    expect(response.status).toBe(400);
    expect(await errorBody(response)).toEqual({ code: "INVALID_SCOPE", message });
    expect(issuer.grants).toEqual([]);
  });

  it("a scope of 10,000 characters is 400", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const scope = `repository:${"a".repeat(10_000 - 16)}:pull`;
    const response = await handler(get(`?scope=${scope}`));
    expect(response.status).toBe(400);
    expect(await errorBody(response)).toEqual({
      code: "INVALID_SCOPE",
      message: "scope too long: 10000 characters, at most 512 accepted",
    });
    expect(issuer.grants).toEqual([]);
  });

  it("1,000 scopes are 400", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const value = Array.from({ length: 1000 }, (_, i) => `repository:r${i}:pull`).join(" ");
    const response = await handler(get(`?scope=${encodeURIComponent(value)}`));
    expect(response.status).toBe(400);
    // 1,000 scopes do not fit in the URL bound, which answers first
    expect(await errorBody(response)).toEqual({
      code: "INVALID_REQUEST",
      message: `request URL too long: more than ${MAX_URL_LENGTH} characters`,
    });
    expect(issuer.grants).toEqual([]);
  });

  it("more scopes than maxScopes (within the URL bound) are 400 INVALID_SCOPE", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const query = Array.from(
      { length: DEFAULT_MAX_SCOPES + 1 },
      (_, i) => `scope=repository:r${i}:pull`,
    );
    const response = await handler(get(`?${query.join("&")}`));
    expect(response.status).toBe(400);
    expect(await errorBody(response)).toEqual({
      code: "INVALID_SCOPE",
      message: `too many scopes: more than ${DEFAULT_MAX_SCOPES} in one request`,
    });
    expect(issuer.grants).toEqual([]);
  });

  it("a query string with a parameter repeated 10,000 times is 400, quickly", async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const started = performance.now();
    const response = await handler(get(`?${"scope=repository:app:pull&".repeat(10_000)}`));
    const elapsed = performance.now() - started;
    expect(response.status).toBe(400);
    expect((await errorBody(response)).code).toBe("INVALID_REQUEST");
    expect(elapsed).toBeLessThan(100);
    expect(issuer.grants).toEqual([]);
  });

  it(`more than ${MAX_QUERY_PARAMETERS} short parameters are 400`, async () => {
    const { handler, issuer } = setup({ anonymous: true });
    const response = await handler(get(`?${"a&".repeat(MAX_QUERY_PARAMETERS + 1)}`));
    expect(response.status).toBe(400);
    expect(await errorBody(response)).toEqual({
      code: "INVALID_REQUEST",
      message: `too many query parameters: more than ${MAX_QUERY_PARAMETERS}`,
    });
    expect(issuer.grants).toEqual([]);
  });
});

describe("createTokenHandler: 401", () => {
  it("a wrong password is 401 with a Basic challenge and the errors envelope", async () => {
    const { handler, issuer } = setup();
    const response = await handler(
      get("?scope=repository:app:pull", { Authorization: basic("alice", "wrong") }),
    );
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Basic realm="regauth"');
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await errorBody(response)).toEqual({
      code: "UNAUTHORIZED",
      message: "invalid username or password",
    });
    expect(issuer.grants).toEqual([]);
  });

  it("uses the configured realm in the challenge", async () => {
    const { handler } = setup({ realm: "Registry Realm" });
    const response = await handler(get("", { Authorization: basic("alice", "wrong") }));
    expect(response.headers.get("www-authenticate")).toBe('Basic realm="Registry Realm"');
  });

  it("anonymous without a '' user is 401 'authentication required'", async () => {
    const { handler, issuer } = setup();
    const response = await handler(get("?scope=repository:app:pull"));
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Basic realm="regauth"');
    expect(await errorBody(response)).toEqual({
      code: "UNAUTHORIZED",
      message: "authentication required",
    });
    expect(issuer.grants).toEqual([]);
  });

  it("an unknown account and a wrong password give byte-identical answers", async () => {
    const { handler } = setup();
    const unknown = await handler(
      get("?scope=repository:app:pull", { Authorization: basic("mallory", ALICE_PASSWORD) }),
    );
    const wrong = await handler(
      get("?scope=repository:app:pull", { Authorization: basic("alice", "not-it") }),
    );
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect([...unknown.headers.entries()]).toEqual([...wrong.headers.entries()]);
    expect(Buffer.from(await unknown.arrayBuffer())).toEqual(
      Buffer.from(await wrong.arrayBuffer()),
    );
  });
});

describe("createTokenHandler: backend faults", () => {
  const PASSWORD = "Very-Secret-Pa55";
  const flaky: Authenticator = {
    name: "flaky",
    async authenticate() {
      throw new Error("connect ECONNREFUSED 127.0.0.1:389");
    },
  };

  it("an authenticator that throws is 503, no token, and the log holds no password", async () => {
    const { handler, issuer, logger } = setup({
      authenticators: [createStaticAuthenticator({ users }), flaky],
    });
    const response = await handler(
      get("?scope=repository:app:pull", { Authorization: basic("dave", PASSWORD) }),
    );
    expect(response.status).toBe(503);
    expect(response.headers.get("www-authenticate")).toBeNull();
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      errors: [{ code: "UNAVAILABLE", message: "authenticator flaky failed" }],
      details: "authenticator flaky failed",
    });
    expect(text).not.toContain(PASSWORD);
    expect(issuer.grants).toEqual([]);
    const logged = logger.text();
    expect(logged).toContain("ECONNREFUSED"); // the cause reaches the operator
    expect(logged).not.toContain(PASSWORD);
  });

  it("a deny before a broken authenticator still ends the chain with 401", async () => {
    const { handler } = setup({ authenticators: [createStaticAuthenticator({ users }), flaky] });
    const response = await handler(get("", { Authorization: basic("alice", "wrong") }));
    expect(response.status).toBe(401);
  });

  it("an authenticator that throws ERR_UNAUTHENTICATED itself is 503, not 401", async () => {
    const confused: Authenticator = {
      name: "confused",
      async authenticate() {
        throw new RegauthError("ERR_UNAUTHENTICATED", "directory said no");
      },
    };
    const { handler, issuer } = setup({ authenticators: [confused] });
    const response = await handler(get("", { Authorization: basic("alice", ALICE_PASSWORD) }));
    expect(response.status).toBe(503);
    expect(await errorBody(response)).toEqual({
      code: "UNAVAILABLE",
      message: "authenticator confused failed",
    });
    expect(issuer.grants).toEqual([]);
  });

  it("an authorizer that throws ERR_INTERNAL is 500 with a generic message", async () => {
    const buggy: Authorizer = {
      async authorize() {
        throw new RegauthError("ERR_INTERNAL", "acl[2].match.name: pattern does not compile");
      },
    };
    const { handler, issuer, logger } = setup({ authorizers: [buggy] });
    const response = await handler(
      get("?scope=repository:app:pull", { Authorization: basic("alice", ALICE_PASSWORD) }),
    );
    expect(response.status).toBe(500);
    expect(await errorBody(response)).toEqual({ code: "UNKNOWN", message: "internal error" });
    expect(logger.text()).toContain("acl[2].match.name: pattern does not compile");
    expect(issuer.grants).toEqual([]);
  });

  it("an authorizer that throws is 503 and no token", async () => {
    const broken: Authorizer = {
      name: "acl-db",
      async authorize() {
        throw new Error("connection reset");
      },
    };
    const { handler, issuer } = setup({ authorizers: [broken] });
    const response = await handler(
      get("?scope=repository:app:pull", { Authorization: basic("alice", ALICE_PASSWORD) }),
    );
    expect(response.status).toBe(503);
    expect(await errorBody(response)).toEqual({
      code: "UNAVAILABLE",
      message: "authorizer acl-db failed",
    });
    expect(issuer.grants).toEqual([]);
  });

  it("an issuer that throws is 500 with a generic message, logged", async () => {
    const { handler, logger } = setup({
      anonymous: true,
      issuer: {
        async issue() {
          throw new Error("key file vanished");
        },
      },
    });
    const response = await handler(get(""));
    expect(response.status).toBe(500);
    expect(await errorBody(response)).toEqual({ code: "UNKNOWN", message: "internal error" });
    expect(logger.text()).toContain("key file vanished");
  });

  it("a RegauthError of a 500 kind thrown mid-request does not leak its message", async () => {
    const { handler, logger } = setup({
      anonymous: true,
      issuer: {
        async issue() {
          throw new RegauthError("ERR_CONFIG_INVALID", "tokens.key: /etc/secret/path unreadable");
        },
      },
    });
    const response = await handler(get(""));
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain("/etc/secret/path");
    expect(JSON.parse(text).errors[0]).toEqual({ code: "UNKNOWN", message: "internal error" });
    expect(logger.text()).toContain("/etc/secret/path");
  });

  it("no answer or log line ever contains the password", async () => {
    const { handler, logger } = setup();
    const withFlaky = setup({ authenticators: [createStaticAuthenticator({ users }), flaky] });
    const bodies: string[] = [];
    const requests: [typeof handler, Request][] = [
      [
        handler,
        get("?scope=repository:app:pull", { Authorization: basic("alice", ALICE_PASSWORD) }),
      ],
      [handler, get("", { Authorization: basic("alice", `${ALICE_PASSWORD}x`) })],
      [handler, get("?account=bob", { Authorization: basic("alice", ALICE_PASSWORD) })],
      [handler, get("?service=nope", { Authorization: basic("alice", ALICE_PASSWORD) })],
      [handler, get("?scope=bad", { Authorization: basic("alice", ALICE_PASSWORD) })],
      [withFlaky.handler, get("", { Authorization: basic("nobody", ALICE_PASSWORD) })],
    ];
    for (const [h, request] of requests) {
      const response = await h(request);
      bodies.push(`${response.status} ${[...response.headers].join()} ${await response.text()}`);
    }
    expect(bodies.map((b) => b.slice(0, 3))).toEqual(["200", "401", "400", "400", "400", "503"]);
    for (const body of bodies) expect(body).not.toContain("Pa55w0rd");
    expect(logger.text()).not.toContain("Pa55w0rd");
    expect(withFlaky.logger.text()).not.toContain("Pa55w0rd");
  });
});

describe("createTokenHandler: options", () => {
  const issuer = stubIssuer();
  const authenticator: Authenticator = {
    async authenticate() {
      return { result: "allow" };
    },
  };
  const authorizer: Authorizer = {
    async authorize() {
      return { result: "no-match" };
    },
  };
  const base: TokenHandlerOptions = {
    authenticators: [authenticator],
    authorizers: [authorizer],
    issuer,
    services: [SERVICE],
  };

  const cases: [label: string, options: unknown, message: string][] = [
    [
      "no services",
      { ...base, services: [] },
      "services: too small: expected array to have >=1 items",
    ],
    [
      "an empty service name",
      { ...base, services: [SERVICE, ""] },
      "services[1]: too small: expected string to have >=1 characters",
    ],
    [
      "services as a string",
      { ...base, services: SERVICE },
      'services: expected a non-empty array of service names, or "any"',
    ],
    ["no issuer", { ...base, issuer: undefined }, "issuer: expected a TokenIssuer"],
    [
      "no authenticators",
      { ...base, authenticators: [] },
      "authenticators: too small: expected array to have >=1 items",
    ],
    [
      "something that is no authenticator",
      { ...base, authenticators: [authenticator, {}] },
      "authenticators[1]: expected an Authenticator",
    ],
    [
      "something that is no authorizer",
      { ...base, authorizers: [{ authorize: "yes" }] },
      "authorizers[0]: expected an Authorizer",
    ],
    ["an unknown key", { ...base, realmm: "x" }, "realmm: unknown key"],
    ["a realm with a quote", { ...base, realm: 'a"b' }, "realm: no quotes or backslashes"],
    ["a realm with a newline", { ...base, realm: "a\nb" }, "realm: printable ASCII expected"],
    [
      "a header name with a space",
      { ...base, realIpHeader: "X Forwarded For" },
      "realIpHeader: a header name expected",
    ],
    [
      "a fractional position",
      { ...base, realIpHeader: "X-Forwarded-For", realIpPosition: 0.5 },
      "realIpPosition: invalid input: expected int, received number",
    ],
    ["maxScopes 0", { ...base, maxScopes: 0 }, "maxScopes: too small: expected number to be >=1"],
    [
      "something that is no logger",
      { ...base, logger: { info() {} } },
      "logger: expected a logger with debug, info, warn and error",
    ],
    [
      "no options at all",
      undefined,
      "(options): invalid input: expected object, received undefined",
    ],
  ];
  it.each(cases)("%s throws ERR_CONFIG_INVALID naming the path", (_label, options, message) => {
    let caught: unknown;
    try {
      createTokenHandler(options as TokenHandlerOptions);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RegauthError);
    expect((caught as RegauthError).code).toBe("ERR_CONFIG_INVALID");
    expect((caught as RegauthError).message).toBe(message);
  });

  it("accepts the minimal options", () => {
    expect(typeof createTokenHandler(base)).toBe("function");
  });
});
