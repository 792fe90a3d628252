import { type AccessEntry, isRegauthError } from "@regauth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createRegistryTokenGuard,
  createTokenIssuer,
  type RegistryTokenGuard,
  type RegistryTokenGuardOptions,
  type RegistryTokenIssuer,
} from "../src/index.js";
import { ecKey, Pki, type TestKey } from "./support/pki.js";
import { craftToken } from "./support/tokens.js";

const REALM = "https://auth.example.com/auth";
const SERVICE = "registry.example.com";
const ISSUER = "regauth";

let pki: Pki;
let signer: TestKey;
let certificate: string;
let stranger: TestKey;
let strangerCertificate: string;
let now: number;
let issuer: RegistryTokenIssuer;
let guard: RegistryTokenGuard;

const clock = () => now;
const PULL: AccessEntry = { type: "repository", name: "team/app", actions: ["pull"] };
const PUSH: AccessEntry = { type: "repository", name: "team/app", actions: ["pull", "push"] };

beforeAll(() => {
  pki = new Pki();
  signer = ecKey();
  certificate = pki.selfSigned(signer, "token signer");
  stranger = ecKey();
  strangerCertificate = pki.selfSigned(stranger, "stranger");
  now = Math.floor(Date.now() / 1000) * 1000;
  issuer = createTokenIssuer({ issuer: ISSUER, privateKey: signer.pem, clock });
  guard = createRegistryTokenGuard({
    realm: REALM,
    service: SERVICE,
    issuer: ISSUER,
    rootCertificates: certificate,
    clock,
  });
});
afterAll(() => pki.close());

function bearer(token: string): Request {
  return new Request("http://svc.test/api", { headers: { Authorization: `Bearer ${token}` } });
}

async function issued(access: readonly AccessEntry[] = [PULL], subject = "alice") {
  return (await issuer.issue({ subject, audience: SERVICE, access })).token;
}

/** Claims as the issuer would sign them, for hand-made tokens. */
function claims(overrides: Record<string, unknown> = {}) {
  const iat = Math.floor(now / 1000);
  return {
    iss: ISSUER,
    sub: "alice",
    aud: SERVICE,
    exp: iat + 300,
    nbf: iat,
    iat,
    jti: "j",
    access: [PULL],
    ...overrides,
  };
}

async function refusal(request: Request, required: readonly AccessEntry[] = [PULL], g = guard) {
  const result = await g.check(request, required);
  if (result.ok) throw new Error("expected a refusal");
  return {
    reason: result.reason,
    code: result.error.code,
    message: result.error.message,
    status: result.response.status,
    challenge: result.response.headers.get("www-authenticate"),
    body: (await result.response.json()) as {
      errors: { code: string; message: string; detail: unknown }[];
    },
  };
}

const INVALID = `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:team/app:pull",error="invalid_token"`;

describe("createRegistryTokenGuard: a good token", () => {
  it("passes and exposes the subject, access and claims", async () => {
    const result = await guard.check(bearer(await issued([PUSH])), [PULL]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.token.subject).toBe("alice");
    expect(result.token.access).toEqual([PUSH]);
    expect(result.token.claims).toMatchObject({ iss: ISSUER, aud: SERVICE, sub: "alice" });
  });

  it("passes with no required access, and with '*' granting every action", async () => {
    expect((await guard.check(bearer(await issued([])))).ok).toBe(true);
    const star = await issued([{ type: "repository", name: "team/app", actions: ["*"] }]);
    expect((await guard.check(bearer(star), [PUSH])).ok).toBe(true);
  });

  it("reads the scheme without regard to case, as the registry does", async () => {
    const token = await issued();
    const request = new Request("http://svc.test/", {
      headers: { Authorization: `bEaReR ${token}` },
    });
    expect((await guard.check(request, [PULL])).ok).toBe(true);
  });
});

describe("createRegistryTokenGuard: refusals answer as the registry does", () => {
  it("no token: 401, challenge without error, UNAUTHORIZED with the required access as detail", async () => {
    const refused = await refusal(new Request("http://svc.test/"), [PUSH]);
    expect(refused).toMatchObject({ reason: "missing", code: "ERR_UNAUTHENTICATED", status: 401 });
    expect(refused.challenge).toBe(
      `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:team/app:pull,push"`,
    );
    // The body docker-registry 2.8.2 writes for the same request.
    expect(refused.body).toEqual({
      errors: [
        {
          code: "UNAUTHORIZED",
          message: "authentication required",
          detail: [
            { Type: "repository", Class: "", Name: "team/app", Action: "pull" },
            { Type: "repository", Class: "", Name: "team/app", Action: "push" },
          ],
        },
      ],
    });
  });

  it("no token and nothing required: no scope parameter, detail null", async () => {
    const refused = await refusal(new Request("http://svc.test/"), []);
    expect(refused.challenge).toBe(`Bearer realm="${REALM}",service="${SERVICE}"`);
    expect(refused.body.errors[0]?.detail).toBeNull();
  });

  it.each([
    ["Basic credentials", "Basic YTpi"],
    ["an empty bearer token", "Bearer "],
    ["a scheme alone", "Bearer"],
  ])("%s count as no token", async (_label, header) => {
    const request = new Request("http://svc.test/", { headers: { Authorization: header } });
    expect((await refusal(request)).reason).toBe("missing");
  });

  it("an expired token (past exp + 60 s): invalid_token", async () => {
    const old = createTokenIssuer({
      issuer: ISSUER,
      privateKey: signer.pem,
      lifetime: 60,
      clock: () => now - 121_000,
    });
    const { token } = await old.issue({ subject: "alice", audience: SERVICE, access: [PULL] });
    const refused = await refusal(bearer(token));
    expect(refused).toMatchObject({ reason: "invalid", code: "ERR_TOKEN_INVALID", status: 401 });
    expect(refused.challenge).toBe(INVALID);
    expect(refused.message).toBe("invalid registry token: token expired");
    expect(refused.body.errors[0]).toMatchObject({
      code: "UNAUTHORIZED",
      message: "invalid registry token: token expired",
    });
  });

  it("a token for another audience: invalid_token", async () => {
    const { token } = await issuer.issue({
      subject: "alice",
      audience: "other.example.com",
      access: [PULL],
    });
    const refused = await refusal(bearer(token));
    expect(refused).toMatchObject({ reason: "invalid", challenge: INVALID });
    expect(refused.message).toBe(
      `invalid registry token: unexpected audience, expected "${SERVICE}"`,
    );
  });

  it("a token from another issuer: invalid_token", async () => {
    const other = createTokenIssuer({ issuer: "someone-else", privateKey: signer.pem, clock });
    const { token } = await other.issue({ subject: "alice", audience: SERVICE, access: [PULL] });
    expect((await refusal(bearer(token))).message).toBe(
      `invalid registry token: unexpected issuer, expected "${ISSUER}"`,
    );
  });

  it("a token signed by an unknown key (kid and x5c): invalid_token", async () => {
    const byKid = createTokenIssuer({ issuer: ISSUER, privateKey: stranger.pem, clock });
    const kidToken = (await byKid.issue({ subject: "alice", audience: SERVICE, access: [PULL] }))
      .token;
    const refusedKid = await refusal(bearer(kidToken));
    expect(refusedKid).toMatchObject({ reason: "invalid", challenge: INVALID });
    expect(refusedKid.message).toBe(
      "invalid registry token: signed by an untrusted key (unknown kid)",
    );

    const byX5c = createTokenIssuer({
      issuer: ISSUER,
      privateKey: stranger.pem,
      certificateChain: strangerCertificate,
      keyId: "none",
      x5c: true,
      clock,
    });
    const x5cToken = (await byX5c.issue({ subject: "alice", audience: SERVICE, access: [PULL] }))
      .token;
    expect((await refusal(bearer(x5cToken))).message).toBe(
      "invalid registry token: x5c certificate chain does not lead to a trusted root certificate",
    );
  });

  it("aud as an array: invalid_token as on 2.8; accepted with acceptAudienceArray, as on 3.x", async () => {
    const token = await craftToken(
      { typ: "JWT", alg: "ES256", kid: issuer.keyId },
      claims({ aud: [SERVICE, "other"] }),
      signer.privateKey,
    );
    const refused = await refusal(bearer(token));
    expect(refused).toMatchObject({ reason: "invalid", challenge: INVALID });
    expect(refused.message).toBe(
      "invalid registry token: aud claim is an array, registry 2.8 expects a string",
    );

    const lenient = createRegistryTokenGuard({
      realm: REALM,
      service: SERVICE,
      issuer: ISSUER,
      rootCertificates: certificate,
      acceptAudienceArray: true,
      clock,
    });
    expect((await lenient.check(bearer(token), [PULL])).ok).toBe(true);
  });

  it("a token without kid (nor x5c nor jwk): invalid_token", async () => {
    const token = await craftToken({ typ: "JWT", alg: "ES256" }, claims(), signer.privateKey);
    const refused = await refusal(bearer(token));
    expect(refused).toMatchObject({ reason: "invalid", challenge: INVALID });
    expect(refused.message).toBe(
      "invalid registry token: no key reference in the header, expected x5c, jwk or kid",
    );
  });

  it("a malformed token: invalid_token", async () => {
    const refused = await refusal(bearer("abc.def.ghi"));
    expect(refused).toMatchObject({ reason: "invalid", challenge: INVALID });
  });

  it("insufficient access: insufficient_scope, the scope listing what was required", async () => {
    const refused = await refusal(bearer(await issued([PULL])), [
      PUSH,
      { type: "registry", name: "catalog", actions: ["*"] },
    ]);
    expect(refused).toMatchObject({
      reason: "insufficient",
      code: "ERR_TOKEN_INVALID",
      status: 401,
    });
    expect(refused.challenge).toBe(
      `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:team/app:pull,push registry:catalog:*",error="insufficient_scope"`,
    );
    expect(refused.message).toBe("insufficient access to repository:team/app, missing push");
    expect(refused.body.errors[0]?.detail).toEqual([
      { Type: "repository", Class: "", Name: "team/app", Action: "pull" },
      { Type: "repository", Class: "", Name: "team/app", Action: "push" },
      { Type: "registry", Class: "", Name: "catalog", Action: "*" },
    ]);
  });

  it("access on another repository does not count (exact, case-sensitive names)", async () => {
    const token = await issued([{ type: "repository", name: "Team/App", actions: ["pull"] }]);
    expect((await refusal(bearer(token))).reason).toBe("insufficient");
  });

  it("never puts the token in the message or the body", async () => {
    const expired = await craftToken(
      { typ: "JWT", alg: "ES256", kid: issuer.keyId },
      claims({ exp: Math.floor(now / 1000) - 3600 }),
      signer.privateKey,
    );
    const refused = await refusal(bearer(expired));
    expect(JSON.stringify(refused)).not.toContain(expired.split(".")[2]);
  });
});

describe("createRegistryTokenGuard: options", () => {
  const base: RegistryTokenGuardOptions = {
    realm: REALM,
    service: SERVICE,
    issuer: ISSUER,
    rootCertificates: "",
  };

  it.each([
    [{ realm: 'https://a"b' }, "realm: no quotes or backslashes"],
    [{ realm: "" }, "realm: "],
    [{ service: "svc\u0001" }, "service: printable ASCII expected"],
    [{ rootCertificates: undefined }, "rootCertificates: rootCertificates or jwks is required"],
    [{ rootCertificates: "no pem here" }, "rootCertificates: no PEM CERTIFICATE block found"],
    [{ requiredAccess: [] }, "requiredAccess: unknown key; pass the required access to check()"],
    [{ extra: 1 }, "extra: unknown key"],
  ])("refuses %j at construction", (overrides, message) => {
    let thrown: unknown;
    try {
      createRegistryTokenGuard({ ...base, rootCertificates: certificate, ...overrides } as never);
    } catch (error) {
      thrown = error;
    }
    expect(isRegauthError(thrown, "ERR_CONFIG_INVALID")).toBe(true);
    expect((thrown as Error).message).toContain(message);
  });

  it("trusts keys from a JWKS, as registry 3.x", async () => {
    const viaJwks = createRegistryTokenGuard({
      realm: REALM,
      service: SERVICE,
      issuer: ISSUER,
      jwks: { keys: [issuer.publicJwk] },
      clock,
    });
    expect((await viaJwks.check(bearer(await issued()), [PULL])).ok).toBe(true);
  });
});
