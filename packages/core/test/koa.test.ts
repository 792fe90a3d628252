import { bodyParser } from "@koa/bodyparser";
import { Router } from "@koa/router";
import Koa from "koa";
import Koa2 from "koa2";
import { afterEach, describe, expect, it } from "vitest";
import type { RequestContext } from "../src/index.js";
import { isRegauthError } from "../src/index.js";
import { toKoaMiddleware } from "../src/koa/index.js";
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

describe.each([
  ["Koa 3", Koa],
  ["Koa 2", Koa2],
])("toKoaMiddleware on %s", (_name, KoaClass) => {
  /** An app with a route before, the token middleware under /registry, and one after. */
  function registryApp(middleware: Koa.Middleware, options: { proxy?: boolean } = {}) {
    const app = new KoaClass(options);
    const seenStatuses: number[] = [];
    app.use(async (ctx, next) => {
      await next();
      seenStatuses.push(ctx.status);
    });
    app.use(async (ctx, next) => {
      if (ctx.path === "/healthz") ctx.body = { ok: true };
      else await next();
    });
    app.use(middleware);
    app.use(async (ctx, next) => {
      if (ctx.path === "/registry/status") ctx.body = { status: "after the token middleware" };
      else await next();
    });
    return { app, seenStatuses };
  }

  it("serves /auth and /auth/token under the prefix, answered the Koa way", async () => {
    const { handler, issuer } = tokenHandler();
    const { app, seenStatuses } = registryApp(toKoaMiddleware(handler, { prefix: "/registry" }));
    const origin = await servers.start(app.callback());
    for (const path of ["/registry/auth", "/registry/auth/token"]) {
      const response = await fetch(
        `${origin}${path}?service=registry.test&scope=repository:app:pull`,
      );
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(await response.json()).toMatchObject({ token: "header.payload.signature" });
    }
    expect(issuer.grants).toHaveLength(2);
    expect(seenStatuses).toEqual([200, 200]); // upstream middleware sees the answer
  });

  it("leaves other paths downstream: routes before and after it, and Koa's 404", async () => {
    const { handler, issuer } = tokenHandler();
    const { app } = registryApp(toKoaMiddleware(handler, { prefix: "/registry" }));
    const origin = await servers.start(app.callback());
    expect(await (await fetch(`${origin}/healthz`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`${origin}/registry/status`)).json()).toEqual({
      status: "after the token middleware",
    });
    const outside = await fetch(`${origin}/auth`);
    expect(outside.status).toBe(404);
    expect(await outside.text()).toBe("Not Found");
    expect(issuer.grants).toHaveLength(0);
  });

  it("hands the handler the URL the client used", async () => {
    const { seen, handler } = recorder();
    const { app } = registryApp(toKoaMiddleware(handler, { prefix: "/registry" }));
    const origin = await servers.start(app.callback());
    await (await fetch(`${origin}/registry/auth?service=a&scope=b&scope=c`)).text();
    expect(seen.map((s) => s.url)).toEqual([`${origin}/registry/auth?service=a&scope=b&scope=c`]);
  });

  it("serves /auth at the root without a prefix", async () => {
    const { handler } = tokenHandler();
    const app = new KoaClass();
    app.use(toKoaMiddleware(handler));
    const origin = await servers.start(app.callback());
    expect((await fetch(`${origin}/auth?scope=repository:app:pull`)).status).toBe(200);
    expect((await fetch(`${origin}/registry/auth`)).status).toBe(404);
  });

  it("works as a @koa/router route with paths 'any', under the router's prefix", async () => {
    const { seen, handler } = recorder();
    const router = new Router({ prefix: "/v1/registry" });
    router.get("/token", toKoaMiddleware(handler, { paths: "any" }));
    router.get("/other", (ctx) => {
      ctx.body = "other route";
    });
    const app = new KoaClass();
    app.use(router.routes());
    const origin = await servers.start(app.callback());
    expect((await fetch(`${origin}/v1/registry/token`)).status).toBe(200);
    expect(await (await fetch(`${origin}/v1/registry/other`)).text()).toBe("other route");
    expect(seen.map((s) => new URL(s.url).pathname)).toEqual(["/v1/registry/token"]);
  });

  it("HEAD gets the handler's 405 with its Allow header and no body", async () => {
    const { handler } = tokenHandler();
    const { app } = registryApp(toKoaMiddleware(handler, { prefix: "/registry" }));
    const origin = await servers.start(app.callback());
    const response = await fetch(`${origin}/registry/auth`, { method: "HEAD" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toMatch(/^GET\b/);
    expect(await response.text()).toBe("");
  });

  it("keeps several Set-Cookie headers and a body-less status", async () => {
    const app = new KoaClass();
    app.use(
      toKoaMiddleware(
        async (request) => {
          if (new URL(request.url).pathname === "/auth/token")
            return new Response(null, { status: 204 });
          const headers = new Headers();
          headers.append("Set-Cookie", "a=1");
          headers.append("Set-Cookie", "b=2");
          return new Response(null, { status: 202, headers });
        },
        { paths: "any" },
      ),
    );
    const origin = await servers.start(app.callback());
    const cookies = await fetch(`${origin}/auth`);
    expect(cookies.status).toBe(202);
    expect(cookies.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(cookies.headers.get("content-type")).toBeNull();
    expect(await cookies.text()).toBe("");
    expect((await fetch(`${origin}/auth/token`)).status).toBe(204);
  });

  it("uses ctx.ip: the forwarded address when app.proxy is on", async () => {
    const { handler, authorizer } = tokenHandler();
    const { app } = registryApp(toKoaMiddleware(handler, { prefix: "/registry" }), {
      proxy: true,
    });
    const origin = await servers.start(app.callback());
    const response = await fetch(`${origin}/registry/auth?scope=repository:app:pull`, {
      headers: { "X-Forwarded-For": "203.0.113.7" },
    });
    expect(response.status).toBe(200);
    expect(authorizer.requests.map((r) => r.clientIp)).toEqual(["203.0.113.7"]);
  });

  it("ignores X-Forwarded-For when app.proxy is off (the default)", async () => {
    const { handler, authorizer } = tokenHandler();
    const { app } = registryApp(toKoaMiddleware(handler, { prefix: "/registry" }));
    const origin = await servers.start(app.callback());
    await (
      await fetch(`${origin}/registry/auth?scope=repository:app:pull`, {
        headers: { "X-Forwarded-For": "203.0.113.7" },
      })
    ).text();
    expect(authorizer.requests.map((r) => r.clientIp)).toEqual(["127.0.0.1"]);
  });

  it("answers a form POST after @koa/bodyparser as the handler does, and keeps serving", async () => {
    const { handler } = tokenHandler();
    const app = new KoaClass();
    app.use(bodyParser());
    app.use(toKoaMiddleware(handler, { prefix: "/registry" }));
    const origin = await servers.start(app.callback());
    const post = await fetch(`${origin}/registry/auth`, {
      ...FORM_POST,
      signal: AbortSignal.timeout(5_000),
    });
    const direct = await directAnswer(tokenHandler().handler, `${origin}/registry/auth`, FORM_POST);
    expect(await answerShape(post)).toEqual(direct);
    expect((await fetch(`${origin}/registry/auth?scope=repository:app:pull`)).status).toBe(200);
  });

  it("gives the handler the raw body the parser kept, and streams one it did not take", async () => {
    const { seen, handler } = recorder();
    const app = new KoaClass();
    app.use(bodyParser());
    app.use(toKoaMiddleware(handler, { prefix: "/registry" }));
    const origin = await servers.start(app.callback());
    const send = (type: string, body: string) =>
      fetch(`${origin}/registry/auth`, {
        method: "POST",
        headers: { "Content-Type": type },
        body,
        signal: AbortSignal.timeout(5_000),
      }).then((r) => r.text());
    expect(await send("application/x-www-form-urlencoded", OAUTH_FORM)).toBe("seen");
    expect(await send("application/json", '{"grant_type":"refresh_token"}')).toBe("seen");
    expect(await send("application/octet-stream", "bytes as they came")).toBe("seen");
    expect(seen.map((s) => s.body)).toEqual([
      OAUTH_FORM,
      '{"grant_type":"refresh_token"}',
      "bytes as they came",
    ]);
  });

  it("lets a handler's failure reach Koa's error handling (500)", async () => {
    const app = new KoaClass();
    const errors: unknown[] = [];
    app.on("error", (error: unknown) => errors.push(error));
    app.use(
      toKoaMiddleware(async () => {
        throw new Error("handler bug");
      }),
    );
    const origin = await servers.start(app.callback());
    const response = await fetch(`${origin}/auth`);
    expect(response.status).toBe(500);
    expect((errors[0] as Error).message).toBe("handler bug");
  });
});

describe("toKoaMiddleware options", () => {
  it.each([
    [{ prefix: "registry" }, "prefix: expected a path starting with /"],
    [{ prefix: "/registry/" }, "prefix: expected no trailing /"],
    [{ paths: [] }, "paths: "],
    [{ path: "/auth" }, "path: unknown key"],
  ])("refuses %j at construction", (options, message) => {
    const { handler } = tokenHandler();
    let thrown: unknown;
    try {
      toKoaMiddleware(handler, options as never);
    } catch (error) {
      thrown = error;
    }
    expect(isRegauthError(thrown, "ERR_CONFIG_INVALID")).toBe(true);
    expect((thrown as Error).message).toContain(message);
  });
});
