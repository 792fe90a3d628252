// The OAuth2 POST grant of the token handler (distribution docs/spec/auth/oauth.md,
// RFC 6749 §4.3, §5, §6) and `offline_token=true` on GET: every branch in process.
import { describe, expect, it } from "vitest";
import {
  type Authenticator,
  createRefreshTokens,
  createTokenHandler,
  DEFAULT_MAX_BODY_BYTES,
  type RefreshTokenOptions,
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
const PASSWORDS: Record<string, string> = { alice: "alice-secret-pw", bob: "bob-secret-pw" };
const LABELS = { groups: ["dev"] };

/** alice and bob with plain passwords (the core cannot depend on @regauth/authn). */
function passwordAuthenticator(): Authenticator & { down: boolean; removed: Set<string> } {
  return {
    name: "plain",
    down: false,
    removed: new Set(),
    async authenticate({ account, password }) {
      if (this.down) throw new Error("directory down");
      const expected = PASSWORDS[account];
      if (expected === undefined || this.removed.has(account)) return { result: "no-match" };
      return password === expected ? { result: "allow", labels: LABELS } : { result: "deny" };
    },
  };
}

interface Setup {
  handler: ReturnType<typeof createTokenHandler>;
  issuer: StubIssuer;
  logger: RecordingLogger;
  authenticator: ReturnType<typeof passwordAuthenticator>;
  authorizer: ReturnType<typeof tableAuthorizer>;
  refreshTokens: ReturnType<typeof createRefreshTokens>;
}

function setup(
  options: Partial<TokenHandlerOptions> & { refresh?: RefreshTokenOptions | false } = {},
): Setup {
  const { refresh, ...rest } = options;
  const issuer = stubIssuer();
  const logger = recordingLogger();
  const authenticator = passwordAuthenticator();
  const authorizer = tableAuthorizer({ app: ["pull", "push"], "team/lib": ["pull"] });
  const refreshTokens = createRefreshTokens(refresh === false ? {} : refresh);
  const handler = createTokenHandler({
    authenticators: [authenticator],
    authorizers: [authorizer],
    issuer,
    services: [SERVICE, OTHER_SERVICE],
    logger,
    ...(refresh === false ? {} : { refreshTokens }),
    ...rest,
  });
  return { handler, issuer, logger, authenticator, authorizer, refreshTokens };
}

function post(
  form: string | URLSearchParams,
  init: { query?: string; contentType?: string | null; headers?: Record<string, string> } = {},
): Request {
  const headers: Record<string, string> = { ...init.headers };
  if (init.contentType !== null) {
    headers["content-type"] = init.contentType ?? "application/x-www-form-urlencoded";
  }
  return new Request(`http://auth.test/auth${init.query ?? ""}`, {
    method: "POST",
    headers,
    body: typeof form === "string" ? form : form.toString(),
  });
}

const passwordForm = (extra: Record<string, string> = {}, user = "alice") =>
  new URLSearchParams({
    grant_type: "password",
    username: user,
    password: PASSWORDS[user] ?? "",
    service: SERVICE,
    client_id: "containerd-client",
    ...extra,
  });

interface OAuthError {
  error: string;
  error_description: string;
  errors: { code: string; message: string }[];
  details: string;
}

async function oauthError(response: Response): Promise<OAuthError> {
  const body = (await response.json()) as OAuthError;
  expect(body.error_description).toBe(body.details);
  expect(body.errors).toEqual([{ code: expect.any(String), message: body.details }]);
  return body;
}

async function refreshTokenFor(s: Setup, clientId = "containerd-client"): Promise<string> {
  const response = await s.handler(
    post(passwordForm({ access_type: "offline", client_id: clientId })),
  );
  const body = (await response.json()) as { refresh_token?: string };
  expect(body.refresh_token).toMatch(/^rgr_[A-Za-z0-9_-]{43}$/);
  return body.refresh_token as string;
}

describe("POST grant_type=password", () => {
  it("answers 200 with token, access_token, token_type, integer expires_in, issued_at, scope", async () => {
    const s = setup();
    const response = await s.handler(
      post(passwordForm({ scope: "repository:app:pull,push repository:team/lib:pull,push" })),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      token: STUB_TOKEN,
      access_token: STUB_TOKEN,
      token_type: "Bearer",
      expires_in: 300,
      issued_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      scope: "repository:app:pull,push repository:team/lib:pull",
    });
    expect(Number.isInteger(body.expires_in)).toBe(true);
    expect(Math.abs(Date.parse(body.issued_at as string) - Date.now())).toBeLessThan(5_000);
    expect(s.issuer.grants).toEqual([
      {
        subject: "alice",
        audience: SERVICE,
        access: [
          { type: "repository", name: "app", actions: ["pull", "push"] },
          { type: "repository", name: "team/lib", actions: ["pull"] },
        ],
      },
    ]);
    expect(s.authorizer.requests[0]?.labels).toEqual(LABELS);
  });

  it("takes scopes repeated as form fields (containers/image) and space-joined (containerd)", async () => {
    const s = setup();
    const form = passwordForm({ scope: "repository:app:pull" });
    form.append("scope", "repository:team/lib:pull repository:app:push");
    const response = await s.handler(post(form));
    expect(response.status).toBe(200);
    expect(s.issuer.grants[0]?.access).toEqual([
      { type: "repository", name: "app", actions: ["pull", "push"] },
      { type: "repository", name: "team/lib", actions: ["pull"] },
    ]);
  });

  it.each([
    ["an empty scope", { scope: "" }],
    ["no scope", {}],
  ])('takes %s: no access, scope ""', async (_, extra) => {
    const s = setup();
    const response = await s.handler(post(passwordForm(extra)));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ scope: "" });
    expect(s.issuer.grants[0]?.access).toEqual([]);
  });

  it("lists in scope only what was granted (partial access is not an error)", async () => {
    const s = setup();
    const response = await s.handler(post(passwordForm({ scope: "repository:other:pull" })));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ scope: "" });
    expect(s.issuer.grants[0]?.access).toEqual([
      { type: "repository", name: "other", actions: [] },
    ]);
  });

  it("takes a missing client_id and a missing service (the first service)", async () => {
    const s = setup();
    const form = passwordForm();
    form.delete("client_id");
    form.delete("service");
    const response = await s.handler(post(form));
    expect(response.status).toBe(200);
    expect(s.issuer.grants[0]?.audience).toBe(SERVICE);
  });

  it("takes the realm's query parameters, also repeated in the body", async () => {
    const s = setup();
    const query = `?service=${OTHER_SERVICE}&tenant=acme`;
    const form = passwordForm({ service: OTHER_SERVICE, tenant: "acme" });
    const response = await s.handler(post(form, { query }));
    expect(response.status).toBe(200);
    expect(s.issuer.grants[0]?.audience).toBe(OTHER_SERVICE);
  });

  it("takes a Content-Type with a charset parameter, in any case", async () => {
    const s = setup();
    const contentType = "Application/X-WWW-Form-Urlencoded; charset=UTF-8";
    const response = await s.handler(post(passwordForm(), { contentType }));
    expect(response.status).toBe(200);
  });

  it("returns a refresh token only with access_type=offline", async () => {
    const s = setup();
    const online = (await (await s.handler(post(passwordForm()))).json()) as object;
    expect(online).not.toHaveProperty("refresh_token");
    await refreshTokenFor(s);
  });

  it("returns no refresh token with access_type=offline when refresh tokens are off", async () => {
    const s = setup({ refresh: false });
    const response = await s.handler(post(passwordForm({ access_type: "offline" })));
    expect(response.status).toBe(200);
    expect(await response.json()).not.toHaveProperty("refresh_token");
  });

  it.each([
    ["a wrong password", { password: "wrong" }],
    ["an unknown user", { username: "mallory", password: "x" }],
    ["an empty password", { password: "" }],
  ])("answers 400 invalid_grant for %s, with no token", async (_, extra) => {
    const s = setup();
    const response = await s.handler(post(passwordForm(extra)));
    expect(response.status).toBe(400);
    expect(response.headers.get("www-authenticate")).toBeNull();
    const body = await oauthError(response);
    expect(body).toMatchObject({
      error: "invalid_grant",
      error_description: "invalid username or password",
      errors: [{ code: "UNAUTHORIZED" }],
    });
    expect(s.issuer.grants).toEqual([]);
  });

  it("answers 400 invalid_request without a username", async () => {
    const s = setup();
    const response = await s.handler(post(passwordForm({ username: "" })));
    expect(response.status).toBe(400);
    expect(await oauthError(response)).toMatchObject({
      error: "invalid_request",
      error_description: "the password grant needs a username",
    });
  });

  it("answers 503 temporarily_unavailable when the authenticator fails, never logging the password", async () => {
    const s = setup();
    s.authenticator.down = true;
    const response = await s.handler(post(passwordForm()));
    expect(response.status).toBe(503);
    expect(await oauthError(response)).toMatchObject({ error: "temporarily_unavailable" });
    expect(s.logger.text()).not.toContain(PASSWORDS.alice);
  });
});

describe("POST: request errors", () => {
  it.each([
    ["no grant_type", "username=alice&password=x", "invalid_request", "grant_type is required"],
    [
      "an unknown grant_type",
      "grant_type=client_credentials",
      "unsupported_grant_type",
      'grant_type "client_credentials" not supported: expected password or refresh_token',
    ],
    [
      "grant_type=authorization_code",
      "grant_type=authorization_code&code=abc",
      "unsupported_grant_type",
      'grant_type "authorization_code" not supported: expected password or refresh_token',
    ],
    [
      "grant_type twice with two values",
      "grant_type=password&grant_type=refresh_token",
      "invalid_request",
      "parameter grant_type given twice with different values",
    ],
    [
      "an unknown service",
      "grant_type=password&username=alice&password=x&service=evil.test",
      "invalid_request",
      'unknown service "evil.test"',
    ],
    [
      "a service in the query that differs from the body",
      `grant_type=password&username=alice&password=x&service=${SERVICE}&query=1`,
      "invalid_request",
      "parameter service given twice with different values",
    ],
    [
      "a malformed scope",
      "grant_type=password&username=alice&password=alice-secret-pw&scope=repository:app",
      "invalid_scope",
      undefined,
    ],
  ])("answers 400 for %s", async (name, form, error, description) => {
    const s = setup();
    const query = name.startsWith("a service in the query") ? `?service=${OTHER_SERVICE}` : "";
    const response = await s.handler(post(form, { query }));
    expect(response.status).toBe(400);
    const body = await oauthError(response);
    expect(body.error).toBe(error);
    if (description !== undefined) expect(body.error_description).toBe(description);
    expect(s.issuer.grants).toEqual([]);
  });

  it.each([
    ["application/json", "application/json"],
    ["multipart/form-data", "multipart/form-data; boundary=x"],
    ["text/plain", "text/plain"],
  ])("answers 400 invalid_request for a %s body", async (type, contentType) => {
    const s = setup();
    const response = await s.handler(post(passwordForm(), { contentType }));
    expect(response.status).toBe(400);
    expect(await oauthError(response)).toMatchObject({
      error: "invalid_request",
      error_description: `expected Content-Type application/x-www-form-urlencoded, got "${type}"`,
    });
  });

  it("answers 400 invalid_request without a Content-Type", async () => {
    const s = setup();
    const request = new Request("http://auth.test/auth", {
      method: "POST",
      body: new Uint8Array(Buffer.from(passwordForm().toString())),
    });
    const response = await s.handler(request);
    expect(response.status).toBe(400);
    expect((await oauthError(response)).error).toBe("invalid_request");
  });

  it("answers 413 for a body over maxBodyBytes, declared or streamed", async () => {
    const s = setup({ maxBodyBytes: 2048 });
    const big = `${passwordForm().toString()}&pad=${"p".repeat(4096)}`;
    const declared = await s.handler(post(big));
    expect(declared.status).toBe(413);
    expect(await oauthError(declared)).toMatchObject({
      error: "invalid_request",
      error_description: "request body over 2048 bytes",
    });
    // No Content-Length: a stream that goes on past the bound.
    const chunk = new TextEncoder().encode("p".repeat(1000));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        if (sent > 100) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const streamed = await s.handler(
      new Request("http://auth.test/auth", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: stream,
        duplex: "half",
      } as RequestInit),
    );
    expect(streamed.status).toBe(413);
    expect(sent).toBeLessThan(10); // stopped reading early
    expect(DEFAULT_MAX_BODY_BYTES).toBe(65_536);
  });

  it("answers 400 for a body that is not UTF-8", async () => {
    const s = setup();
    const bytes = new Uint8Array([...Buffer.from("grant_type=password&username="), 0xff, 0xfe]);
    const response = await s.handler(
      new Request("http://auth.test/auth", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: bytes,
      }),
    );
    expect(response.status).toBe(400);
    expect(await oauthError(response)).toMatchObject({
      error_description: "request body is not UTF-8",
    });
  });

  it("answers 400 for too many parameters", async () => {
    const s = setup();
    const form = `grant_type=password&${Array.from({ length: 300 }, (_, i) => `p${i}=1`).join("&")}`;
    const response = await s.handler(post(form));
    expect(response.status).toBe(400);
    expect((await oauthError(response)).error_description).toBe(
      "too many parameters: more than 256",
    );
  });

  it("answers a bare 500 server_error for a bug, logging it", async () => {
    const s = setup({
      issuer: {
        issue: async () => {
          throw new TypeError("boom");
        },
      },
    });
    const response = await s.handler(post(passwordForm()));
    expect(response.status).toBe(500);
    expect(await oauthError(response)).toMatchObject({
      error: "server_error",
      error_description: "internal error",
    });
    expect(s.logger.calls.some((call) => call.level === "error")).toBe(true);
    expect(s.logger.text()).not.toContain(PASSWORDS.alice);
  });
});

describe("POST grant_type=refresh_token", () => {
  const refreshForm = (token: string, extra: Record<string, string> = {}) =>
    new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: token,
      service: SERVICE,
      client_id: "containerd-client",
      ...extra,
    });

  it("issues a token for the refresh token's account, with the labels from login", async () => {
    const s = setup();
    const token = await refreshTokenFor(s);
    s.issuer.grants.length = 0;
    const response = await s.handler(post(refreshForm(token, { scope: "repository:app:push" })));
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      access_token: STUB_TOKEN,
      token: STUB_TOKEN,
      scope: "repository:app:push",
      expires_in: 300,
    });
    expect(body).not.toHaveProperty("refresh_token");
    expect(s.issuer.grants).toEqual([
      {
        subject: "alice",
        audience: SERVICE,
        access: [{ type: "repository", name: "app", actions: ["push"] }],
      },
    ]);
    expect(s.authorizer.requests.at(-1)?.labels).toEqual(LABELS);
  });

  it("is reusable, not rotated, and not limited to the first request's scopes", async () => {
    const s = setup();
    const token = await refreshTokenFor(s);
    for (const scope of ["repository:app:pull", "repository:team/lib:pull", ""]) {
      const response = await s.handler(post(refreshForm(token, { scope, access_type: "offline" })));
      expect(response.status).toBe(200);
      // With access_type=offline the same token comes back: keep using it.
      expect(await response.json()).toMatchObject({ refresh_token: token });
    }
  });

  it("runs the authorizers again on every use (a changed rule applies at once)", async () => {
    const s = setup();
    const token = await refreshTokenFor(s);
    const form = refreshForm(token, { scope: "repository:app:push" });
    expect((await s.handler(post(form))).status).toBe(200);
    expect(s.issuer.grants.at(-1)?.access[0]?.actions).toEqual(["push"]);
    const before = s.authorizer.requests.length;
    await s.handler(post(form));
    expect(s.authorizer.requests.length).toBe(before + 1);
  });

  it("is refused after revocation (400 invalid_grant), and revoke-all covers every token", async () => {
    const s = setup();
    const token = await refreshTokenFor(s);
    const other = await refreshTokenFor(s, "docker");
    expect(await s.refreshTokens.revoke(token)).toBe(true);
    expect(await s.refreshTokens.revoke(token)).toBe(false);
    const response = await s.handler(post(refreshForm(token)));
    expect(response.status).toBe(400);
    expect(await oauthError(response)).toMatchObject({
      error: "invalid_grant",
      error_description: "refresh token unknown, expired or revoked",
    });
    const ok = await s.handler(post(refreshForm(other, { client_id: "docker" })));
    expect(ok.status).toBe(200);
    expect(await s.refreshTokens.revokeAccount("alice")).toBe(1);
    const gone = await s.handler(post(refreshForm(other, { client_id: "docker" })));
    expect(gone.status).toBe(400);
  });

  it("refuses an access token offered as a refresh token", async () => {
    const s = setup();
    const access = (await (await s.handler(post(passwordForm()))).json()) as { token: string };
    const response = await s.handler(post(refreshForm(access.token)));
    expect(response.status).toBe(400);
    expect((await oauthError(response)).error).toBe("invalid_grant");
  });

  it("never takes a refresh token as Basic credentials or an access token", async () => {
    const s = setup();
    const token = await refreshTokenFor(s);
    const response = await s.handler(
      new Request(`http://auth.test/auth?service=${SERVICE}`, {
        headers: { authorization: basic("alice", token) },
      }),
    );
    expect(response.status).toBe(401);
    // Not a JWT: a registry cannot even parse it as one.
    expect(token.split(".")).toHaveLength(1);
  });

  it("refuses a refresh token for another service or client_id", async () => {
    const s = setup();
    const token = await refreshTokenFor(s);
    const service = await s.handler(post(refreshForm(token, { service: OTHER_SERVICE })));
    expect(service.status).toBe(400);
    expect(await oauthError(service)).toMatchObject({
      error: "invalid_grant",
      error_description: "refresh token issued for another service",
    });
    for (const clientId of ["docker", ""]) {
      const client = await s.handler(post(refreshForm(token, { client_id: clientId })));
      expect(client.status).toBe(400);
      expect((await oauthError(client)).error_description).toBe(
        "refresh token issued to another client_id",
      );
    }
  });

  it("refuses an expired refresh token", async () => {
    let now = Date.now();
    const s = setup({ refresh: { lifetime: 60, clock: () => now } });
    const token = await refreshTokenFor(s);
    now += 59_000;
    expect((await s.handler(post(refreshForm(token)))).status).toBe(200);
    now += 2_000;
    const response = await s.handler(post(refreshForm(token)));
    expect(response.status).toBe(400);
    expect((await oauthError(response)).error).toBe("invalid_grant");
  });

  it.each([
    ["an empty refresh_token", "", "invalid_request"],
    ["a made-up token", "rgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "invalid_grant"],
    ["garbage", "not-a-token", "invalid_grant"],
  ])("refuses %s", async (_, token, error) => {
    const s = setup();
    const response = await s.handler(post(refreshForm(token)));
    expect(response.status).toBe(400);
    expect((await oauthError(response)).error).toBe(error);
  });

  it("answers 400 unsupported_grant_type when refresh tokens are off", async () => {
    const s = setup({ refresh: false });
    const response = await s.handler(post(refreshForm("rgr_x")));
    expect(response.status).toBe(400);
    expect(await oauthError(response)).toMatchObject({
      error: "unsupported_grant_type",
      error_description: "refresh tokens are not enabled on this endpoint",
    });
  });

  it("asks checkAccount on every use: deny refuses, allow may replace the labels", async () => {
    const removed = new Set<string>();
    const s = setup({
      refresh: {
        checkAccount: async ({ account }) =>
          removed.has(account)
            ? { result: "no-match" }
            : { result: "allow", labels: { groups: ["ops"] } },
      },
    });
    const token = await refreshTokenFor(s);
    const ok = await s.handler(post(refreshForm(token, { scope: "repository:app:pull" })));
    expect(ok.status).toBe(200);
    expect(s.authorizer.requests.at(-1)?.labels).toEqual({ groups: ["ops"] });
    removed.add("alice");
    const refused = await s.handler(post(refreshForm(token)));
    expect(refused.status).toBe(400);
    expect(await oauthError(refused)).toMatchObject({
      error: "invalid_grant",
      error_description: "the account of this refresh token is refused",
    });
  });

  it("never logs a refresh token", async () => {
    const s = setup();
    const token = await refreshTokenFor(s);
    await s.handler(post(refreshForm(token, { service: OTHER_SERVICE })));
    await s.handler(post(refreshForm(token)));
    expect(s.logger.text()).not.toContain(token);
  });
});

describe("GET with offline_token=true", () => {
  const login = (query: string, user = "alice") =>
    new Request(`http://auth.test/auth?service=${SERVICE}${query}`, {
      headers: { authorization: basic(user, PASSWORDS[user] ?? "") },
    });

  it("returns a refresh token bound to client_id that POST then redeems (docker login)", async () => {
    const s = setup();
    const response = await s.handler(
      login("&account=alice&client_id=docker&offline_token=true&scope="),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      token: STUB_TOKEN,
      access_token: STUB_TOKEN,
      expires_in: 300,
      issued_at: expect.any(String),
      refresh_token: expect.stringMatching(/^rgr_/),
    });
    const refresh = await s.handler(
      post(
        new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: body.refresh_token as string,
          service: SERVICE,
          client_id: "docker",
          scope: "repository:app:pull",
        }),
      ),
    );
    expect(refresh.status).toBe(200);
    expect(s.issuer.grants.at(-1)).toMatchObject({ subject: "alice" });
  });

  it.each([
    ["without offline_token", "&client_id=docker"],
    ["with offline_token=false", "&offline_token=false"],
  ])("returns no refresh token %s", async (_, query) => {
    const s = setup();
    const body = (await (await s.handler(login(query))).json()) as object;
    expect(body).not.toHaveProperty("refresh_token");
  });

  it("returns none to an anonymous request, nor when refresh tokens are off", async () => {
    const anonymous: Authenticator = {
      authenticate: async ({ account }) =>
        account === "" ? { result: "allow" } : { result: "no-match" },
    };
    const s = setup({ authenticators: [anonymous] });
    const response = await s.handler(
      new Request(`http://auth.test/auth?service=${SERVICE}&offline_token=true`),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).not.toHaveProperty("refresh_token");
    const off = setup({ refresh: false });
    const body = (await (await off.handler(login("&offline_token=true"))).json()) as object;
    expect(body).not.toHaveProperty("refresh_token");
  });
});
