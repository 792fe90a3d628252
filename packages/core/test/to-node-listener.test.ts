import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createTokenHandler, type RequestContext } from "../src/index.js";
import { toNodeListener } from "../src/node/index.js";
import { stubIssuer, tableAuthorizer } from "./helpers.js";

type Handler = (request: Request, context?: RequestContext) => Promise<Response>;

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  }
});

async function serve(handler: Handler, options?: Parameters<typeof toNodeListener>[1]) {
  const server = createServer(toNodeListener(handler, options));
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return { server, port, origin: `http://127.0.0.1:${port}` };
}

/** Sends raw bytes and returns everything the server answers until it closes. */
async function raw(port: number, text: string): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.end(text);
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  await once(socket, "close");
  return Buffer.concat(chunks).toString("latin1");
}

function tokenHandler() {
  const authorizer = tableAuthorizer({ app: ["pull"] });
  const issuer = stubIssuer();
  const handler = createTokenHandler({
    authenticators: [
      {
        async authenticate() {
          return { result: "allow" };
        },
      },
    ],
    authorizers: [authorizer],
    issuer,
    services: ["registry.test"],
  });
  return { handler, authorizer, issuer };
}

describe("toNodeListener", () => {
  it("serves the token handler; the client address comes from the socket", async () => {
    const { handler, authorizer, issuer } = tokenHandler();
    const { origin } = await serve(handler);
    const response = await fetch(`${origin}/auth?service=registry.test&scope=repository:app:pull`, {
      // a spoofing attempt, ignored since no proxy header is configured
      headers: { "X-Forwarded-For": "6.6.6.6" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toMatchObject({ token: "header.payload.signature" });
    expect(authorizer.requests.map((r) => r.clientIp)).toEqual(["127.0.0.1"]);
    expect(issuer.grants).toHaveLength(1);
  });

  it("builds the Request URL from the Host header, path and query kept", async () => {
    const seen: string[] = [];
    const { origin, port } = await serve(async (request) => {
      seen.push(request.url);
      return new Response("ok");
    });
    await (await fetch(`${origin}/prefix/auth?service=a&scope=b&scope=c`)).text();
    expect(seen).toEqual([`http://127.0.0.1:${port}/prefix/auth?service=a&scope=b&scope=c`]);
  });

  it("falls back to baseUrl when there is no Host header (HTTP/1.0)", async () => {
    const seen: string[] = [];
    const { port } = await serve(
      async (request) => {
        seen.push(request.url);
        return new Response("ok");
      },
      { baseUrl: "http://fallback.test" },
    );
    const answer = await raw(port, "GET /auth?x=1 HTTP/1.0\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(seen).toEqual(["http://fallback.test/auth?x=1"]);
  });

  it.each([
    [
      "a Host that is no host",
      "GET /auth?x=1 HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
      "http://fallback.test/auth?x=1",
    ],
    [
      "OPTIONS * (asterisk-form: no path, so the root)",
      "OPTIONS * HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n",
      "http://h.test/",
    ],
  ])("copes with %s", async (_label, request, url) => {
    const seen: string[] = [];
    const { port } = await serve(
      async (r) => {
        seen.push(r.url);
        return new Response("ok");
      },
      { baseUrl: "http://fallback.test" },
    );
    const answer = await raw(port, request);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(seen).toEqual([url]);
  });

  it("HEAD gets the status and headers but no body", async () => {
    const { origin } = await serve(async () =>
      Response.json({ hello: "world" }, { headers: { "X-Extra": "1" } }),
    );
    const response = await fetch(origin, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-extra")).toBe("1");
    expect(await response.text()).toBe("");
  });

  it("HEAD to the token handler is 405 with Allow: GET", async () => {
    const { origin } = await serve(tokenHandler().handler);
    const response = await fetch(`${origin}/auth`, { method: "HEAD" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, POST");
  });

  it("streams a POST body to the handler", async () => {
    const { origin } = await serve(async (request) => {
      const text = await request.text();
      return new Response(`${request.method} ${text.length} ${text.slice(0, 5)}`);
    });
    const body = `hello${"x".repeat(200_000)}`;
    const response = await fetch(origin, { method: "POST", body });
    expect(await response.text()).toBe(`POST ${body.length} hello`);
  });

  it("a POST body over maxBodyBytes is 413 JSON, and the connection keeps serving", async () => {
    const { handler } = tokenHandler();
    const { origin } = await serve(handler);
    const form = `grant_type=password&username=a&password=b&service=registry.test&pad=${"p".repeat(100_000)}`;
    const post = await fetch(`${origin}/auth`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form,
    });
    expect(post.status).toBe(413);
    const body = (await post.json()) as { error: string; errors: { code: string }[] };
    expect(body.error).toBe("invalid_request");
    expect(body.errors[0]?.code).toBe("SIZE_INVALID");
    const next = await fetch(`${origin}/auth?scope=repository:app:pull`);
    expect(next.status).toBe(200);
  });

  it("refuses a 64 KiB header with 431 and keeps running", async () => {
    const { origin } = await serve(tokenHandler().handler);
    const response = await fetch(`${origin}/auth`, {
      headers: { "X-Big": "a".repeat(64 * 1024) },
    });
    expect(response.status).toBe(431);
    expect((await fetch(`${origin}/auth`)).status).toBe(200);
  });

  it("refuses a 64 KiB Authorization header and keeps running", async () => {
    const { origin } = await serve(tokenHandler().handler);
    const response = await fetch(`${origin}/auth`, {
      headers: { Authorization: `Basic ${"A".repeat(64 * 1024)}` },
    });
    expect(response.status).toBe(431);
    expect((await fetch(`${origin}/auth`)).status).toBe(200);
  });

  it("passes repeated request headers and several Set-Cookie answers through", async () => {
    const { origin } = await serve(async (request) => {
      const headers = new Headers({ "X-Seen": request.headers.get("x-forwarded-for") ?? "" });
      headers.append("Set-Cookie", "a=1");
      headers.append("Set-Cookie", "b=2");
      return new Response(null, { status: 204, headers });
    });
    const answer = await raw(
      Number(new URL(origin).port),
      "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nConnection: close\r\n\r\n",
    );
    expect(answer).toMatch(/^HTTP\/1\.1 204 /);
    expect(answer).toContain("x-seen: 1.1.1.1, 2.2.2.2\r\n");
    expect(answer).toContain("set-cookie: a=1\r\n");
    expect(answer).toContain("set-cookie: b=2\r\n");
  });

  it("a handler that throws gives 500, reported to onError, and the server lives on", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const { origin } = await serve(
      async () => {
        calls += 1;
        if (calls === 1) throw new Error("handler bug");
        return new Response("fine");
      },
      { onError: (error) => errors.push(error) },
    );
    const response = await fetch(origin);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("");
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe("handler bug");
    expect(await (await fetch(origin)).text()).toBe("fine");
  });

  it("aborts the request's signal when the client goes away", async () => {
    let resolveAborted: (value: boolean) => void = () => {};
    const aborted = new Promise<boolean>((resolve) => {
      resolveAborted = resolve;
    });
    const { port } = await serve(
      (request) =>
        new Promise<Response>((resolve) => {
          request.signal.addEventListener("abort", () => {
            resolveAborted(true);
            resolve(new Response("late"));
          });
        }),
    );
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    expect(await aborted).toBe(true);
  });
});

describe("toNodeListener: request targets and methods that Fetch refuses", () => {
  it("`//evil/auth` stays the path `//evil/auth`, never host evil + path /auth", async () => {
    const seen: string[] = [];
    const { port } = await serve(async (request) => {
      seen.push(new URL(request.url).pathname);
      return new Response("ok");
    });
    const answer = await raw(
      port,
      "GET //evil/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(seen).toEqual(["//evil/auth"]);
  });

  it("an absolute-form target is cut to its path and query", async () => {
    const seen: string[] = [];
    const { port } = await serve(async (request) => {
      const url = new URL(request.url);
      seen.push(`${url.host}${url.pathname}${url.search}`);
      return new Response("ok");
    });
    await raw(
      port,
      "GET http://elsewhere.test/auth?service=x HTTP/1.1\r\nHost: 127.0.0.1:1\r\nConnection: close\r\n\r\n",
    );
    expect(seen).toEqual(["127.0.0.1:1/auth?service=x"]);
  });

  it("user information in the Host header is dropped, not a 500", async () => {
    const { port } = await serve(async (request) => new Response(new URL(request.url).host));
    const answer = await raw(
      port,
      "GET /auth HTTP/1.1\r\nHost: u:p@h.test\r\nConnection: close\r\n\r\n",
    );
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(answer).toMatch(/\r\n\r\nh\.test$/);
  });

  it("TRACE gets 405 with the errors envelope, not an empty 500", async () => {
    const { port } = await serve(async () => new Response("never"));
    const answer = await raw(
      port,
      "TRACE /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    expect(answer).toMatch(/^HTTP\/1.1 405/);
    expect(answer).toContain('"code":"UNSUPPORTED"');
    expect(answer).not.toContain("never");
  });
});
