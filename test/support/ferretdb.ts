import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cleanup } from "./cleanup.js";
import { checkPeers, type PeerCheck, peerPath } from "./peers.js";
import { freePort } from "./ports.js";
import { tail } from "./registry.js";

/**
 * The MongoDB-protocol server the suites talk to: with `MONGODB_URI` set, that
 * server (a real MongoDB, or anything speaking its protocol); otherwise a
 * FerretDB 1.24 started by {@link startMongoServer}, installed by
 * `scripts/install-peers`. In CI (`CI` set) a missing ferretdb fails the
 * suite instead of skipping it.
 *
 * @example
 * const mongo = checkMongoServer();
 * describe.skipIf(!mongo.ok)("...", () => { ... });
 */
export function checkMongoServer(): PeerCheck & { readonly external: string | undefined } {
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== "") {
    return { ok: true, paths: {}, missing: [], reason: "", external };
  }
  return { ...checkPeers("ferretdb"), external: undefined };
}

/** A running MongoDB-protocol server. */
export interface MongoServer {
  /** The connection string to give the driver (`mongodb://127.0.0.1:PORT/` for FerretDB). */
  readonly uri: string;
  /** `"ferretdb"` when the harness started it, `"external"` for `MONGODB_URI`. */
  readonly kind: "ferretdb" | "external";
  /**
   * Whether {@link MongoServer.stop} and {@link MongoServer.start} work: true for
   * the harness's FerretDB, false for `MONGODB_URI` (the suites then skip the
   * outage cases, which need to stop the server).
   */
  readonly canStop: boolean;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for its exit. Safe to call twice. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data, and waits until it accepts connections. */
  start(): Promise<void>;
  /** The last `lines` lines FerretDB printed, for failure messages. */
  logTail(lines?: number): string;
}

/** Options of {@link startMongoServer}. */
export interface MongoServerOptions {
  /** Stops the server and removes its data when run. */
  readonly cleanup: Cleanup;
  /** How long to wait for the server to accept connections, in milliseconds. Default 30 000. */
  readonly startTimeoutMs?: number;
}

/**
 * Returns the server of {@link checkMongoServer}: `MONGODB_URI` as is, or a
 * fresh FerretDB 1.24 on a free 127.0.0.1 port with the SQLite handler, its
 * data and state in a temp dir, telemetry and the debug HTTP listener off.
 * Several suites may each start their own at once.
 *
 * @throws Error when FerretDB exits or does not accept connections in time, with its log.
 */
export async function startMongoServer(options: MongoServerOptions): Promise<MongoServer> {
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== "") {
    return {
      uri: external,
      kind: "external",
      canStop: false,
      stop: () => Promise.reject(new Error("MONGODB_URI's server is not ours to stop")),
      start: () => Promise.reject(new Error("MONGODB_URI's server is not ours to start")),
      logTail: () => "(MONGODB_URI: no server log)",
    };
  }
  const { cleanup } = options;
  const root = await cleanup.tempDir("ferretdb-");
  const data = join(root, "data");
  const state = join(root, "state");
  await Promise.all([mkdir(data), mkdir(state)]);
  const binary = peerPath("ferretdb");
  const chunks: string[] = [];
  const log = () => chunks.join("");
  const logTail = (lines = 40) => tail(log(), lines);
  const timeoutMs = options.startTimeoutMs ?? 30_000;

  let port = 0;
  let running: { child: ChildProcess; exited: Promise<string> } | undefined;

  async function launch(): Promise<void> {
    const child = spawn(
      binary,
      [
        "--handler=sqlite",
        `--sqlite-url=file:${data}/`,
        `--listen-addr=127.0.0.1:${port}`,
        "--debug-addr=-",
        `--state-dir=${state}`,
        "--telemetry=disable",
        "--log-level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
    let exitReason: string | undefined;
    const exited = new Promise<string>((resolve) => {
      child.once("exit", (code, signal) => resolve(`exited with ${code ?? signal}`));
      child.once("error", (error) => resolve(`could not start: ${error.message}`));
    }).then((reason) => {
      exitReason = reason;
      return reason;
    });
    running = { child, exited };
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exitReason !== undefined) {
        running = undefined;
        throw new Error(`ferretdb ${exitReason} before accepting connections\n${logTail()}`);
      }
      if (await accepts(port)) return;
      await sleep(50);
    }
    await stop();
    throw new Error(`ferretdb did not accept connections on 127.0.0.1:${port}\n${logTail()}`);
  }

  async function stop(): Promise<void> {
    const current = running;
    running = undefined;
    if (current === undefined) return;
    const { child, exited } = current;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    }
  }

  let lastError: unknown;
  for (let attempt = 1; attempt <= 3 && running === undefined; attempt++) {
    port = await freePort();
    try {
      await launch();
    } catch (error) {
      lastError = error;
      // Only a port taken between freePort() and the bind is worth another try.
      if (!(error instanceof Error) || !/address already in use/.test(error.message)) throw error;
    }
  }
  if (running === undefined) throw lastError;
  cleanup.defer(stop);

  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    kind: "ferretdb",
    canStop: true,
    stop,
    async start() {
      if (running !== undefined) return;
      // The same port: clients keep their connection string. Retry a moment
      // if the old socket is not released yet.
      for (let attempt = 1; ; attempt++) {
        try {
          await launch();
          return;
        } catch (error) {
          if (
            attempt >= 5 ||
            !(error instanceof Error) ||
            !/address already in use/.test(error.message)
          ) {
            throw error;
          }
          await sleep(200);
        }
      }
    },
    logTail,
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(1_000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * A database name no other suite or run uses (`regauth_<prefix>_<hex>`), so
 * suites can share one `MONGODB_URI` server; drop it when done.
 */
export function uniqueDatabaseName(prefix: string): string {
  return `regauth_${prefix}_${randomBytes(4).toString("hex")}`;
}
