import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cleanup } from "./cleanup.js";
import { runChecked } from "./exec.js";
import { peerPath } from "./peers.js";
import { freePort } from "./ports.js";
import { tail } from "./registry.js";

/** The programs {@link startSlapd} runs: pass them to `checkPeers`. */
export const SLAPD_PEERS = ["slapd", "slapadd", "ldapadd", "openssl"] as const;

/** Debian's schema files and modules (packages `slapd`). */
const SCHEMA_DIR = "/etc/ldap/schema";
const MODULE_DIR = "/usr/lib/ldap";

/** Options of {@link startSlapd}. */
export interface SlapdOptions {
  /** A fresh directory for the config, the database and the certificates; the caller removes it. */
  readonly dir: string;
  /** The naming context. Default `dc=example,dc=org`; its entry is made by the harness. */
  readonly suffix?: string;
  /**
   * LDIF loaded with `slapadd` before the first start: the entries below the
   * suffix (`slapadd` bypasses overlays, so `memberOf` is not computed for them).
   */
  readonly seed: string;
  /**
   * LDIF added with `ldapadd` through the running server after the first start,
   * so the `memberOf` overlay sees it: the groups (`groupOfNames` with `member`).
   */
  readonly live?: string;
  /**
   * Also serve TLS: a CA and a server certificate for `127.0.0.1` and
   * `localhost` are made with openssl; the plain port then offers StartTLS and
   * a second port speaks LDAPS. Default `false`.
   */
  readonly tls?: boolean;
  /**
   * slapd's `-d` level: 256 (`stats`) logs every connection and operation, which
   * {@link RunningSlapd.log} and {@link RunningSlapd.acceptedConnections} read;
   * 0 logs nothing (for benchmarks). Default 256.
   */
  readonly logLevel?: number;
  /** How long to wait for slapd to listen, in milliseconds. Default 15 000. */
  readonly startTimeoutMs?: number;
}

/** The CA a TLS-enabled slapd's certificate chains to. */
export interface SlapdCa {
  /** The CA certificate, PEM. */
  readonly pem: string;
  /** Its file. */
  readonly path: string;
}

/** A running OpenLDAP slapd on loopback. */
export interface RunningSlapd {
  /** `ldap://127.0.0.1:PORT` (StartTLS is offered there when TLS is on). */
  readonly url: string;
  readonly port: number;
  /** `ldaps://127.0.0.1:PORT` when TLS is on. */
  readonly ldapsUrl: string | undefined;
  readonly suffix: string;
  /** The `rootdn` and its password: full access, bypasses access control. */
  readonly rootDn: string;
  readonly rootPassword: string;
  /** The CA when TLS is on. */
  readonly ca: SlapdCa | undefined;
  /** Whether the process is running. */
  readonly running: boolean;
  /** Everything slapd printed since it was first started (all runs). */
  log(): string;
  /** The last `lines` lines of the log, for failure messages. Default 40. */
  logTail(lines?: number): string;
  /**
   * The log once slapd has printed nothing new for 50 ms (2 s at most): its
   * lines reach this process a little after the LDAP answers they go with.
   */
  settledLog(): Promise<string>;
  /**
   * How many connections slapd accepted so far (all runs; needs log level 256).
   * The harness's own readiness probes count too: compare two readings.
   */
  acceptedConnections(): number;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s); the data stays. Safe to call twice. */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same data, after {@link RunningSlapd.stop}. */
  start(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP) and resolves once every thread has stopped:
   * connections are then accepted by the kernel, and nothing answers.
   */
  pause(): Promise<void>;
  /** Lets a paused process go on (SIGCONT). */
  resume(): void;
}

/**
 * Starts OpenLDAP's slapd as a plain process on free loopback ports, from a
 * generated slapd.conf (core, cosine, inetorgperson and nis schemas, an mdb
 * database with the `memberof` overlay), loaded with `options.seed` through
 * `slapadd`, then `options.live` through `ldapadd`. Access: passwords can
 * only be used to bind; everything else can be read by anyone.
 *
 * @throws Error when a program fails or slapd does not listen in time, with its log.
 *
 * @example
 * const slapd = await startSlapd({ dir, seed: ldifEntry(`uid=alice,ou=people,${SUFFIX}`, {...}) });
 * cleanup.defer(() => slapd.stop());
 */
export async function startSlapd(options: SlapdOptions): Promise<RunningSlapd> {
  const suffix = options.suffix ?? "dc=example,dc=org";
  const rootDn = `cn=admin,${suffix}`;
  const rootPassword = "slapd-root-password";
  const dataDir = join(options.dir, "data");
  await mkdir(dataDir, { recursive: true });
  const ca = options.tls ? await makeCertificates(options.dir) : undefined;

  const configPath = join(options.dir, "slapd.conf");
  await writeFile(
    configPath,
    slapdConf({ dir: options.dir, dataDir, suffix, rootDn, rootPassword, tls: ca !== undefined }),
  );
  const seedPath = join(options.dir, "seed.ldif");
  await writeFile(seedPath, `${suffixEntry(suffix)}\n${options.seed}`);
  await runChecked(peerPath("slapadd"), ["-f", configPath, "-l", seedPath]);

  const chunks: string[] = [];
  const log = () => chunks.join("");
  const logLevel = String(options.logLevel ?? 256);
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  let child: ChildProcess | undefined;
  let exited: Promise<string> | undefined;
  let ports: { plain: number; ldaps: number | undefined } | undefined;

  async function launch(plain: number, ldaps: number | undefined): Promise<void> {
    const urls = [`ldap://127.0.0.1:${plain}/`];
    if (ldaps !== undefined) urls.push(`ldaps://127.0.0.1:${ldaps}/`);
    const slapd = spawn(
      peerPath("slapd"),
      ["-f", configPath, "-h", urls.join(" "), "-d", logLevel],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    slapd.stdout?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
    slapd.stderr?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
    const done = new Promise<string>((resolve) => {
      slapd.once("exit", (code, signal) => resolve(`exited with ${code ?? signal}`));
      slapd.once("error", (error) => resolve(`could not start: ${error.message}`));
    });
    let exitReason: string | undefined;
    void done.then((reason) => {
      exitReason = reason;
    });
    child = slapd;
    exited = done;
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (exitReason !== undefined) {
        throw new Error(`slapd ${exitReason} before listening\n${tail(log(), 40)}`);
      }
      const listening = await Promise.all(
        [plain, ...(ldaps === undefined ? [] : [ldaps])].map(canConnect),
      );
      if (listening.every(Boolean)) return;
      await sleep(50);
    }
    await stopChild(slapd, done);
    throw new Error(`slapd did not listen on 127.0.0.1:${plain} in time\n${tail(log(), 40)}`);
  }

  let lastError: unknown;
  for (let attempt = 1; attempt <= 3 && ports === undefined; attempt++) {
    const plain = await freePort();
    const ldaps = ca === undefined ? undefined : await freePort();
    try {
      await launch(plain, ldaps);
      ports = { plain, ldaps };
    } catch (error) {
      lastError = error;
      // Only a port taken between freePort() and the bind is worth another try.
      if (!(error instanceof Error) || !/errno=98|address already in use/i.test(error.message)) {
        throw error;
      }
    }
  }
  if (ports === undefined) throw lastError;
  const { plain, ldaps } = ports;

  if (options.live !== undefined) {
    const livePath = join(options.dir, "live.ldif");
    await writeFile(livePath, options.live);
    await runChecked(peerPath("ldapadd"), [
      "-x",
      "-H",
      `ldap://127.0.0.1:${plain}`,
      "-D",
      rootDn,
      "-w",
      rootPassword,
      "-f",
      livePath,
    ]);
  }

  return {
    url: `ldap://127.0.0.1:${plain}`,
    port: plain,
    ldapsUrl: ldaps === undefined ? undefined : `ldaps://127.0.0.1:${ldaps}`,
    suffix,
    rootDn,
    rootPassword,
    ca,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    log,
    logTail: (lines = 40) => tail(log(), lines),
    async settledLog() {
      const deadline = Date.now() + 2_000;
      let length = -1;
      while (length !== chunks.length && Date.now() < deadline) {
        length = chunks.length;
        await sleep(50);
      }
      return log();
    },
    acceptedConnections: () => log().match(/ ACCEPT from /g)?.length ?? 0,
    async stop() {
      if (child !== undefined && exited !== undefined) await stopChild(child, exited);
    },
    async start() {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) return;
      await launch(plain, ldaps);
    },
    async pause() {
      if (child?.pid === undefined) return;
      child.kill("SIGSTOP");
      await allThreadsStopped(child.pid);
    },
    resume() {
      child?.kill("SIGCONT");
    },
  };
}

/**
 * One LDIF entry. Values that LDIF cannot carry as they are (non-ASCII, a
 * leading space, colon or `<`, a trailing space, NUL, line breaks) are written
 * base64-encoded (`attr:: ...`), as RFC 2849 wants.
 *
 * @example
 * ldifEntry("uid=alice,ou=people,dc=example,dc=org", {
 *   objectClass: "inetOrgPerson", uid: "alice", cn: "Alice", sn: "A", userPassword: "pw",
 * });
 */
export function ldifEntry(
  dn: string,
  attributes: Readonly<Record<string, string | readonly string[]>>,
): string {
  const lines = [ldifLine("dn", dn)];
  for (const [name, value] of Object.entries(attributes)) {
    for (const item of typeof value === "string" ? [value] : value)
      lines.push(ldifLine(name, item));
  }
  return `${lines.join("\n")}\n`;
}

function ldifLine(name: string, value: string): string {
  return isSafeString(value)
    ? `${name}: ${value}`
    : `${name}:: ${Buffer.from(value).toString("base64")}`;
}

/**
 * RFC 2849's SAFE-STRING: ASCII without NUL, CR or LF, not starting with a
 * space, `:` or `<`; a trailing space is base64-encoded too, or it would be lost.
 */
function isSafeString(value: string): boolean {
  if (value.startsWith(" ") || value.startsWith(":") || value.startsWith("<")) return false;
  if (value.endsWith(" ")) return false;
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (code === 0 || code === 10 || code === 13 || code > 127) return false;
  }
  return true;
}

function suffixEntry(suffix: string): string {
  const dc = /^dc=([^,]+)/i.exec(suffix)?.[1] ?? "example";
  return ldifEntry(suffix, { objectClass: ["dcObject", "organization"], dc, o: dc });
}

function slapdConf(c: {
  dir: string;
  dataDir: string;
  suffix: string;
  rootDn: string;
  rootPassword: string;
  tls: boolean;
}): string {
  const tls = c.tls
    ? [
        `TLSCACertificateFile ${join(c.dir, "ca.pem")}`,
        `TLSCertificateFile ${join(c.dir, "server.pem")}`,
        `TLSCertificateKeyFile ${join(c.dir, "server-key.pem")}`,
      ]
    : [];
  return [
    ...["core", "cosine", "inetorgperson", "nis"].map((s) => `include ${SCHEMA_DIR}/${s}.schema`),
    `pidfile ${join(c.dir, "slapd.pid")}`,
    `argsfile ${join(c.dir, "slapd.args")}`,
    `modulepath ${MODULE_DIR}`,
    "moduleload back_mdb",
    "moduleload memberof",
    ...tls,
    "database mdb",
    `suffix "${c.suffix}"`,
    `rootdn "${c.rootDn}"`,
    `rootpw ${c.rootPassword}`,
    `directory ${c.dataDir}`,
    "overlay memberof",
    "access to attrs=userPassword by anonymous auth by * none",
    "access to * by * read",
    "",
  ].join("\n");
}

/**
 * Makes, with openssl, an EC P-256 CA and a server certificate it signs for
 * `IP:127.0.0.1` and `DNS:localhost`, in `dir` (`ca.pem`, `server.pem`,
 * `server-key.pem`), valid two days.
 */
export async function makeCertificates(
  dir: string,
  name = "regauth test LDAP CA",
): Promise<SlapdCa> {
  const openssl = peerPath("openssl");
  const file = (base: string) => join(dir, base);
  const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await runChecked(openssl, [
    "req",
    "-x509",
    ...curve,
    "-keyout",
    file("ca-key.pem"),
    "-out",
    file("ca.pem"),
    "-subj",
    `/CN=${name}`,
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await runChecked(openssl, [
    "req",
    "-new",
    ...curve,
    "-keyout",
    file("server-key.pem"),
    "-out",
    file("server.csr"),
    "-subj",
    "/CN=127.0.0.1",
  ]);
  await writeFile(
    file("server.ext"),
    [
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  await runChecked(openssl, [
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca-key.pem"),
    "-CAcreateserial",
    "-out",
    file("server.pem"),
    "-days",
    "2",
    "-extfile",
    file("server.ext"),
  ]);
  return { pem: await readFile(file("ca.pem"), "utf8"), path: file("ca.pem") };
}

/**
 * Waits (2 s at most) until every thread of `pid` is stopped (state `T` in
 * /proc): a signal takes effect when each thread is next scheduled, and a
 * thread that was busy could still answer a request before that.
 */
async function allThreadsStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    try {
      const tasks = await readdir(`/proc/${pid}/task`);
      const states = await Promise.all(
        tasks.map(async (task) => {
          const stat = await readFile(`/proc/${pid}/task/${task}/stat`, "utf8");
          return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
        }),
      );
      if (states.every((state) => state === "T" || state === "t")) return;
    } catch {
      return; // no /proc, or the process is gone: nothing more to wait for
    }
    await sleep(10);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill("SIGCONT"); // a paused slapd cannot act on SIGTERM
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(killer);
}

/** One user of {@link exampleDirectory}. */
export interface ExampleUser {
  readonly account: string;
  readonly password: string;
  readonly dn: string;
}

/**
 * A small directory for the LDAP tests, under `suffix`:
 *
 * - `cn=registry,ou=services`: the service account (`service`);
 * - people (`ou=people`, `inetOrgPerson`, password = `<account>-pw` unless
 *   said): `alice` (groups QA and Dev, mail `alice@example.org`), `bob` (Dev),
 *   `carol` (no group), `quinn` (QA only), `admin` (admins), `jöns` (QA; non-ASCII),
 *   `anna maria` (a space), `star*` (a literal `*`), `back\slash` (a literal
 *   backslash);
 * - `twin` twice: in `ou=people` and in `ou=contractors` (same password), so a
 *   search for it finds two entries;
 * - groups (`ou=groups`, `groupOfNames`, in `live` so the memberOf overlay
 *   fills `memberOf`): `cn=QA`, `cn=Dev`, `cn=admins`.
 */
export function exampleDirectory(suffix = "dc=example,dc=org"): {
  readonly seed: string;
  readonly live: string;
  readonly service: { readonly dn: string; readonly password: string };
  readonly users: Readonly<Record<string, ExampleUser>>;
  readonly groupDn: (cn: string) => string;
} {
  const people = `ou=people,${suffix}`;
  const groups = `ou=groups,${suffix}`;
  const service = { dn: `cn=registry,ou=services,${suffix}`, password: "registry-service-pw" };
  const accounts = [
    "alice",
    "bob",
    "carol",
    "quinn",
    "admin",
    "jöns",
    "anna maria",
    "star*",
    "back\\slash",
  ];
  const users: Record<string, ExampleUser> = {};
  const entries: string[] = [
    ldifEntry(people, { objectClass: "organizationalUnit", ou: "people" }),
    ldifEntry(`ou=contractors,${suffix}`, { objectClass: "organizationalUnit", ou: "contractors" }),
    ldifEntry(groups, { objectClass: "organizationalUnit", ou: "groups" }),
    ldifEntry(`ou=services,${suffix}`, { objectClass: "organizationalUnit", ou: "services" }),
    ldifEntry(service.dn, {
      objectClass: ["organizationalRole", "simpleSecurityObject"],
      cn: "registry",
      userPassword: service.password,
    }),
  ];
  for (const account of accounts) {
    const dn = `uid=${escapeRdnValue(account)},${people}`;
    const password = `${account}-pw`;
    users[account] = { account, password, dn };
    entries.push(
      ldifEntry(dn, {
        objectClass: "inetOrgPerson",
        uid: account,
        cn: account,
        sn: account,
        userPassword: password,
        ...(account === "alice" ? { mail: "alice@example.org" } : {}),
      }),
    );
  }
  for (const ou of ["people", "contractors"]) {
    entries.push(
      ldifEntry(`uid=twin,ou=${ou},${suffix}`, {
        objectClass: "inetOrgPerson",
        uid: "twin",
        cn: `twin in ${ou}`,
        sn: "twin",
        userPassword: "twin-pw",
      }),
    );
  }
  users.twin = { account: "twin", password: "twin-pw", dn: `uid=twin,${people}` };
  const groupDn = (cn: string) => `cn=${cn},${groups}`;
  const member = (account: string) => (users[account] as ExampleUser).dn;
  const live = [
    ldifEntry(groupDn("QA"), {
      objectClass: "groupOfNames",
      cn: "QA",
      member: [member("alice"), member("quinn"), member("jöns")],
    }),
    ldifEntry(groupDn("Dev"), {
      objectClass: "groupOfNames",
      cn: "Dev",
      member: [member("alice"), member("bob")],
    }),
    ldifEntry(groupDn("admins"), {
      objectClass: "groupOfNames",
      cn: "admins",
      member: [member("admin")],
    }),
  ];
  return { seed: entries.join("\n"), live: live.join("\n"), service, users, groupDn };
}

/** RFC 4514 escaping for the test data's DNs (the harness's own, not the library's). */
function escapeRdnValue(value: string): string {
  return value.replace(/[\\,+"<>;=]/g, (char) => `\\${char}`);
}

/**
 * Starts a slapd holding {@link exampleDirectory} in a temporary directory of
 * `cleanup`, stopped by it. `tls` and `logLevel` as in {@link SlapdOptions}.
 */
export async function startExampleSlapd(
  cleanup: Cleanup,
  options: { readonly tls?: boolean; readonly logLevel?: number } = {},
): Promise<{
  readonly slapd: RunningSlapd;
  readonly directory: ReturnType<typeof exampleDirectory>;
}> {
  const dir = await cleanup.tempDir("slapd-");
  const directory = exampleDirectory();
  const slapd = await startSlapd({ dir, seed: directory.seed, live: directory.live, ...options });
  cleanup.defer(() => slapd.stop());
  return { slapd, directory };
}

/** One operation slapd logged at level 256 (`stats`). */
export interface SlapdOperation {
  /** slapd's connection number. */
  readonly conn: number;
  readonly op: number;
  /**
   * `bind` (a bind request, `dn` set), `bound` (a bind that succeeded, with the
   * connection's `ssf`: 0 in clear text, the key size under TLS), `search`
   * (`base` and `filter` set, as slapd normalized it), `starttls`, `result`
   * (`err`: the LDAP result code), `unbind`.
   */
  readonly kind: "bind" | "bound" | "search" | "starttls" | "result" | "unbind";
  readonly dn?: string;
  readonly base?: string;
  readonly filter?: string;
  readonly ssf?: number;
  readonly err?: number;
}

/** The operations in a slapd log (see {@link RunningSlapd.log}), oldest first. */
export function slapdOperations(log: string): SlapdOperation[] {
  const operations: SlapdOperation[] = [];
  for (const line of log.split("\n")) {
    const head = / conn=(\d+) op=(\d+) (.*)$/.exec(line);
    if (head === null) continue;
    const at = { conn: Number(head[1]), op: Number(head[2]) };
    const rest = head[3] as string;
    for (const [pattern, read] of OPERATION_PATTERNS) {
      const match = pattern.exec(rest);
      if (match === null) continue;
      operations.push({ ...at, ...read(match) });
      break;
    }
  }
  return operations;
}

/** How each logged operation reads: a pattern on the text after `op=N`. */
const OPERATION_PATTERNS: ReadonlyArray<
  readonly [RegExp, (match: RegExpExecArray) => Omit<SlapdOperation, "conn" | "op">]
> = [
  [/^BIND dn="(.*)" method=/, (m) => ({ kind: "bind", dn: m[1] as string })],
  [
    /^BIND dn="(.*)" mech=\S+ bind_ssf=\d+ ssf=(\d+)/,
    (m) => ({ kind: "bound", dn: m[1] as string, ssf: Number(m[2]) }),
  ],
  [
    /^SRCH base="(.*)" scope=\d+ deref=\d+ filter="(.*)"$/,
    (m) => ({ kind: "search", base: m[1] as string, filter: m[2] as string }),
  ],
  [/^STARTTLS/, () => ({ kind: "starttls" })],
  [/^RESULT .*err=(\d+)/, (m) => ({ kind: "result", err: Number(m[1]) })],
  [/^UNBIND/, () => ({ kind: "unbind" })],
];
