// Token handler, in process: requests per second and p50/p99 latency for an
// anonymous request, a static bcrypt user (cost 10), and a 1,000-entry ACL
// whose matching entry is the last. Prints figures; asserts nothing.
//
// Run: pnpm bench   (from the repository root)
import { generateKeyPairSync } from "node:crypto";
import { cpus } from "node:os";
import { createStaticAuthenticator, hashPassword } from "@regauth/authn";
import { type AclEntry, createAclAuthorizer } from "@regauth/authz";
import { createTokenHandler, type TokenHandler } from "@regauth/core";
import { createTokenIssuer } from "@regauth/token";
import { Bench } from "tinybench";

const service = "bench-registry";
const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const issuer = createTokenIssuer({
  issuer: "bench",
  privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
});
const password = "bench-password";
const users = {
  "": {},
  alice: { password: await hashPassword(password, 10) },
};
const smallAcl: AclEntry[] = [
  { match: { account: "alice" }, actions: ["*"] },
  { match: { account: "" }, actions: ["pull"] },
];
const bigAcl: AclEntry[] = [];
for (let i = 0; i < 999; i++) {
  bigAcl.push({ match: { account: `user${i}`, name: `team${i}/*` }, actions: ["pull", "push"] });
}
bigAcl.push({ match: { account: "" }, actions: ["pull"], comment: "the one that matches" });

function handler(acl: AclEntry[]): TokenHandler {
  return createTokenHandler({
    authenticators: [createStaticAuthenticator({ users })],
    authorizers: [createAclAuthorizer({ acl })],
    issuer,
    services: [service],
  });
}
const small = handler(smallAcl);
const big = handler(bigAcl);
const url = `http://bench/auth?service=${service}&scope=repository:library/app:pull`;
const basic = `Basic ${Buffer.from(`alice:${password}`).toString("base64")}`;

async function expectOk(response: Response) {
  if (response.status !== 200)
    throw new Error(`status ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

const bench = new Bench({ time: 2000, warmupTime: 300 });
bench
  .add("anonymous, 2-entry ACL", async () => {
    await expectOk(await small(new Request(url)));
  })
  .add("static bcrypt user (cost 10)", async () => {
    await expectOk(await small(new Request(url, { headers: { authorization: basic } })));
  })
  .add("anonymous, 1,000-entry ACL, match last", async () => {
    await expectOk(await big(new Request(url)));
  });

await bench.run();

console.log(
  `token handler in process, sequential (one request in flight); node ${process.version}, ${cpus().length} cores, ${cpus()[0]?.model ?? "cpu"}`,
);
const rows = bench.tasks.map((task) => {
  const result = task.result;
  if (result?.state !== "completed") return { case: task.name, error: String(result?.state) };
  return {
    case: task.name,
    "req/s": Math.round(result.throughput.mean),
    "p50 ms": result.latency.p50.toFixed(3),
    "p99 ms": result.latency.p99.toFixed(3),
    samples: result.latency.samplesCount,
  };
});
console.table(rows);
