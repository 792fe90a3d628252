// Speed of the token handler against the limit, in one run on this machine
// (issue 8). Prints figures; asserts nothing.
//
// - The limit: a bare node:crypto ES256 sign loop (the signing input of a real
//   token, `ieee-p1363`), run through the same fixed-concurrency loop as the
//   handler, on one event loop like the handler.
// - Each case through the token endpoint in this process (a loop keeping
//   CONCURRENCY requests in flight; `createTokenEndpoint`, what the node:http,
//   Express and Koa adapters call, and for one row the Web handler with its
//   Request and Response) and over HTTP on loopback (`createTokenHandler`
//   behind `@regauth/core/node` in a child process, loaded by autocannon from
//   this one with CONCURRENCY connections): requests per second, p50/p99
//   latency, and each figure as a ratio to the limit's.
// - Returning users' latency while 20 first-contact logins per second (bcrypt
//   every time) run beside them on the same server.
//
// Run: pnpm bench   (from the repository root; LDAP and MongoDB rows need
// scripts/install-peers, else they print "n/a (peer missing)")
// BENCH_SECONDS=N sets the time per cell (default 3).
import { fork } from "node:child_process";
import { createPrivateKey, sign } from "node:crypto";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import type { TokenEndpoint, TokenHandler } from "@regauth/core";
import { createTokenIssuer } from "@regauth/token";
import { Cleanup } from "../test/support/cleanup.js";
import { BCRYPT_COST, type BenchSetup, prepareBackends } from "./support/backends.js";
import { buildCases, CASES, type CaseSpec, QUERY, SERVICE } from "./support/cases.js";
import { watchOtherCpu } from "./support/cpu.js";
import { type Figures, measureHttp, measureInProcess } from "./support/measure.js";
import { formatCount, formatMs, formatPercent, formatTimes, printTable } from "./support/table.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? "3");
const WARMUP_SECONDS = 0.5;
const CONCURRENCY = 16;
/** First-contact logins per second beside the returning users. */
const FIRST_CONTACT_RATE = 20;
const LOAD_SECONDS = Math.max(SECONDS * 2, 4);

const progress = (message: string) => process.stderr.write(`${message}\n`);
const began = performance.now();

/** One cell's outcome: figures, or why there are none. */
type Cell = Figures | string;

const cleanup = new Cleanup();
try {
  progress("speed bench: starting slapd and FerretDB, hashing the password...");
  const setup = await prepareBackends(cleanup);
  const server = startServer(setup, cleanup);
  const local = await buildCases(setup);
  cleanup.defer(() => local.close());
  const { port, drain } = await server;

  const unavailable = (spec: CaseSpec): string | undefined => {
    const backend = spec.backend === undefined ? undefined : setup[spec.backend];
    if (backend === undefined || backend.available) return undefined;
    return backend.reason.startsWith("peer missing") ? "n/a (peer missing)" : "n/a (failed)";
  };
  const notes: string[] = [];
  for (const backend of [setup.ldap, setup.mongo]) {
    if (!backend.available) notes.push(backend.reason);
  }

  const otherCpu = watchOtherCpu();
  progress("limit: node:crypto ES256 sign loop");
  const limit = await measureInProcess(await signLoop(setup), {
    concurrency: CONCURRENCY,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
  });

  const inProcess = new Map<string, Cell>();
  for (const spec of CASES) {
    if (spec.httpFloor) continue;
    const reason = unavailable(spec);
    const handler = local.handlers.get(spec.id);
    const endpoint = local.endpoints.get(spec.id);
    if (reason !== undefined || handler === undefined || endpoint === undefined) {
      inProcess.set(spec.id, reason ?? "n/a");
      continue;
    }
    progress(`in process: ${spec.label.trim()}`);
    const authorization = local.authorization.get(spec.id);
    const task = spec.web
      ? handlerTask(handler, spec.id, authorization)
      : endpointTask(endpoint, spec.id, authorization);
    const check = await probe(task);
    if (check !== undefined) {
      inProcess.set(spec.id, check);
      continue;
    }
    inProcess.set(
      spec.id,
      await measureInProcess(task, {
        concurrency: CONCURRENCY,
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
      }),
    );
  }

  const urlOf = (id: string) => `http://127.0.0.1:${port}/${id}/auth?${QUERY}`;
  const headersOf = (id: string): Record<string, string> => {
    const authorization = local.authorization.get(id);
    return authorization === undefined ? {} : { authorization };
  };
  const overHttp = new Map<string, Cell>();
  for (const spec of CASES) {
    const reason = unavailable(spec);
    if (spec.web) continue;
    if (reason !== undefined || typeof inProcess.get(spec.id) === "string") {
      overHttp.set(spec.id, reason ?? "n/a");
      continue;
    }
    progress(`over HTTP: ${spec.label}`);
    const load = { url: urlOf(spec.id), headers: headersOf(spec.id), connections: CONCURRENCY };
    await measureHttp({ ...load, seconds: 1 }); // warm-up, discarded
    const before = await drain();
    const figures = await measureHttp({ ...load, seconds: SECONDS });
    const after = await drain();
    const cpuMicros =
      (after.cpuMicros - before.cpuMicros) / Math.max(1, after.served - before.served);
    overHttp.set(spec.id, { ...figures, cpuMicros });
  }

  progress(
    `over HTTP: returning users with ${FIRST_CONTACT_RATE} first-contact logins/s beside them`,
  );
  const [returningUnderLoad, firstContact] = await Promise.all([
    measureHttp({
      url: urlOf("static-returning"),
      headers: headersOf("static-returning"),
      connections: CONCURRENCY,
      seconds: LOAD_SECONDS,
    }),
    measureHttp({
      url: urlOf("static-first"),
      headers: headersOf("static-first"),
      connections: FIRST_CONTACT_RATE,
      seconds: LOAD_SECONDS,
      overallRate: FIRST_CONTACT_RATE,
    }),
  ]);

  const othersShare = otherCpu.stop();
  report({ limit, inProcess, overHttp, returningUnderLoad, firstContact, notes, othersShare });
} finally {
  await cleanup.run();
}

/** The limit's task: one ES256 signature over a real token's signing input. */
async function signLoop(setup: BenchSetup): Promise<() => Promise<boolean>> {
  const key = createPrivateKey(setup.privateKeyPem);
  const issuer = createTokenIssuer({ issuer: "bench", privateKey: key });
  const { token } = await issuer.issue({
    subject: "alice",
    audience: SERVICE,
    access: [{ type: "repository", name: "library/app", actions: ["pull"] }],
  });
  const input = Buffer.from(token.slice(0, token.lastIndexOf(".")), "ascii");
  return async () => {
    sign("sha256", input, { key, dsaEncoding: "ieee-p1363" });
    return true;
  };
}

/** One GET token request to `endpoint`, as the node:http adapter makes it; true for 200. */
function endpointTask(
  endpoint: TokenEndpoint,
  id: string,
  authorization: string | undefined,
): () => Promise<boolean> {
  const target = `/${id}/auth?${QUERY}`;
  return async () => {
    const reply = await endpoint({
      method: "GET",
      target,
      header: (name) => (name === "authorization" ? authorization : undefined),
      clientIp: "127.0.0.1",
    });
    return reply.status === 200;
  };
}

/** One GET token request to the Web `handler`, body read; true for 200. */
function handlerTask(
  handler: TokenHandler,
  id: string,
  authorization: string | undefined,
): () => Promise<boolean> {
  const url = `http://bench/${id}/auth?${QUERY}`;
  return async () => {
    const response = await handler(
      new Request(url, authorization === undefined ? {} : { headers: { authorization } }),
    );
    await response.arrayBuffer();
    return response.status === 200;
  };
}

/** One request first: `undefined` when it got a token, else what went wrong. */
async function probe(task: () => Promise<boolean>): Promise<string | undefined> {
  try {
    return (await task()) ? undefined : "n/a (no token)";
  } catch (error) {
    return `n/a (${(error as Error).message})`;
  }
}

/** The server's CPU time so far (all threads) and how many requests it has answered. */
interface ServerUsage {
  readonly served: number;
  readonly cpuMicros: number;
}

/**
 * Forks the HTTP server (support/http-server.ts) and resolves with its port
 * and `drain()`, which resolves once the server has no request in flight,
 * with its {@link ServerUsage}.
 */
function startServer(
  setup: BenchSetup,
  cleanup: Cleanup,
): Promise<{ port: number; drain: () => Promise<ServerUsage> }> {
  const child = fork(fileURLToPath(new URL("./support/http-server.ts", import.meta.url)), {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanup.defer(async () => {
    if (child.connected) child.disconnect();
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(killer);
  });
  const drain = () =>
    new Promise<ServerUsage>((resolve) => {
      const onMessage = (message: { drained?: boolean } & ServerUsage) => {
        if (message.drained !== true) return;
        child.off("message", onMessage);
        resolve({ served: message.served, cpuMicros: message.cpuMicros });
      };
      child.on("message", onMessage);
      child.send({ drain: true });
    });
  return new Promise((resolve, reject) => {
    child.once("message", (message: { port?: number; error?: string }) => {
      if (message.port !== undefined) resolve({ port: message.port, drain });
      else reject(new Error(`bench server failed: ${message.error}`));
    });
    void exited.then(() => reject(new Error("bench server exited before listening")));
    child.send(setup);
  });
}

function report(results: {
  limit: Figures;
  inProcess: ReadonlyMap<string, Cell>;
  overHttp: ReadonlyMap<string, Cell>;
  returningUnderLoad: Figures;
  firstContact: Figures;
  notes: string[];
  othersShare: number | undefined;
}): void {
  const { limit, inProcess, overHttp, returningUnderLoad, firstContact, notes, othersShare } =
    results;
  const cpu = cpus();
  const failures: string[] = [];
  const limitCpu = limit.cpuMicros ?? Number.NaN;
  const cells = (label: string, where: string, cell: Cell | undefined, cpu: boolean): string[] => {
    const blanks = cpu ? ["", "", "", ""] : ["", "", ""];
    if (cell === undefined) return blanks;
    if (typeof cell === "string") return [cell, ...blanks.slice(1)];
    if (cell.failures > 0) failures.push(`${label}, ${where}: ${cell.failures} failed requests`);
    const figures = [
      `${formatCount(cell.perSecond)} (${formatPercent(cell.perSecond / limit.perSecond)})`,
      `${formatMs(cell.p50)} (${formatTimes(cell.p50 / limit.p50)})`,
      `${formatMs(cell.p99)} (${formatTimes(cell.p99 / limit.p99)})`,
    ];
    if (!cpu) return figures;
    const micros = cell.cpuMicros ?? Number.NaN;
    return [...figures, `${formatCount(micros)} (${formatTimes(micros / limitCpu)})`];
  };

  console.log();
  console.log(
    `regauth token handler, GET with one scope, ES256 tokens; node ${process.version}, ` +
      `${cpu.length} cores, ${cpu[0]?.model.trim() ?? "unknown CPU"}; ${SECONDS} s per cell`,
  );
  console.log(
    `in process: the token endpoint (createTokenEndpoint, what the node:http, Express and Koa ` +
      `adapters call), ${CONCURRENCY} requests in flight (a fixed-concurrency loop); HTTP: ` +
      `createTokenHandler behind toNodeListener, autocannon, ${CONCURRENCY} keep-alive ` +
      "connections, server in a child process on 127.0.0.1",
  );
  console.log(
    "ratios: req/s as a share of the limit's, latency and CPU time as multiples of the " +
      `limit's (the limit runs in the same ${CONCURRENCY}-in-flight loop); CPU µs/req: the ` +
      "serving process's CPU time (all threads) per request, which other load on the machine " +
      "barely moves (over HTTP: the server's, not autocannon's)",
  );
  console.log();
  const rows: string[][] = [
    [
      "limit: bare node:crypto ES256 sign loop",
      ...cells("limit", "in process", limit, true),
      ...cells("limit", "over HTTP", undefined, true),
    ],
  ];
  for (const spec of CASES) {
    rows.push([
      spec.label,
      ...cells(spec.label, "in process", inProcess.get(spec.id), true),
      ...cells(spec.label, "over HTTP", overHttp.get(spec.id), true),
    ]);
  }
  printTable(
    [
      "case",
      "req/s (% limit)",
      "p50 ms (x)",
      "p99 ms (x)",
      "CPU µs/req (x)",
      "req/s (% limit)",
      "p50 ms (x)",
      "p99 ms (x)",
    ],
    rows,
    [
      { title: "", span: 1 },
      { title: `in process, ${CONCURRENCY} in flight`, span: 4 },
      { title: `HTTP loopback, ${CONCURRENCY} connections`, span: 4 },
    ],
  );
  console.log(
    `one signature: ${formatCount(limitCpu)} µs of CPU; bcrypt cost ${BCRYPT_COST}; ` +
      "first contact = credential cache off, so every request verifies the password",
  );

  const alone = overHttp.get("static-returning");
  console.log();
  console.log(
    `returning static users over HTTP (${CONCURRENCY} connections) with ${FIRST_CONTACT_RATE} ` +
      `first-contact logins/s beside them on the same server (a handler with the cache off, ` +
      `${FIRST_CONTACT_RATE} connections), ${LOAD_SECONDS} s:`,
  );
  const loadRow = (label: string, cell: Cell | undefined): string[] =>
    cell === undefined || typeof cell === "string"
      ? [label, String(cell ?? "-"), "", ""]
      : [label, formatCount(cell.perSecond), formatMs(cell.p50), formatMs(cell.p99)];
  if (returningUnderLoad.failures > 0) {
    failures.push(`returning under load: ${returningUnderLoad.failures} failed requests`);
  }
  if (firstContact.failures > 0) {
    failures.push(`first contact under load: ${firstContact.failures} failed requests`);
  }
  printTable(
    ["", "req/s", "p50 ms", "p99 ms"],
    [
      loadRow("returning users, alone (row above)", alone),
      loadRow("returning users, with first-contact load", returningUnderLoad),
      [
        "first-contact logins beside them",
        firstContact.perSecond.toFixed(1),
        formatMs(firstContact.p50),
        formatMs(firstContact.p99),
      ],
    ],
  );

  const figure = (map: ReadonlyMap<string, Cell>, id: string) => {
    const cell = map.get(id);
    return typeof cell === "object" ? cell : undefined;
  };
  const verdict = (met: boolean) => (met ? "met" : "NOT met");
  console.log();
  console.log("targets (issue 8):");
  const returning = figure(inProcess, "static-returning");
  const returningHttp = figure(overHttp, "static-returning");
  if (returning && returningHttp) {
    const share = returning.perSecond / limit.perSecond;
    const shareHttp = returningHttp.perSecond / limit.perSecond;
    const shareCpu = limitCpu / (returning.cpuMicros ?? Number.NaN);
    const shareCpuHttp = limitCpu / (returningHttp.cpuMicros ?? Number.NaN);
    console.log(
      `- returning static user >= 50% of the limit: req/s ${formatPercent(share)} in process ` +
        `(${verdict(share >= 0.5)}), ${formatPercent(shareHttp)} over HTTP (${verdict(shareHttp >= 0.5)}); ` +
        `by CPU time per request ${formatPercent(shareCpu)} in process (${verdict(shareCpu >= 0.5)}), ` +
        `${formatPercent(shareCpuHttp)} over HTTP (${verdict(shareCpuHttp >= 0.5)})`,
    );
    const floor = figure(overHttp, "http-floor");
    if (floor) {
      console.log(
        `  over HTTP, node:http alone (the floor row) serves ${formatCount(floor.perSecond)} ` +
          `req/s (${formatPercent(floor.perSecond / limit.perSecond)} of the limit) at ` +
          `${formatCount(floor.cpuMicros ?? Number.NaN)} µs of CPU each; returning users reach ` +
          `${formatPercent(returningHttp.perSecond / floor.perSecond)} of its req/s`,
      );
    }
  }
  const slowdown = (map: ReadonlyMap<string, Cell>, id: string) => {
    const one = figure(map, "static-returning");
    const many = figure(map, id);
    return one && many ? 1 - many.perSecond / one.perSecond : Number.NaN;
  };
  const cpuIncrease = (id: string) => {
    const one = figure(inProcess, "static-returning")?.cpuMicros;
    const many = figure(inProcess, id)?.cpuMicros;
    return one !== undefined && many !== undefined ? many / one - 1 : Number.NaN;
  };
  const slower = (value: number) =>
    `${formatPercent(Math.abs(value))} ${value < 0 ? "faster" : "slower"}`;
  const costlier = (value: number) =>
    `${formatPercent(Math.abs(value))} ${value < 0 ? "less" : "more"}`;
  const aclLocal = slowdown(inProcess, "acl-10k");
  const aclHttp = slowdown(overHttp, "acl-10k");
  const aclCpu = cpuIncrease("acl-10k");
  console.log(
    `- 10,000-entry ACL at most 10% slower than 1 entry: req/s ${slower(aclLocal)} in process ` +
      `(${verdict(aclLocal <= 0.1)}), ${slower(aclHttp)} over HTTP (${verdict(aclHttp <= 0.1)}); ` +
      `CPU per request ${costlier(aclCpu)} in process (${verdict(aclCpu <= 0.1)}). With no entry ` +
      `indexable: req/s ${slower(slowdown(inProcess, "acl-10k-glob"))} in process, CPU per ` +
      `request ${formatTimes(cpuIncrease("acl-10k-glob") + 1)}`,
  );
  console.log(
    `- returning users' p99 under ${FIRST_CONTACT_RATE} first-contact logins/s < 50 ms: ` +
      `${formatMs(returningUnderLoad.p99)} ms (${verdict(returningUnderLoad.p99 < 50)})`,
  );
  for (const note of [...notes, ...failures]) console.log(`note: ${note}`);
  if (othersShare !== undefined) {
    console.log(
      `other processes used ${formatPercent(othersShare)} of this machine's CPU (all cores) ` +
        "while the bench measured; anything above a few percent makes every figure low and noisy",
    );
  }
  console.log(`(bench ran ${((performance.now() - began) / 1000).toFixed(0)} s)`);
}
