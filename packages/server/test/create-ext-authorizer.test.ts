import { describe, expect, it } from "vitest";
import { createExtAuthorizer } from "../src/create-ext-authorizer.js";
import { authz, EXT_AUTHZ, memoryLogger } from "./support.js";

describe("createExtAuthorizer (docker_auth ext_authz)", () => {
  it("exit 0 grants every requested action, exit 1 is an explicit deny", async () => {
    const ext = createExtAuthorizer({ command: EXT_AUTHZ });
    expect(await ext.authorize(authz("team/app"))).toEqual({
      result: "grant",
      actions: ["pull", "push"],
    });
    expect(await ext.authorize(authz("denied/app"))).toEqual({ result: "grant", actions: [] });
  });

  it("exit 2 (or anything else) is a backend error", async () => {
    const ext = createExtAuthorizer({ command: EXT_AUTHZ });
    await expect(ext.authorize(authz("broken/app"))).rejects.toMatchObject({
      code: "ERR_BACKEND_UNAVAILABLE",
      message: "ext_authz: program exited 2 (0 allow, 1 deny; anything else is an error)",
    });
  });

  it("sends docker_auth's request JSON on stdin", async () => {
    const logger = memoryLogger();
    const ext = createExtAuthorizer({ command: EXT_AUTHZ, logger });
    await ext.authorize(authz("echo/app", ["pull"]));
    const stderr = String(logger.lines[0]?.fields.stderr);
    expect(JSON.parse(stderr)).toEqual({
      Account: "alice",
      Type: "repository",
      Name: "echo/app",
      Service: "registry.test",
      IP: "10.0.0.7",
      Actions: ["pull"],
      Labels: { groups: ["dev"] },
    });
  });
});
