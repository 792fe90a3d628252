import { bodyParser } from "@koa/bodyparser";
import { Router } from "@koa/router";
import Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { isRegauthError, type VerifiedToken } from "../src/index.js";
import { requireRegistryToken } from "../src/koa/index.js";
import { Servers, stubGuard } from "./adapter-helpers.js";

const servers = new Servers();
afterEach(() => servers.closeAll());

function protectedApp(guard: ReturnType<typeof stubGuard>) {
  const router = new Router({ prefix: "/svc/api" });
  router.get(
    "/notes",
    requireRegistryToken(guard, {
      access: (ctx) => [
        `repository:${new URL(ctx.originalUrl, "http://x").searchParams.get("repository")}:pull`,
      ],
    }),
    (ctx) => {
      const token = ctx.state.registryToken as VerifiedToken;
      ctx.body = { subject: token.subject, access: token.access };
    },
  );
  router.post("/echo", requireRegistryToken(guard), bodyParser(), (ctx) => {
    ctx.body = {
      body: ctx.request.body,
      subject: (ctx.state.registryToken as VerifiedToken).subject,
    };
  });
  const app = new Koa();
  app.use(router.routes());
  return app;
}

describe("requireRegistryToken (Koa)", () => {
  it("lets a valid token through and exposes it in ctx.state.registryToken", async () => {
    const guard = stubGuard();
    const origin = await servers.start(protectedApp(guard).callback());
    const response = await fetch(`${origin}/svc/api/notes?repository=team/app`, {
      headers: { Authorization: "Bearer good-alice" },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      subject: "alice",
      access: [{ type: "repository", name: "team/app", actions: ["pull"] }],
    });
    expect(guard.asked[0]?.request.url).toBe(`${origin}/svc/api/notes?repository=team/app`);
  });

  it.each([
    ["missing", undefined, "/svc/api/notes?repository=team/app"],
    ["invalid", "Bearer bad", "/svc/api/notes?repository=team/app"],
    ["insufficient", "Bearer good-alice", "/svc/api/notes?repository=other/app"],
  ])(
    "answers a %s token with the guard's 401; the route does not run",
    async (reason, header, path) => {
      const guard = stubGuard();
      const origin = await servers.start(protectedApp(guard).callback());
      const response = await fetch(`${origin}${path}`, {
        headers: header === undefined ? {} : { Authorization: header },
      });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(`Bearer realm="r",error="${reason}"`);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await response.json()).toEqual({
        errors: [{ code: "UNAUTHORIZED", message: reason }],
      });
    },
  );

  it("leaves the body to the route's parser", async () => {
    const guard = stubGuard();
    const origin = await servers.start(protectedApp(guard).callback());
    const response = await fetch(`${origin}/svc/api/echo`, {
      method: "POST",
      headers: { Authorization: "Bearer good-carol", "Content-Type": "application/json" },
      body: JSON.stringify({ note: "kept" }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ body: { note: "kept" }, subject: "carol" });
  });

  it("lets a bad scope from the access function reach Koa's error handling", async () => {
    const app = new Koa();
    const errors: unknown[] = [];
    app.on("error", (error: unknown) => errors.push(error));
    app.use(requireRegistryToken(stubGuard(), { access: () => ["not a scope"] }));
    const origin = await servers.start(app.callback());
    expect((await fetch(`${origin}/x`)).status).toBe(500);
    expect(isRegauthError(errors[0], "ERR_SCOPE_INVALID")).toBe(true);
  });

  it("refuses bad options and something that is no guard at construction", () => {
    expect(() => requireRegistryToken(stubGuard(), { acess: [] } as never)).toThrow(
      expect.objectContaining({ code: "ERR_CONFIG_INVALID", message: "acess: unknown key" }),
    );
    expect(() => requireRegistryToken(null as never)).toThrow(
      expect.objectContaining({ code: "ERR_CONFIG_INVALID" }),
    );
  });
});
