// The main job (scripts/serve): `regauth serve` with its development default,
// plus, with --registry, a docker-registry 2.8 that trusts it and a demo image
// to push. All token-server logic lives in @regauth/server; this file only adds
// the registry.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureDevConfig, main } from "@regauth/server";
import { buildOciImage } from "./demo-image.js";

const here = dirname(fileURLToPath(import.meta.url));
const usage = `regauth standalone example: \`regauth serve\` (development default) + docker-registry

usage: scripts/serve [options]     (scripts/serve always adds --registry)

  --addr HOST:PORT        where the token server listens (loopback only)   default 127.0.0.1:5001
  --state-dir DIR         key, certificate, users and config (regauth.yml) default .state/standalone
  --service NAME          the registry's auth.token.service                default regauth-dev-registry
  --issuer NAME           the registry's auth.token.issuer                 default regauth-dev
  --x5c                   also send the certificate in the tokens (x5c)
  --registry              also run docker-registry in token mode, trusting this server
  --registry-addr H:P     where that registry listens                      default 127.0.0.1:5000
  --help                  this text`;

function parseCommandLine() {
  try {
    return parseArgs({
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
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}
const args = parseCommandLine();
if (args.help) {
  console.log(usage);
  process.exit(0);
}

const stateDir = resolve(args["state-dir"]);
const serveArgs = [
  "serve",
  "--addr",
  args.addr,
  "--state-dir",
  stateDir,
  "--service",
  args.service,
  "--issuer",
  args.issuer,
  ...(args.x5c ? ["--x5c"] : []),
];

let registry: ChildProcess | undefined;
let stopping = false;

/** Waits until the registry answers `GET /v2/` with its 401 token challenge (10 s at most). */
async function waitForRegistry(addr: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://${addr}/v2/`);
      if (response.headers.get("www-authenticate")?.startsWith("Bearer ")) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  console.error(`docker-registry did not answer on ${addr} within 10 s`);
  process.exit(1);
}
if (args.registry) {
  // The same development state `regauth serve` will use (made now if missing).
  const dev = await ensureDevConfig({
    stateDir,
    addr: args.addr,
    service: args.service,
    issuer: args.issuer,
    x5c: args.x5c,
  });
  // A one-layer image to push by hand: no image can be pulled from the internet here.
  const demoImage = (await buildOciImage(join(stateDir, "demo-image"))).reference;
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
auth:
  token:
    realm: http://${args.addr}/auth
    service: ${dev.service}
    issuer: ${dev.issuer}
    rootcertbundle: ${dev.certificatePath}
`,
  );
  registry = spawn("docker-registry", ["serve", registryConfig], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  registry.once("error", (error) => {
    console.error(
      `could not start docker-registry (install it with scripts/install-peers): ${error.message}`,
    );
    process.exit(1);
  });
  // A registry that dies (its port taken, a bad config) ends the main job: the
  // skopeo lines below would otherwise talk to whatever else listens there.
  registry.once("exit", (code, signal) => {
    if (stopping) return;
    console.error(
      `docker-registry exited (${signal ?? `code ${code}`}); see its log above. Is ${args["registry-addr"]} taken? Try --registry-addr.`,
    );
    process.exit(1);
  });
  process.once("exit", () => registry?.kill("SIGTERM"));
  await waitForRegistry(args["registry-addr"]);
  console.log(`docker-registry is running on http://${args["registry-addr"]} (config ${registryConfig}). Try:
  skopeo copy --dest-tls-verify=false --dest-creds admin:${dev.credentials.admin} \\
    ${demoImage} docker://${args["registry-addr"]}/demo/app:latest
  skopeo inspect --tls-verify=false --creds reader:${dev.credentials.reader} \\
    docker://${args["registry-addr"]}/demo/app:latest`);
}

// Serves until SIGTERM or SIGINT (regauth drains its requests), then stops the registry.
const code = await main(serveArgs);
stopping = true;
registry?.kill("SIGTERM");
process.exit(code);
