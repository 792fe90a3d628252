// Starts the Koa example: signs with the given key and certificate, writes
// the files the registry trusts (and checks them), then serves on --addr.
import { mkdir, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  assertRegistryTrust,
  createTokenIssuer,
  exportRegistryTrust,
  writeRegistryTrust,
} from "@regauth/token";
import { createApp } from "./app.js";

const usage = `regauth Koa example

usage: pnpm --filter @regauth/example-koa start -- --key KEY --cert CERT --htpasswd FILE [options]

  --key FILE         PEM private key that signs the tokens (EC P-256/384/521 or RSA)
  --cert FILE        PEM certificate of that key (self-signed is fine)
  --htpasswd FILE    users, bcrypt entries (htpasswd -B)
  --addr HOST:PORT   where to listen                              default 127.0.0.1:5001
  --service NAME     the registry's auth.token.service            default registry.local
  --issuer NAME      the registry's auth.token.issuer             default regauth-example
  --trust-dir DIR    where to write rootcertbundle.pem and jwks.json  default .state/example-koa`;

const { values: args } = parseArgs({
  options: {
    key: { type: "string" },
    cert: { type: "string" },
    htpasswd: { type: "string" },
    addr: { type: "string", default: "127.0.0.1:5001" },
    service: { type: "string", default: "registry.local" },
    issuer: { type: "string", default: "regauth-example" },
    "trust-dir": { type: "string", default: ".state/example-koa" },
    help: { type: "boolean", default: false },
  },
  strict: true,
});
if (args.help || !args.key || !args.cert || !args.htpasswd) {
  console.log(usage);
  process.exit(args.help ? 0 : 2);
}
const match = /^(.+):(\d+)$/.exec(args.addr);
if (!match) {
  console.error(`--addr: expected HOST:PORT, got ${JSON.stringify(args.addr)}`);
  process.exit(2);
}
const [, host = "", port = ""] = match;

const issuer = createTokenIssuer({
  issuer: args.issuer,
  privateKey: await readFile(args.key, "utf8"),
  certificateChain: await readFile(args.cert, "utf8"),
});

// What the registry trusts, from the signing key: the rootcertbundle (2.8, 3.x)
// and a JWKS (3.x). Refuse to start if either registry would reject the tokens.
const trust = exportRegistryTrust(issuer);
const trustDir = resolve(args["trust-dir"]);
const rootCertBundlePath = join(trustDir, "rootcertbundle.pem");
await mkdir(trustDir, { recursive: true });
await writeRegistryTrust(trust, { rootCertBundlePath, jwksPath: join(trustDir, "jwks.json") });
await assertRegistryTrust({ issuer, service: args.service, ...trust });

const server = createServer();
await new Promise<void>((ready, fail) => {
  server.once("error", fail);
  server.listen(Number(port), host.replace(/^\[|\]$/g, ""), ready);
});
const { port: bound } = server.address() as AddressInfo;
const origin = `http://${host}:${bound}`;
const realm = `${origin}/registry/auth`;
const app = createApp({
  issuer,
  service: args.service,
  realm,
  rootCertBundle: trust.rootCertBundle ?? "",
  htpasswdPath: args.htpasswd,
});
server.on("request", app.callback());

console.log(`regauth Koa example listening on ${origin}
The registry's config.yml:
auth:
  token:
    realm: ${realm}
    service: ${args.service}
    issuer: ${args.issuer}
    rootcertbundle: ${rootCertBundlePath}`);

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
