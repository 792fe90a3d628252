// Checks the e2e harness itself, with no regauth package but the core's node
// adapter: the image it builds is a valid OCI layout, the registry it starts asks
// for Bearer tokens at our realm, and skopeo reaches the token server.
import { join } from "node:path";
import { buildOciImage } from "@regauth/example-standalone/demo-image";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "../support/cleanup.js";
import { checkPeers } from "../support/peers.js";
import { type Stack, startStack } from "../support/stack.js";

const peers = checkPeers("docker-registry", "skopeo", "openssl");

describe.skipIf(!peers.ok)("e2e harness", () => {
  const cleanup = new Cleanup();
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      cleanup,
      // A token server that refuses everyone, as docker_auth does for bad credentials.
      createHandler: () => async () =>
        Response.json(
          { details: "harness refuses everyone" },
          { status: 401, headers: { "WWW-Authenticate": 'Basic realm="harness"' } },
        ),
    });
  });
  afterAll(() => cleanup.run());

  it("builds an OCI layout that skopeo reads with the expected digest", async () => {
    const dir = join(stack.workDir, "layout");
    const image = await buildOciImage(dir);
    const again = await buildOciImage(join(stack.workDir, "layout-again"));
    expect(again.manifestDigest, "buildOciImage is deterministic").toBe(image.manifestDigest);
    const inspected = await stack.skopeo.inspect(image.reference);
    expect(inspected.code, stack.diagnostics()).toBe(0);
    expect(inspected.digest).toBe(image.manifestDigest);
  });

  it("starts a registry that challenges for a Bearer token at our realm", async () => {
    const response = await fetch(`${stack.registry.url}/v2/`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      `Bearer realm="${stack.tokens.realm}",service="${stack.service}"`,
    );
  });

  it("lets skopeo reach the token server, which records the request without credentials", async () => {
    stack.tokens.clear();
    const image = await buildOciImage(join(stack.workDir, "push"));
    const result = await stack.skopeo.copy(image.reference, stack.imageRef("harness/demo"), {
      destCreds: { username: "someone", password: "secret-password" },
    });
    expect(result.code, stack.diagnostics()).not.toBe(0);
    expect(result.stderr, stack.diagnostics()).toMatch(/invalid username\/password/);
    const seen = stack.tokens.requests.find((r) => r.path === "/auth");
    expect(seen, stack.diagnostics()).toMatchObject({
      method: "GET",
      account: "someone",
      authorization: "basic",
      status: 401,
    });
    expect(seen?.scopes).toEqual(["repository:harness/demo:pull,push"]);
    expect(stack.tokens.describe()).not.toContain("secret-password");
    expect(JSON.stringify(stack.skopeo.history)).not.toContain("secret-password");
  });
});
