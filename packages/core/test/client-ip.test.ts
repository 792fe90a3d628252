import { describe, expect, it } from "vitest";
import { type Authenticator, createTokenHandler, type TokenHandlerOptions } from "../src/index.js";
import { normalizeAddress, resolveClientIp } from "../src/internal/client-ip.js";
import { stubIssuer, tableAuthorizer } from "./helpers.js";

// The client address as authenticators and authorizers see it, observed
// through the handler's public behaviour.
async function observedIp(
  options: Pick<TokenHandlerOptions, "realIpHeader" | "realIpPosition">,
  headers: Record<string, string> | [string, string][],
  socketAddress: string | undefined,
): Promise<{ status: number; clientIp: string | undefined; body: string }> {
  const seen: (string | undefined)[] = [];
  const recorder: Authenticator = {
    async authenticate(request) {
      seen.push(request.clientIp);
      return { result: "allow" };
    },
  };
  const authorizer = tableAuthorizer({ app: ["pull"] });
  const handler = createTokenHandler({
    authenticators: [recorder],
    authorizers: [authorizer],
    issuer: stubIssuer(),
    services: ["registry.test"],
    ...options,
  });
  const response = await handler(
    new Request("http://auth.test/auth?scope=repository:app:pull", { headers }),
    socketAddress === undefined ? undefined : { clientIp: socketAddress },
  );
  if (response.status === 200) {
    // the authorizer sees the same address as the authenticator
    expect(authorizer.requests.map((r) => r.clientIp)).toEqual(seen);
  }
  return { status: response.status, clientIp: seen[0], body: await response.text() };
}

const XFF = { realIpHeader: "X-Forwarded-For" } as const;

describe("client address from the socket", () => {
  it.each([
    ["IPv4", "10.0.0.1", "10.0.0.1"],
    ["IPv6", "2001:DB8::1", "2001:db8::1"],
    ["IPv4-mapped IPv6 (a dual-stack socket)", "::ffff:127.0.0.1", "127.0.0.1"],
    ["IPv6 with a zone", "fe80::1%eth0", "fe80::1"],
  ])("%s", async (_label, socket, expected) => {
    const result = await observedIp({}, {}, socket);
    expect(result.status).toBe(200);
    expect(result.clientIp).toBe(expected);
  });

  it("is undefined when the transport does not say", async () => {
    const result = await observedIp({}, {}, undefined);
    expect(result.status).toBe(200);
    expect(result.clientIp).toBeUndefined();
  });

  it("ignores X-Forwarded-For when no header is configured (a spoofing attempt)", async () => {
    const result = await observedIp(
      {},
      { "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6" },
      "10.0.0.9",
    );
    expect(result.status).toBe(200);
    expect(result.clientIp).toBe("10.0.0.9");
  });

  it("ignores a header other than the configured one", async () => {
    const result = await observedIp(
      { realIpHeader: "X-Real-IP" },
      { "X-Forwarded-For": "6.6.6.6" },
      "10.0.0.9",
    );
    expect(result.clientIp).toBe("10.0.0.9");
  });
});

describe("client address from a configured proxy header", () => {
  const chain = "203.0.113.1, 198.51.100.2, 192.0.2.3";

  it.each([
    [0, "203.0.113.1"],
    [1, "198.51.100.2"],
    [-1, "192.0.2.3"],
    [-2, "198.51.100.2"],
    [-3, "203.0.113.1"],
  ])("position %i", async (position, expected) => {
    const result = await observedIp(
      { ...XFF, realIpPosition: position },
      { "X-Forwarded-For": chain },
      "10.0.0.9",
    );
    expect(result.status).toBe(200);
    expect(result.clientIp).toBe(expected);
  });

  it("defaults to the last entry (-1), what a single proxy appended", async () => {
    const result = await observedIp(XFF, { "X-Forwarded-For": chain }, "10.0.0.9");
    expect(result.clientIp).toBe("192.0.2.3");
  });

  it("matches the header name in any case", async () => {
    const result = await observedIp(
      { realIpHeader: "x-forwarded-for" },
      { "X-FORWARDED-FOR": "192.0.2.44" },
      "10.0.0.9",
    );
    expect(result.clientIp).toBe("192.0.2.44");
  });

  it("reads several header lines as one list, in order", async () => {
    const result = await observedIp(
      { ...XFF, realIpPosition: 0 },
      [
        ["X-Forwarded-For", "203.0.113.1"],
        ["X-Forwarded-For", "192.0.2.3"],
      ],
      "10.0.0.9",
    );
    expect(result.clientIp).toBe("203.0.113.1");
  });

  it.each([
    ["IPv4", "192.0.2.5", "192.0.2.5"],
    ["IPv4:port", "192.0.2.5:51234", "192.0.2.5"],
    ["IPv6", "2001:db8::5", "2001:db8::5"],
    ["IPv6 in upper case", "2001:DB8::A", "2001:db8::a"],
    ["[IPv6]", "[2001:db8::5]", "2001:db8::5"],
    ["[IPv6]:port", "[2001:db8::5]:443", "2001:db8::5"],
    ["IPv4-mapped IPv6", "::ffff:192.0.2.5", "192.0.2.5"],
    ["[IPv4-mapped IPv6]:port", "[::FFFF:192.0.2.5]:8080", "192.0.2.5"],
    ["spaces around", "  192.0.2.5  ", "192.0.2.5"],
  ])("%s", async (_label, value, expected) => {
    const result = await observedIp(XFF, { "X-Forwarded-For": `10.9.9.9, ${value}` }, "10.0.0.9");
    expect(result.status).toBe(200);
    expect(result.clientIp).toBe(expected);
  });

  it("uses the socket when the configured header is absent", async () => {
    const result = await observedIp(XFF, {}, "::ffff:10.0.0.9");
    expect(result.status).toBe(200);
    expect(result.clientIp).toBe("10.0.0.9");
  });

  it.each([
    ["no address", "not-an-ip"],
    ["a host name", "proxy.example.com"],
    ["an empty value", ""],
    ["an empty last entry", "192.0.2.1,"],
    ["an address with a bad port", "192.0.2.1:123456"],
    ["an IPv4 with too many parts", "1.2.3.4.5"],
    ["'unknown' (as some proxies write)", "unknown"],
  ])("a header holding %s is 400 and asks no authenticator", async (_label, value) => {
    const result = await observedIp(XFF, { "X-Forwarded-For": value }, "10.0.0.9");
    expect(result.status).toBe(400);
    expect(result.clientIp).toBeUndefined();
    expect(JSON.parse(result.body).errors).toEqual([
      { code: "INVALID_REQUEST", message: "X-Forwarded-For: no address at position -1" },
    ]);
  });

  it("a position beyond the list is 400", async () => {
    for (const position of [3, -4]) {
      const result = await observedIp(
        { ...XFF, realIpPosition: position },
        { "X-Forwarded-For": chain },
        "10.0.0.9",
      );
      expect(result.status).toBe(400);
      expect(JSON.parse(result.body).errors[0]).toEqual({
        code: "INVALID_REQUEST",
        message: `X-Forwarded-For: no address at position ${position}`,
      });
    }
  });
});

describe("normalizeAddress (internal)", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["127.0.0.1:80", "127.0.0.1"],
    ["::1", "::1"],
    ["[::1]", "::1"],
    ["[::1]:5000", "::1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::ffff:a01:203", "10.1.2.3"],
    ["::FFFF:A01:203", "10.1.2.3"],
    ["0:0:0:0:0:ffff:0a01:0203", "10.1.2.3"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0000:1:0:0:0:1", "2001:db8:0:1::1"],
    ["[2001:0db8::0001]:443", "2001:db8::1"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeAddress(input)).toBe(expected);
  });

  it.each(["", "x", "1.2.3", "::1]:80", "[1.2.3.4]x", "1.2.3.4:", "[::1]:"])(
    "%j is no address",
    (input) => {
      expect(normalizeAddress(input)).toBeUndefined();
    },
  );

  it("resolveClientIp without a proxy normalises the socket address", () => {
    expect(resolveClientIp({ header: () => undefined }, "::ffff:1.2.3.4", undefined)).toBe(
      "1.2.3.4",
    );
    expect(resolveClientIp({ header: () => undefined }, undefined, undefined)).toBeUndefined();
  });
});
