// The transport-neutral endpoint (createTokenEndpoint), and the adapters'
// direct path to it: a handler made by createTokenHandler is served by
// toNodeListener, toExpressMiddleware and toKoaMiddleware without Web
// Request/Response objects, and must answer exactly as through them.

import { request as httpRequest, IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { bodyParser } from "@koa/bodyparser";
import express from "express";
import Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { toExpressMiddleware } from "../src/express/index.js";
import {
  type Authenticator,
  createTokenEndpoint,
  createTokenHandler,
  type TokenHandler,
  type TokenHandlerOptions,
  type TokenRequest,
} from "../src/index.js";
import { readNodeBody } from "../src/internal/node-bridge.js";
import { toKoaMiddleware } from "../src/koa/index.js";
import { toNodeListener } from "../src/node/index.js";
import { Servers } from "./adapter-helpers.js";
import { STUB_TOKEN, stubIssuer, tableAuthorizer } from "./helpers.js";

const servers = new Servers();
afterEach(() => servers.closeAll());

/** alice/secret is allowed, any other password of alice denied, nobody else known. */
const passwords: Authenticator = {
  name: "passwords",
  async authenticate({ account, password }) {
    if (account === "") return { result: "allow" };
    if (account !== "alice") return { result: "no-match" };
    return password === "secret" ? { result: "allow" } : { result: "deny" };
  },
};

function options(overrides: Partial<TokenHandlerOptions> = {}): TokenHandlerOptions {
  return {
    authenticators: [passwords],
    authorizers: [tableAuthorizer({ app: ["pull"] })],
    issuer: stubIssuer(),
    services: ["registry.test"],
    maxBodyBytes: 2048,
    ...overrides,
  };
}

const ALICE = `Basic ${Buffer.from("alice:secret").toString("base64")}`;

function get(target: string, headers: Record<string, string> = {}): TokenRequest {
  const lower = new Map(
    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return { method: "GET", target, header: (name) => lower.get(name) };
}

describe("createTokenEndpoint", () => {
  it("answers a GET with a token, as JSON no cache keeps", async () => {
    const endpoint = createTokenEndpoint(options());
    const reply = await endpoint(
      get("/auth?service=registry.test&scope=repository:app:pull", { Authorization: ALICE }),
    );
    expect(reply.status).toBe(200);
    expect(reply.headers["Content-Type"]).toBe("application/json; charset=utf-8");
    expect(reply.headers["Cache-Control"]).toBe("no-store");
    const body = JSON.parse(reply.body) as Record<string, unknown>;
    expect(body.token).toBe(STUB_TOKEN);
    expect(body.access_token).toBe(STUB_TOKEN);
    expect(body.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("reads only the query of the target: path, absolute URL and fragment", async () => {
    const issuer = stubIssuer();
    const endpoint = createTokenEndpoint(options({ issuer }));
    for (const target of [
      "/auth?scope=repository:app:pull",
      "http://tokens.example:5001/deep/path?scope=repository:app:pull",
      "/auth?scope=repository:app:pull#scope=repository:other:push",
    ]) {
      expect((await endpoint(get(target, { Authorization: ALICE }))).status).toBe(200);
    }
    expect(issuer.grants.map((grant) => grant.access)).toEqual(
      Array(3).fill([{ type: "repository", name: "app", actions: ["pull"] }]),
    );
    // A `?` after the fragment starts no query: no scope, so no access.
    expect((await endpoint(get("/auth#x?scope=repository:app:pull"))).status).toBe(200);
    expect(issuer.grants.at(-1)?.access).toEqual([]);
  });

  it("refuses a wrong password with 401 and the Basic challenge", async () => {
    const endpoint = createTokenEndpoint(options({ realm: "tokens" }));
    const wrong = `Basic ${Buffer.from("alice:nope").toString("base64")}`;
    const reply = await endpoint(get("/auth", { Authorization: wrong }));
    expect(reply.status).toBe(401);
    expect(reply.headers["WWW-Authenticate"]).toBe('Basic realm="tokens"');
  });

  it("a POST without readBody has an empty form: 400 invalid_request", async () => {
    const endpoint = createTokenEndpoint(options());
    const reply = await endpoint({
      method: "POST",
      target: "/auth",
      header: (name) => (name === "content-type" ? "application/x-www-form-urlencoded" : undefined),
    });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body).error).toBe("invalid_request");
  });

  it("takes a POST body as text, and refuses one over maxBodyBytes even if readBody ignored the bound", async () => {
    const endpoint = createTokenEndpoint(options());
    const form = (body: string): TokenRequest => ({
      method: "POST",
      target: "/auth",
      header: (name) => (name === "content-type" ? "application/x-www-form-urlencoded" : undefined),
      readBody: async () => body,
    });
    const ok = await endpoint(
      form("grant_type=password&username=alice&password=secret&scope=repository:app:pull"),
    );
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).scope).toBe("repository:app:pull");
    const large = await endpoint(form(`grant_type=password&pad=${"p".repeat(4096)}`));
    expect(large.status).toBe(413);
  });

  it("answers other methods 405 with Allow, and never rejects", async () => {
    const endpoint = createTokenEndpoint(
      options({
        authorizers: [
          {
            async authorize() {
              throw new TypeError("a broken authorizer");
            },
          },
        ],
        issuer: {
          async issue() {
            throw new TypeError("a broken issuer");
          },
        },
      }),
    );
    const put = await endpoint({ method: "PUT", target: "/auth", header: () => undefined });
    expect(put.status).toBe(405);
    expect(put.headers.Allow).toBe("GET, POST");
    // An authorizer that throws is a backend fault: 503, never a token.
    const authorizing = await endpoint(get("/auth?scope=repository:app:pull"));
    expect(authorizing.status).toBe(503);
    expect(authorizing.body).not.toContain("broken");
    // Anything else that throws is a bare 500.
    const issuing = await endpoint(get("/auth"));
    expect(issuing.status).toBe(500);
    expect(issuing.body).not.toContain("broken");
  });
});

/**
 * A request sent to both servers. `headers` are raw (name, value, name,
 * value...) so that a header can be sent twice as two lines: fetch would
 * merge them into one.
 */
interface Probe {
  readonly name: string;
  readonly path: string;
  readonly method?: string;
  readonly headers?: readonly string[];
  readonly body?: string;
}

const FORM = ["Content-Type", "application/x-www-form-urlencoded"];
const PROBES: readonly Probe[] = [
  { name: "anonymous GET", path: "/auth?scope=repository:app:pull" },
  {
    name: "GET as alice, two scopes",
    path: "/auth?service=registry.test&scope=repository:app:pull,push&scope=repository:other:pull",
    headers: ["Authorization", ALICE],
  },
  {
    name: "wrong password",
    path: "/auth",
    headers: ["Authorization", `Basic ${Buffer.from("alice:x").toString("base64")}`],
  },
  { name: "Bearer instead of Basic", path: "/auth", headers: ["Authorization", "Bearer x"] },
  { name: "malformed scope", path: "/auth?scope=repository:app" },
  { name: "unknown service", path: "/auth?service=elsewhere" },
  {
    name: "two Authorization lines (Fetch joins them: no Basic credentials)",
    path: "/auth",
    headers: ["Authorization", ALICE, "authorization", ALICE],
  },
  {
    name: "password grant",
    path: "/auth",
    method: "POST",
    headers: FORM,
    body: "grant_type=password&username=alice&password=secret&scope=repository%3Aapp%3Apull",
  },
  {
    name: "password grant, service in query and body",
    path: "/auth?service=registry.test",
    method: "POST",
    headers: FORM,
    body: "grant_type=password&username=alice&password=secret&service=registry.test",
  },
  {
    name: "password grant, wrong password",
    path: "/auth",
    method: "POST",
    headers: FORM,
    body: "grant_type=password&username=alice&password=x",
  },
  {
    name: "POST as JSON",
    path: "/auth",
    method: "POST",
    headers: ["Content-Type", "application/json"],
    body: "{}",
  },
  {
    name: "POST over maxBodyBytes",
    path: "/auth",
    method: "POST",
    headers: FORM,
    body: `grant_type=password&pad=${"p".repeat(8192)}`,
  },
  { name: "PUT", path: "/auth", method: "PUT", body: "x" },
  { name: "DELETE", path: "/auth", method: "DELETE" },
];

/** Sends a probe; resolves with the status, the headers a client reads, and the body without its issue time. */
function send(origin: string, probe: Probe, extraHeaders: readonly string[] = []) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: unknown }>(
    (resolve, reject) => {
      // Raw headers get no Host line of node's own, and node:http servers require one.
      const headers = ["Host", new URL(origin).host, ...(probe.headers ?? []), ...extraHeaders];
      const request = httpRequest(
        `${origin}${probe.path}`,
        { method: probe.method ?? "GET", headers, agent: false },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<
              string,
              unknown
            >;
            delete body.issued_at;
            const headers: Record<string, unknown> = {};
            for (const name of [
              "content-type",
              "cache-control",
              "www-authenticate",
              "allow",
              "retry-after",
              "content-length",
              "connection",
            ]) {
              headers[name] = response.headers[name];
            }
            resolve({ status: response.statusCode ?? 0, headers, body });
          });
          response.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(probe.body);
    },
  );
}

/** Sends every probe to both origins and expects the same answers. */
async function expectSameAnswers(direct: string, web: string) {
  for (const probe of PROBES) {
    const [a, b] = await Promise.all([send(direct, probe), send(web, probe)]);
    expect({ probe: probe.name, ...a }).toEqual({ probe: probe.name, ...b });
  }
}

/** The same handler twice: as made (direct path) and hidden behind a plain function (Web path). */
function twoHandlers(): { direct: TokenHandler; web: TokenHandler } {
  const direct = createTokenHandler(options());
  return { direct, web: (request, context) => direct(request, context) };
}

describe("the adapters' direct path answers as the Web path does", () => {
  it("toNodeListener", async () => {
    const { direct, web } = twoHandlers();
    await expectSameAnswers(
      await servers.start(toNodeListener(direct)),
      await servers.start(toNodeListener(web)),
    );
  });

  it("toExpressMiddleware, with and without a body parser before it", async () => {
    const { direct, web } = twoHandlers();
    const app = (handler: TokenHandler, parse: boolean) => {
      const instance = express();
      if (parse) instance.use(express.urlencoded({ extended: false }));
      instance.use(toExpressMiddleware(handler));
      return instance;
    };
    for (const parse of [false, true]) {
      await expectSameAnswers(
        await servers.start(app(direct, parse)),
        await servers.start(app(web, parse)),
      );
    }
  });

  it("toKoaMiddleware, with and without a body parser before it", async () => {
    const { direct, web } = twoHandlers();
    const app = (handler: TokenHandler, parse: boolean) => {
      const instance = new Koa();
      if (parse) instance.use(bodyParser({ enableTypes: ["form"] }));
      instance.use(toKoaMiddleware(handler));
      return instance.callback();
    };
    for (const parse of [false, true]) {
      await expectSameAnswers(
        await servers.start(app(direct, parse)),
        await servers.start(app(web, parse)),
      );
    }
  });
});

const GRANT: Probe = {
  name: "password grant",
  path: "/auth",
  method: "POST",
  headers: FORM,
  body: "grant_type=password&username=alice&password=secret&scope=repository%3Aapp%3Apull",
};

describe("the direct path from node:http", () => {
  it("reads a body whose stream code before it paused or gave a text encoding", async () => {
    // Reported by review: setEncoding made the reader count string lengths
    // (NaN) and crash the process; a paused stream was never answered.
    const listener = toNodeListener(createTokenHandler(options()));
    for (const before of [
      (request: IncomingMessage) => request.setEncoding("utf8"),
      (request: IncomingMessage) => request.pause(),
      (request: IncomingMessage) => request.setEncoding("latin1"),
    ]) {
      const origin = await servers.start((request, response) => {
        before(request);
        listener(request, response);
      });
      const answer = await send(origin, {
        ...GRANT,
        body: `${GRANT.body}&note=${encodeURIComponent("café")}`,
      });
      expect(answer.status).toBe(200);
    }
  });

  it("a stream already destroyed is an incomplete body (400), not a wait forever", async () => {
    const incoming = new IncomingMessage(new Socket());
    incoming.destroy();
    await expect(readNodeBody(incoming, 1024)).rejects.toMatchObject({
      code: "ERR_REQUEST_INVALID",
    });
  });

  it("answers with Content-Length, keep the connection, and close it after an unread body (413)", async () => {
    const handler = createTokenHandler(options());
    const origin = await servers.start(toNodeListener(handler));
    const keepAlive = ["Connection", "keep-alive"];
    const ok = await send(origin, GRANT, keepAlive);
    expect(ok.status).toBe(200);
    expect(Number(ok.headers["content-length"])).toBeGreaterThan(100);
    expect(ok.headers.connection).toBe("keep-alive");
    const large = await send(
      origin,
      { ...GRANT, body: `grant_type=password&pad=${"p".repeat(65_536)}` },
      keepAlive,
    );
    expect(large.status).toBe(413);
    expect(large.headers.connection).toBe("close");

    // Read whole by a body parser before the adapter: nothing left unread, the connection stays.
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use(toExpressMiddleware(handler));
    const parsed = await send(
      await servers.start(app),
      { ...GRANT, body: `grant_type=password&pad=${"p".repeat(8192)}` },
      keepAlive,
    );
    expect(parsed.status).toBe(413);
    expect(parsed.headers.connection).toBe("keep-alive");
  });
});
