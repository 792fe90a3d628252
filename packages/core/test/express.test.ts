import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { toExpressMiddleware } from "../src/express/index.js";
import type { RequestContext } from "../src/index.js";
import { isRegauthError } from "../src/index.js";
import {
  answerShape,
  directAnswer,
  FORM_POST,
  OAUTH_FORM,
  Servers,
  tokenHandler,
} from "./adapter-helpers.js";

const servers = new Servers();
afterEach(() => servers.closeAll());

type Seen = { url: string; method: string; body: string; clientIp: string | undefined };

/** A handler that records what it was given and answers 200 "seen". */
function recorder() {
  const seen: Seen[] = [];
  const handler = async (request: Request, context?: RequestContext) => {
    seen.push({
      url: request.url,
      method: request.method,
      body: request.body === null ? "" : await request.text(),
      clientIp: context?.clientIp,
    });
    return new Response("seen");
  };
  return { seen, handler };
}

/** An app with the token middleware under /registry and routes before and after it. */
function registryApp(middleware: express.RequestHandler) {
  const app = express();
  app.get("/healthz", (_req, res) => {
    res.json({ ok: true });
  });
  app.use("/registry", middleware);
  app.get("/registry/status", (_req, res) => {
    res.json({ status: "after the token middleware" });
  });
  return app;
}

describe("toExpressMiddleware mounted with app.use(prefix)", () => {
  it("serves /auth and /auth/token under the mount path, with a token", async () => {
    const { handler, issuer } = tokenHandler();
    const origin = await servers.start(registryApp(toExpressMiddleware(handler)));
    for (const path of ["/registry/auth", "/registry/auth/token"]) {
      const response = await fetch(
        `${origin}${path}?service=registry.test&scope=repository:app:pull`,
      );
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(await response.json()).toMatchObject({ token: "header.payload.signature" });
    }
    expect(issuer.grants).toHaveLength(2);
  });

  it("leaves other paths to the app: routes before and after it, and Express's 404", async () => {
    const { handler, issuer } = tokenHandler();
    const origin = await servers.start(registryApp(toExpressMiddleware(handler)));
    expect(await (await fetch(`${origin}/healthz`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`${origin}/registry/status`)).json()).toEqual({
      status: "after the token middleware",
    });
    const outside = await fetch(`${origin}/auth`);
    expect(outside.status).toBe(404);
    expect(await outside.text()).toMatch(/Cannot GET \/auth/);
    const below = await fetch(`${origin}/registry/auth/other`);
    expect(below.status).toBe(404);
    expect(await below.text()).toMatch(/Cannot GET/);
    expect(issuer.grants).toHaveLength(0);
  });

  it("hands the handler the URL the client used, prefix and query kept", async () => {
    const { seen, handler } = recorder();
    const origin = await servers.start(registryApp(toExpressMiddleware(handler)));
    await (await fetch(`${origin}/registry/auth?service=a&scope=b&scope=c`)).text();
    expect(seen.map((s) => s.url)).toEqual([`${origin}/registry/auth?service=a&scope=b&scope=c`]);
  });

  it("works in a Router mounted under two prefixes", async () => {
    const { seen, handler } = recorder();
    const router = express.Router();
    router.use(toExpressMiddleware(handler));
    const app = express();
    app.use("/v1/registry", router);
    const origin = await servers.start(app);
    expect((await fetch(`${origin}/v1/registry/auth`)).status).toBe(200);
    expect((await fetch(`${origin}/v1/auth`)).status).toBe(404);
    expect(seen.map((s) => new URL(s.url).pathname)).toEqual(["/v1/registry/auth"]);
  });

  it("serves other paths when told: paths ['/token'] and paths 'any'", async () => {
    const { seen, handler } = recorder();
    const app = express();
    app.use("/one", toExpressMiddleware(handler, { paths: ["/token"] }));
    app.use("/all", toExpressMiddleware(handler, { paths: "any" }));
    const origin = await servers.start(app);
    expect((await fetch(`${origin}/one/token`)).status).toBe(200);
    expect((await fetch(`${origin}/one/auth`)).status).toBe(404);
    expect((await fetch(`${origin}/all/whatever/below`)).status).toBe(200);
    expect(seen.map((s) => new URL(s.url).pathname)).toEqual(["/one/token", "/all/whatever/below"]);
  });
});

describe("toExpressMiddleware as a route handler", () => {
  it("serves the route it is given, whatever its path", async () => {
    const { handler } = tokenHandler();
    const app = express();
    app.get("/v2/token-endpoint", toExpressMiddleware(handler));
    app.all("/other/auth-here", toExpressMiddleware(handler));
    const origin = await servers.start(app);
    const got = await fetch(`${origin}/v2/token-endpoint?scope=repository:app:pull`);
    expect(got.status).toBe(200);
    const post = await fetch(`${origin}/other/auth-here`, FORM_POST);
    const direct = await directAnswer(
      tokenHandler().handler,
      `${origin}/other/auth-here`,
      FORM_POST,
    );
    expect(await answerShape(post)).toEqual(direct);
  });

  it("HEAD gets the handler's 405 with its Allow header and no body", async () => {
    const { handler } = tokenHandler();
    const origin = await servers.start(registryApp(toExpressMiddleware(handler)));
    const response = await fetch(`${origin}/registry/auth`, { method: "HEAD" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toMatch(/^GET\b/);
    expect(await response.text()).toBe("");
  });
});

describe("toExpressMiddleware: client address from Express's trust proxy", () => {
  it("uses req.ip: the forwarded address behind a trusted proxy", async () => {
    const { handler, authorizer } = tokenHandler();
    const app = registryApp(toExpressMiddleware(handler));
    app.set("trust proxy", "loopback");
    const origin = await servers.start(app);
    const response = await fetch(`${origin}/registry/auth?scope=repository:app:pull`, {
      headers: { "X-Forwarded-For": "203.0.113.7" },
    });
    expect(response.status).toBe(200);
    expect(authorizer.requests.map((r) => r.clientIp)).toEqual(["203.0.113.7"]);
  });

  it("ignores X-Forwarded-For when trust proxy is off (the default)", async () => {
    const { handler, authorizer } = tokenHandler();
    const origin = await servers.start(registryApp(toExpressMiddleware(handler)));
    await (
      await fetch(`${origin}/registry/auth?scope=repository:app:pull`, {
        headers: { "X-Forwarded-For": "203.0.113.7" },
      })
    ).text();
    expect(authorizer.requests.map((r) => r.clientIp)).toEqual(["127.0.0.1"]);
  });

  it("builds the URL from the forwarded protocol and host behind a trusted proxy", async () => {
    const { seen, handler } = recorder();
    const app = registryApp(toExpressMiddleware(handler));
    app.set("trust proxy", true);
    const origin = await servers.start(app);
    await (
      await fetch(`${origin}/registry/auth?x=1`, {
        headers: { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "auth.example.com" },
      })
    ).text();
    expect(seen.map((s) => s.url)).toEqual(["https://auth.example.com/registry/auth?x=1"]);
  });
});

describe("toExpressMiddleware after body parsers", () => {
  function parsedApp(middleware: express.RequestHandler) {
    const app = express();
    app.use(express.json());
    app.use(express.urlencoded({ extended: false }));
    app.use("/registry", middleware);
    return app;
  }

  it("answers a form POST as the handler does, promptly, and keeps the connection", async () => {
    const { handler } = tokenHandler();
    const origin = await servers.start(parsedApp(toExpressMiddleware(handler)));
    const post = await fetch(`${origin}/registry/auth`, {
      ...FORM_POST,
      signal: AbortSignal.timeout(5_000),
    });
    const direct = await directAnswer(tokenHandler().handler, `${origin}/registry/auth`, FORM_POST);
    expect(await answerShape(post)).toEqual(direct);
    const next = await fetch(`${origin}/registry/auth?scope=repository:app:pull`);
    expect(next.status).toBe(200);
  });

  it("gives the handler the form and JSON bodies the parsers consumed, rebuilt", async () => {
    const { seen, handler } = recorder();
    const origin = await servers.start(parsedApp(toExpressMiddleware(handler)));
    const form = await fetch(`${origin}/registry/auth`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: OAUTH_FORM,
      signal: AbortSignal.timeout(5_000),
    });
    expect(await form.text()).toBe("seen");
    const json = await fetch(`${origin}/registry/auth`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ grant_type: "refresh_token", refresh_token: "r" }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(await json.text()).toBe("seen");
    expect(seen.map((s) => [s.method, s.body])).toEqual([
      ["POST", OAUTH_FORM],
      ["POST", '{"grant_type":"refresh_token","refresh_token":"r"}'],
    ]);
  });

  it("keeps every value of a long repeated field from the extended (qs) parser", async () => {
    const { seen, handler } = recorder();
    const app = express();
    app.use(express.urlencoded({ extended: true }));
    app.use("/registry", toExpressMiddleware(handler));
    const origin = await servers.start(app);
    const scopes = Array.from({ length: 25 }, (_, i) => `repository:app${i}:pull`);
    const form = new URLSearchParams([
      ["grant_type", "password"],
      ...scopes.map((v): [string, string] => ["scope", v]),
    ]);
    const response = await fetch(`${origin}/registry/auth`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form.toString(),
      signal: AbortSignal.timeout(5_000),
    });
    expect(await response.text()).toBe("seen");
    const received = new URLSearchParams(seen[0]?.body);
    expect(received.getAll("scope")).toEqual(scopes);
    expect(received.get("grant_type")).toBe("password");
  });

  it("streams a body no parser took", async () => {
    const { seen, handler } = recorder();
    const origin = await servers.start(parsedApp(toExpressMiddleware(handler)));
    const response = await fetch(`${origin}/registry/auth`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: "plain text body",
      signal: AbortSignal.timeout(5_000),
    });
    expect(await response.text()).toBe("seen");
    expect(seen.map((s) => s.body)).toEqual(["plain text body"]);
  });
});

describe("toExpressMiddleware errors", () => {
  it("passes a handler's failure to Express's error handling", async () => {
    const failures: unknown[] = [];
    const app = express();
    app.use(
      "/registry",
      toExpressMiddleware(async () => {
        throw new Error("handler bug");
      }),
    );
    app.use(
      (
        error: unknown,
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        failures.push(error);
        res.status(500).json({ handled: true });
      },
    );
    const origin = await servers.start(app);
    const response = await fetch(`${origin}/registry/auth`);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ handled: true });
    expect((failures[0] as Error).message).toBe("handler bug");
  });

  it.each([
    [{ paths: [] }, "paths: "],
    [{ paths: ["auth"] }, "paths[0]: expected a path starting with /"],
    [{ paths: "all" }, "paths: "],
    [{ path: "/auth" }, "path: unknown key"],
  ])("refuses bad options %j at construction", (options, message) => {
    const { handler } = tokenHandler();
    let thrown: unknown;
    try {
      toExpressMiddleware(handler, options as never);
    } catch (error) {
      thrown = error;
    }
    expect(isRegauthError(thrown, "ERR_CONFIG_INVALID")).toBe(true);
    expect((thrown as Error).message).toContain(message);
  });
});
