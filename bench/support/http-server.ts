// The HTTP side of the speed bench, run as a child process (forked by
// speed.bench.ts) so the load generator does not share its event loop: it
// receives the BenchSetup over IPC, builds every case's handler, serves each
// at `/<id>/auth` on a free loopback port through `@regauth/core/node`, and
// answers with the port. Asked `drain`, it answers once no request is in
// flight (autocannon leaves requests behind when a cell ends: a slow bcrypt
// must not spill into the next cell), with its CPU time so far and how many
// requests it has answered. It exits when the parent disconnects.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { toNodeListener } from "@regauth/core/node";
import type { BenchSetup } from "./backends.js";
import { buildCases, FLOOR_BODY } from "./cases.js";

type Listener = (request: IncomingMessage, response: ServerResponse) => void;

process.once("message", (setup: BenchSetup) => {
  void serve(setup).catch((error: unknown) => {
    process.send?.({ error: String(error) });
    process.exit(1);
  });
});

async function serve(setup: BenchSetup): Promise<void> {
  const built = await buildCases(setup);
  const listeners = new Map<string, Listener>();
  for (const [id, handler] of built.handlers) listeners.set(id, toNodeListener(handler));
  listeners.set("http-floor", (_request, response) => {
    response.writeHead(200, {
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
      Pragma: "no-cache",
    });
    response.end(FLOOR_BODY);
  });
  let inFlight = 0;
  let served = 0;
  let drained: (() => void) | undefined;
  const server = createServer((request, response) => {
    inFlight++;
    response.once("close", () => {
      inFlight--;
      served++;
      if (inFlight === 0) drained?.();
    });
    const path = request.url ?? "/";
    const id = path.slice(1, path.indexOf("/", 1));
    const listener = listeners.get(id);
    if (listener) {
      listener(request, response);
      return;
    }
    response.statusCode = 404;
    response.end();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  process.once("disconnect", () => {
    server.closeAllConnections();
    server.close();
    void built.close().finally(() => process.exit(0));
  });
  process.on("message", (message: { drain?: boolean }) => {
    if (message.drain !== true) return;
    const answer = () => {
      drained = undefined;
      const cpu = process.cpuUsage();
      process.send?.({ drained: true, served, cpuMicros: cpu.user + cpu.system });
    };
    if (inFlight === 0) answer();
    else drained = answer;
  });
  process.send?.({ port });
}
