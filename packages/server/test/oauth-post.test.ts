// The OAuth2 POST grant through a docker_auth-style config without
// `token.services`: the service is read from the form body.
import { hashPassword } from "@regauth/authn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConfiguredHandler,
  createConfiguredHandler,
} from "../src/create-configured-handler.js";
import { loadConfig } from "../src/load-config.js";
import { keyDir } from "./support.js";

let dir: string;
let cleanup: () => Promise<void>;
let built: ConfiguredHandler;

beforeAll(async () => {
  ({ dir, cleanup } = await keyDir());
  const hash = await hashPassword("secret", 4);
  const text = `
server: {addr: "127.0.0.1:5001"}
token: {issuer: acme, certificate: signing-cert.pem, key: signing-key.pem}
users:
  alice: {password: "${hash}"}
acl:
  - match: {account: alice}
    actions: [pull]
`;
  built = await createConfiguredHandler(await loadConfig({ text, baseDir: dir }));
});
afterAll(async () => {
  await built.close();
  await cleanup();
});

const post = (body: string, query = "") =>
  built.handler(
    new Request(`http://auth.test/auth${query}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    }),
  );

describe("POST through a config without token.services", () => {
  it("issues a token for the service named in the body", async () => {
    const response = await post(
      "grant_type=password&username=alice&password=secret&service=reg.example&scope=repository:app:pull,push",
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe("repository:app:pull");
    const claims = JSON.parse(
      Buffer.from(body.access_token.split(".")[1] ?? "", "base64url").toString(),
    ) as { aud: string };
    expect(claims.aud).toBe("reg.example");
  });

  it("takes the service from the realm's query too", async () => {
    const response = await post(
      "grant_type=password&username=alice&password=secret",
      "?service=reg.example",
    );
    expect(response.status).toBe(200);
  });

  it("answers 400 invalid_grant for a wrong password, and 413 for a large body", async () => {
    const wrong = await post("grant_type=password&username=alice&password=nope&service=r");
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: "invalid_grant" });
    const big = await post(`grant_type=password&service=r&pad=${"x".repeat(70_000)}`);
    expect(big.status).toBe(413);
  });
});
