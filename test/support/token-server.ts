import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TokenHandler } from "@regauth/core";
import { toNodeListener } from "@regauth/core/node";

/** One request the token server saw. Credentials are never recorded, only their scheme. */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query as sent, for instance `/auth?account=admin&scope=...`. */
  readonly url: string;
  readonly path: string;
  /** The query parameters. */
  readonly query: URLSearchParams;
  /** Every `scope` value, as sent (not split on spaces). */
  readonly scopes: readonly string[];
  /** The `account` parameter, or `undefined`. */
  readonly account: string | undefined;
  /** The Authorization scheme, lower case (`"basic"`, `"bearer"`), or `"none"`. */
  readonly authorization: string;
  /** The status code answered (0 until the response was sent). */
  status: number;
}

/** A running token endpoint. */
export interface RunningTokenServer {
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** The realm to configure in the registry: `<origin><path>`. */
  readonly realm: string;
  readonly port: number;
  /** Every request seen so far, oldest first. */
  readonly requests: readonly RecordedRequest[];
  /** Forgets the recorded requests. */
  clear(): void;
  /** One line per recorded request (`GET /auth?... -> 200`), for failure messages. */
  describe(): string;
  /** Closes the server (and its kept-alive connections). */
  stop(): Promise<void>;
}

/** Options of {@link startTokenServer}. */
export interface TokenServerOptions {
  /** The path the handler is served at; other paths get 404. Default `/auth`. */
  readonly path?: string;
  /**
   * Requests whose path starts with this also go to the handler (pages served
   * beside the token endpoint, such as `/oidc`). Default: none.
   */
  readonly extraPathPrefix?: string;
}

/**
 * Serves a Web-standard token handler on node:http (through `toNodeListener`
 * from `@regauth/core/node`) on a free 127.0.0.1 port, at `path` only, and
 * records the method, URL and status of every request.
 *
 * @example
 * const tokens = await startTokenServer(createTokenHandler({ ... }));
 * // registry realm: tokens.realm
 */
export async function startTokenServer(
  handler: TokenHandler,
  options: TokenServerOptions = {},
): Promise<RunningTokenServer> {
  const path = options.path ?? "/auth";
  const requests: RecordedRequest[] = [];
  const listener = toNodeListener(handler);

  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const url = new URL(incoming.url ?? "/", "http://token-server");
    const scheme = (incoming.headers.authorization ?? "").split(" ", 1)[0]?.toLowerCase() ?? "";
    const record: RecordedRequest = {
      method: incoming.method ?? "",
      url: incoming.url ?? "",
      path: url.pathname,
      query: url.searchParams,
      scopes: url.searchParams.getAll("scope"),
      account: url.searchParams.get("account") ?? undefined,
      authorization: scheme === "" ? "none" : scheme,
      status: 0,
    };
    requests.push(record);
    outgoing.once("finish", () => {
      record.status = outgoing.statusCode;
    });
    const extra =
      options.extraPathPrefix !== undefined && url.pathname.startsWith(options.extraPathPrefix);
    if (url.pathname !== path && !extra) {
      outgoing.statusCode = 404;
      outgoing.end();
      return;
    }
    listener(incoming, outgoing);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    realm: `${origin}${path}`,
    port,
    requests,
    clear: () => {
      requests.length = 0;
    },
    describe: () =>
      requests.length === 0
        ? "(the token server saw no request)"
        : requests
            .map((r) => `${r.method} ${r.url} [auth: ${r.authorization}] -> ${r.status}`)
            .join("\n"),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
