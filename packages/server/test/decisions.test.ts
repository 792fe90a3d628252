// docker_auth-format configs give docker_auth's decisions through the served endpoint.
import { hashPassword } from "@regauth/authn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConfiguredHandler,
  createConfiguredHandler,
} from "../src/create-configured-handler.js";
import { loadConfig } from "../src/load-config.js";
import { EXT_AUTH, EXT_AUTHZ, keyDir } from "./support.js";

let dir: string;
let cleanup: () => Promise<void>;
let built: ConfiguredHandler;

const config = (HASH: string) => `
server: {addr: ":5001", real_ip_header: X-Real-IP}
token: {issuer: acme, certificate: signing-cert.pem, key: signing-key.pem}
users:
  admin: {password: "${HASH}"}
  alice: {password: "${HASH}", labels: {groups: [dev, qa]}}
  "": {}
ext_auth: {command: ${EXT_AUTH}}
acl:
  - match: {ip: "192.168.0.0/16"}
    actions: ["*"]
    comment: "the build network does everything"
  - match: {account: admin}
    actions: ["*"]
    comment: admin
  - match: {account: alice, name: "frozen/*"}
    actions: []
    comment: "nobody writes to frozen, alice not even pulls"
  - match: {account: "/^(.+)$/", name: "\${account:1}/*"}
    actions: [pull, push]
    comment: "own namespace"
  - match: {labels: {groups: "/^(dev|ops)$/"}, name: "\${labels:groups}/*"}
    actions: [pull, push, delete]
    comment: "group namespaces"
  - match: {account: "", name: "public/*"}
    actions: [pull]
    comment: "anonymous pulls public"
  - match: {type: repository, name: "ext/*"}
    actions: [pull]
    comment: "ext: pull here, more from ext_authz? no: first match decides"
ext_authz: {command: ${EXT_AUTHZ}}
`;

beforeAll(async () => {
  ({ dir, cleanup } = await keyDir());
  const text = config(await hashPassword("secret", 4));
  built = await createConfiguredHandler(await loadConfig({ text, baseDir: dir }));
});
afterAll(() => cleanup());

async function grant(
  user: string | undefined,
  scopes: string[],
  ip = "10.1.2.3",
): Promise<{ status: number; access?: Array<{ name: string; actions: string[] }> }> {
  const url = new URL("http://auth.test/auth");
  url.searchParams.set("service", "registry.test");
  for (const scope of scopes) url.searchParams.append("scope", scope);
  const headers = new Headers({ "x-real-ip": ip });
  if (user !== undefined) {
    const [name, password] = user.split(":");
    headers.set(
      "authorization",
      `Basic ${Buffer.from(`${name}:${password ?? "secret"}`).toString("base64")}`,
    );
  }
  const response = await built.handler(new Request(url, { headers }));
  const body = (await response.json()) as { token?: string };
  if (!body.token) return { status: response.status };
  const claims = JSON.parse(Buffer.from(body.token.split(".")[1] ?? "", "base64url").toString());
  return { status: response.status, access: claims.access };
}

describe("docker_auth decisions from a YAML config", () => {
  it("first match decides; '*' grants everything requested", async () => {
    expect((await grant("admin", ["repository:frozen/x:pull,push,delete"])).access).toEqual([
      { type: "repository", name: "frozen/x", actions: ["pull", "push", "delete"] },
    ]);
  });

  it("[] is an explicit deny that stops the chain (ext_authz is not asked)", async () => {
    expect((await grant("alice", ["repository:frozen/x:pull"])).access?.[0]?.actions).toEqual([]);
  });

  it("the token gets requested ∩ allowed", async () => {
    expect(
      (await grant("alice", ["repository:alice/app:pull,delete"])).access?.[0]?.actions,
    ).toEqual(["pull"]);
  });

  it("capture placeholders and label placeholders", async () => {
    // ${account:1}: alice owns alice/*, pull and push only
    expect(
      (await grant("alice", ["repository:alice/app:push,delete"])).access?.[0]?.actions,
    ).toEqual(["push"]);
    // ${labels:groups} with a label regex: dev is one of alice's groups
    expect((await grant("alice", ["repository:dev/app:delete"])).access?.[0]?.actions).toEqual([
      "delete",
    ]);
  });

  it("ip ranges come from the trusted header", async () => {
    expect(
      (await grant("alice", ["repository:frozen/x:push"], "192.168.4.4")).access?.[0]?.actions,
    ).toEqual(["push"]);
  });

  it('anonymous: the "" user, then the account "" entries', async () => {
    expect(
      (await grant(undefined, ["repository:public/x:pull,push"])).access?.[0]?.actions,
    ).toEqual(["pull"]);
  });

  it("no acl entry matches: ext_authz decides (0 all, 1 nothing, 2 error)", async () => {
    expect((await grant("admin:secret", ["repository:x/y:pull"])).access?.[0]?.actions).toEqual([
      "pull",
    ]);
    expect(
      (await grant(undefined, ["repository:team/app:pull,push"])).access?.[0]?.actions,
    ).toEqual(["pull", "push"]);
    expect((await grant(undefined, ["repository:denied/app:pull"])).access?.[0]?.actions).toEqual(
      [],
    );
    expect((await grant(undefined, ["repository:broken/app:pull"])).status).toBe(503);
  });

  it("authenticators: users, then ext_auth (labels from the program)", async () => {
    expect((await grant("admin:wrong", ["repository:x/y:pull"])).status).toBe(401);
    expect((await grant("allow:x", ["repository:dev/y:push"])).access?.[0]?.actions).toEqual([
      "push",
    ]);
    expect((await grant("deny:x", [])).status).toBe(401);
    expect((await grant("broken:x", [])).status).toBe(503);
  });

  it("real_ip_header is required when configured; other paths are 404", async () => {
    const response = await built.handler(new Request("http://auth.test/auth?service=s"));
    expect(response.status).toBe(400);
    const other = await built.handler(
      new Request("http://auth.test/v2/", { headers: { "x-real-ip": "1.2.3.4" } }),
    );
    expect(other.status).toBe(404);
  });
});
