import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { isIP } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createStaticAuthenticator, type StaticUser } from "@regauth/authn";
import { type AclEntry, createAclAuthorizer } from "@regauth/authz";
import { createTokenHandler } from "@regauth/core";
import { toNodeListener } from "@regauth/core/node";
import { createTokenIssuer } from "@regauth/token";
import { pino } from "pino";
import { parse } from "yaml";
import { z } from "zod";
import { buildOciImage } from "./demo-image.js";
import { ensureDevState } from "./dev-state.js";

const here = dirname(fileURLToPath(import.meta.url));
const usage = `regauth standalone example (development default)

usage: pnpm serve [-- options]

  --addr HOST:PORT        where the token server listens (loopback only)   default 127.0.0.1:5001
  --state-dir DIR         key, certificate, users and ACL, made on first run default .state/standalone
  --service NAME          the registry's auth.token.service                default regauth-dev-registry
  --issuer NAME           the registry's auth.token.issuer                 default regauth-dev
  --x5c                   put the certificate in the token (x5c) instead of a libtrust kid
  --registry              also run docker-registry in token mode, trusting this server
  --registry-addr H:P     where that registry listens                      default 127.0.0.1:5000
  --help                  this text`;

const { values: args } = parseArgs({
  options: {
    addr: { type: "string", default: "127.0.0.1:5001" },
    "state-dir": { type: "string", default: resolve(here, "../../../.state/standalone") },
    service: { type: "string", default: "regauth-dev-registry" },
    issuer: { type: "string", default: "regauth-dev" },
    x5c: { type: "boolean", default: false },
    registry: { type: "boolean", default: false },
    "registry-addr": { type: "string", default: "127.0.0.1:5000" },
    help: { type: "boolean", default: false },
  },
  strict: true,
});
if (args.help) {
  console.log(usage);
  process.exit(0);
}

function loopbackAddress(value: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const loopback =
    host === "localhost" || host === "::1" || (isIP(host ?? "") === 4 && host?.startsWith("127."));
  if (!host || !loopback || !(port > 0 && port < 65536)) {
    console.error(
      `${flag}: expected a loopback HOST:PORT such as 127.0.0.1:5001, got ${JSON.stringify(value)}; the development default never listens beyond this machine`,
    );
    process.exit(2);
  }
  return { host, port };
}

const listen = loopbackAddress(args.addr, "--addr");
const stateDir = resolve(args["state-dir"]);
const log = pino({ level: process.env.LOG_LEVEL ?? "info" });
const state = await ensureDevState(stateDir);

// The file's two sections; each factory validates its own section in depth and
// names the bad field, so only the outline is checked here.
const configSchema = z.strictObject({
  users: z.record(z.string(), z.custom<StaticUser>()),
  acl: z.array(z.custom<AclEntry>()),
});
const config = configSchema.parse(parse(await readFile(state.configPath, "utf8")));

const handler = createTokenHandler({
  authenticators: [createStaticAuthenticator({ users: config.users })],
  authorizers: [createAclAuthorizer({ acl: config.acl })],
  issuer: createTokenIssuer({
    issuer: args.issuer,
    privateKey: state.privateKeyPem,
    certificateChain: state.certificatePem,
    keyId: args.x5c ? "none" : "libtrust",
    x5c: args.x5c,
  }),
  services: [args.service],
  realm: "regauth development",
  logger: log,
});

const routes = new Set(["/auth", "/auth/token"]);
const listener = toNodeListener(async (request, context) => {
  if (!routes.has(new URL(request.url).pathname)) {
    return Response.json(
      { errors: [{ code: "NOT_FOUND", message: "not found" }] },
      { status: 404 },
    );
  }
  return handler(request, context);
});
const server = createServer(listener);
await new Promise<void>((ready, fail) => {
  server.once("error", fail);
  server.listen(listen.port, listen.host, ready);
});

const hostForUrl = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
const realm = `http://${hostForUrl}:${listen.port}/auth`;
const tokenBlock = `auth:
  token:
    realm: ${realm}
    service: ${args.service}
    issuer: ${args.issuer}
    rootcertbundle: ${state.certificatePath}`;

let registry: ChildProcess | undefined;
let demoImage: string | undefined;
if (args.registry) {
  // A one-layer image to push by hand: no image can be pulled from the internet here.
  demoImage = (await buildOciImage(join(stateDir, "demo-image"))).reference;
  const registryAddr = loopbackAddress(args["registry-addr"], "--registry-addr");
  const registryDir = join(stateDir, "registry");
  await mkdir(join(registryDir, "storage"), { recursive: true });
  const registryConfig = join(registryDir, "config.yml");
  await writeFile(
    registryConfig,
    `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${join(registryDir, "storage")}
  delete:
    enabled: true
http:
  addr: ${args["registry-addr"]}
${tokenBlock}
`,
  );
  registry = spawn("docker-registry", ["serve", registryConfig], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  registry.once("error", (error) => {
    log.error(
      { err: error },
      "could not start docker-registry (install it with scripts/install-peers)",
    );
    process.exit(1);
  });
  log.info(
    { addr: `${registryAddr.host}:${registryAddr.port}`, config: registryConfig },
    "docker-registry started",
  );
}

const credentials = Object.entries(state.credentials)
  .map(([account, password]) => `    ${account}: ${password}`)
  .join("\n");
console.log(`
================================================================================
  WARNING: DEVELOPMENT DEFAULTS. The signing key, certificate and passwords in
  ${stateDir}
  are made for trying regauth on this machine. Do not use them in production.
================================================================================

regauth token server listening on ${realm}
${state.created ? "made new" : "reusing"} development state in ${stateDir}

Users (anonymous requests are refused):
${credentials}
  admin may push, pull, delete and list the catalog; reader may only pull.

Paste this into the registry's config.yml (docker-registry 2.8):
${tokenBlock}
${
  args.registry
    ? `
docker-registry is running on http://${args["registry-addr"]} with that block. Try:
  skopeo copy --dest-tls-verify=false --dest-creds admin:${state.credentials.admin} \\
    ${demoImage} docker://${args["registry-addr"]}/demo/app:latest
  skopeo inspect --tls-verify=false --creds reader:${state.credentials.reader} \\
    docker://${args["registry-addr"]}/demo/app:latest`
    : ""
}
`);

let stopping = false;
function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "stopping");
  registry?.kill("SIGTERM");
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
