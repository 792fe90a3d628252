import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { requireRegistryToken } from "../src/express/index.js";
import { isRegauthError, type VerifiedToken } from "../src/index.js";
import { Servers, stubGuard } from "./adapter-helpers.js";

const servers = new Servers();
afterEach(() => servers.closeAll());

/** An app whose /api routes need a registry token, mounted under /svc. */
function protectedApp(guard: ReturnType<typeof stubGuard>) {
  const api = express.Router();
  api.use(express.json());
  api.get(
    "/notes",
    requireRegistryToken(guard, {
      access: (req) => [`repository:${String(req.query?.repository)}:pull`],
    }),
    (_req, res) => {
      const token = res.locals.registryToken as VerifiedToken;
      res.json({ subject: token.subject, access: token.access });
    },
  );
  api.post("/echo", requireRegistryToken(guard), (req, res) => {
    res.json({
      body: req.body as unknown,
      subject: (res.locals.registryToken as VerifiedToken).subject,
    });
  });
  api.get(
    "/static",
    requireRegistryToken(guard, { access: ["repository:team/app:pull"] }),
    (_req, res) => {
      res.json({ ok: true });
    },
  );
  const app = express();
  app.use("/svc/api", api);
  return app;
}

describe("requireRegistryToken (Express)", () => {
  it("lets a valid token through and exposes it in res.locals.registryToken", async () => {
    const guard = stubGuard();
    const origin = await servers.start(protectedApp(guard));
    const response = await fetch(`${origin}/svc/api/notes?repository=team/app`, {
      headers: { Authorization: "Bearer good-alice" },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      subject: "alice",
      access: [{ type: "repository", name: "team/app", actions: ["pull"] }],
    });
    expect(guard.asked[0]?.required).toEqual([
      { type: "repository", name: "team/app", actions: ["pull"] },
    ]);
    expect(guard.asked[0]?.request.url).toBe(`${origin}/svc/api/notes?repository=team/app`);
  });

  it.each([
    ["missing", undefined],
    ["invalid", "Bearer bad"],
  ])("answers a %s token with the guard's 401 and stops the chain", async (reason, header) => {
    const guard = stubGuard();
    const origin = await servers.start(protectedApp(guard));
    const response = await fetch(`${origin}/svc/api/notes?repository=team/app`, {
      headers: header === undefined ? {} : { Authorization: header },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(`Bearer realm="r",error="${reason}"`);
    expect(await response.json()).toEqual({ errors: [{ code: "UNAUTHORIZED", message: reason }] });
  });

  it("answers insufficient access, computed per request, with 401", async () => {
    const guard = stubGuard();
    const origin = await servers.start(protectedApp(guard));
    const response = await fetch(`${origin}/svc/api/notes?repository=other/app`, {
      headers: { Authorization: "Bearer good-alice" },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('error="insufficient"');
    expect(guard.asked[0]?.required).toEqual([
      { type: "repository", name: "other/app", actions: ["pull"] },
    ]);
  });

  it("takes static scope strings, parsed once", async () => {
    const guard = stubGuard();
    const origin = await servers.start(protectedApp(guard));
    const response = await fetch(`${origin}/svc/api/static`, {
      headers: { Authorization: "Bearer good-bob" },
    });
    expect(response.status).toBe(200);
    expect(guard.asked[0]?.required).toEqual([
      { type: "repository", name: "team/app", actions: ["pull"] },
    ]);
  });

  it("leaves the body to the route's parser", async () => {
    const guard = stubGuard();
    const origin = await servers.start(protectedApp(guard));
    const response = await fetch(`${origin}/svc/api/echo`, {
      method: "POST",
      headers: { Authorization: "Bearer good-carol", "Content-Type": "application/json" },
      body: JSON.stringify({ note: "kept" }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ body: { note: "kept" }, subject: "carol" });
    expect(guard.asked[0]?.required).toEqual([]);
  });

  it("HEAD gets the 401 without a body", async () => {
    const guard = stubGuard();
    const app = express();
    app.head("/x", requireRegistryToken(guard), (_req, res) => {
      res.end();
    });
    const origin = await servers.start(app);
    const response = await fetch(`${origin}/x`, { method: "HEAD" });
    expect(response.status).toBe(401);
    expect(await response.text()).toBe("");
  });

  it("passes a bad scope from the access function to next(error)", async () => {
    const guard = stubGuard();
    const failures: unknown[] = [];
    const app = express();
    app.get("/x", requireRegistryToken(guard, { access: () => ["not a scope"] }), (_req, res) => {
      res.end();
    });
    app.use(
      (
        error: unknown,
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        failures.push(error);
        res.status(500).end();
      },
    );
    const origin = await servers.start(app);
    expect((await fetch(`${origin}/x`)).status).toBe(500);
    expect(isRegauthError(failures[0], "ERR_SCOPE_INVALID")).toBe(true);
  });

  it.each([
    [{ access: "repository:a:pull" }, "access: "],
    [{ acess: [] }, "acess: unknown key"],
  ])("refuses bad options %j at construction", (options, message) => {
    let thrown: unknown;
    try {
      requireRegistryToken(stubGuard(), options as never);
    } catch (error) {
      thrown = error;
    }
    expect(isRegauthError(thrown, "ERR_CONFIG_INVALID")).toBe(true);
    expect((thrown as Error).message).toContain(message);
  });

  it("refuses a static scope that does not parse, and something that is no guard", () => {
    expect(() => requireRegistryToken(stubGuard(), { access: ["repository:UPPER:pull"] })).toThrow(
      expect.objectContaining({ code: "ERR_SCOPE_INVALID" }),
    );
    expect(() => requireRegistryToken({} as never)).toThrow(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message: expect.stringMatching(/^guard: /),
      }),
    );
  });
});
