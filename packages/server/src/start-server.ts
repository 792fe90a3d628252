import { type FSWatcher, watch as watchFile } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { basename, dirname, resolve as resolvePath } from "node:path";
import { isRegauthError, type Logger, silentLogger } from "@regauth/core";
import { toNodeListener } from "@regauth/core/node";
import type { RegistryTokenIssuer } from "@regauth/token";
import {
  type ConfiguredHandler,
  createConfiguredHandler,
  type MemoryStores,
} from "./create-configured-handler.js";
import { loadConfig, type RegauthConfig } from "./load-config.js";

/**
 * Options of {@link startServer}.
 *
 * - `configPath`: the docker_auth-style YAML file. Required.
 * - `logger`: pino-shaped. Default: silent.
 * - `watch`: reload when the config file, or a file it names (keys,
 *   certificates, password, secret and CA files: `config.files`), changes.
 *   Default `true`. SIGHUP reloads too (the CLI's `serve`).
 * - `listen`: overrides `server.addr` (`{ host, port }`; port 0 picks a free one).
 * - `drainTimeoutMs`: how long `close()` waits for requests in flight before
 *   cutting connections, in milliseconds. Default 10000.
 * - `env`: what `${NAME}` references read. Default `process.env`.
 */
export interface StartServerOptions {
  readonly configPath: string;
  readonly logger?: Logger;
  readonly watch?: boolean;
  readonly listen?: { readonly host?: string | undefined; readonly port: number };
  readonly drainTimeoutMs?: number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * A running token server.
 *
 * - `url`: `http(s)://HOST:PORT`, the address it listens on.
 * - `realm`: the token endpoint URL for the registry's `auth.token.realm`.
 * - `config`: the configuration now serving.
 * - `issuer`: its token signer.
 * - `reload()`: loads the file again; `true` when the new config serves,
 *   `false` when it was invalid (logged; the old config keeps serving).
 * - `close()`: stops accepting connections, lets requests in flight finish
 *   (up to `drainTimeoutMs`), closes the backends.
 */
export interface RunningServer {
  readonly url: string;
  readonly realm: string;
  readonly config: RegauthConfig;
  readonly issuer: RegistryTokenIssuer;
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

function describe(error: unknown): string {
  return isRegauthError(error)
    ? error.message
    : error instanceof Error
      ? error.message
      : String(error);
}

/**
 * Serves a docker_auth-style config file (see `loadConfig`): HTTP, or HTTPS
 * with `server.certificate` and `server.key`, on `server.addr`.
 *
 * Reload: when the file changes (and on every `reload()`), the new file is
 * loaded and built in full first (YAML, schema, keys, programs); only a config
 * that builds replaces the serving one, so a broken edit keeps the old config
 * serving and logs why. `server` settings (address, TLS) need a restart; a
 * change there is logged and the rest applies.
 *
 * Refresh tokens (`token.refresh_tokens`) and the registry passwords of
 * `google_auth` and `oidc_auth` kept in memory (no `redis`) survive a
 * reload: every build of this server shares the same memory stores.
 *
 * The MongoDB backends (`mongo_auth`, `acl_mongo`) and the Redis stores must
 * be ready before a config serves (see `ConfiguredHandler.ready`), as docker_auth connects at
 * start-up: a database that cannot be reached fails the start, and a reload
 * keeps the previous config.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID` when the first load fails (see
 *   `loadConfig` and `createConfiguredHandler`); `ERR_BACKEND_UNAVAILABLE`
 *   when a MongoDB backend is not ready (`acl_mongo: cannot read the rules
 *   (...)`); the listen error (such as `EADDRINUSE`) when the address cannot
 *   be bound.
 *
 * @example
 * const server = await startServer({ configPath: "/etc/regauth/auth_config.yml", logger: pino() });
 * process.once("SIGTERM", () => void server.close());
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const log = options.logger ?? silentLogger;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  // Refresh tokens and registry passwords kept in memory outlive a reload.
  const memoryStores: MemoryStores = {};
  const load = async () => {
    const config = await loadConfig(
      { path: options.configPath },
      { env: options.env ?? process.env },
    );
    const built = await createConfiguredHandler(config, { logger: log, memoryStores });
    try {
      // As docker_auth: a database that cannot be reached stops the start (or the reload).
      await built.ready();
    } catch (error) {
      await built.close();
      throw error;
    }
    return { config, built };
  };

  let current: { config: RegauthConfig; built: ConfiguredHandler } = await load();
  const first = current.config;
  const tls =
    first.server.certificate !== undefined && first.server.key !== undefined
      ? {
          cert: await readFile(first.server.certificate, "utf8"),
          key: await readFile(first.server.key, "utf8"),
        }
      : undefined;

  let inFlight = 0;
  const listenerOptions = {
    onError: (error: unknown) => log.warn({ err: error }, "could not write a response"),
  };
  const webListener = toNodeListener(
    (request, context) => current.built.handler(request, context),
    listenerOptions,
  );
  // The token paths go straight to the token endpoint, without Web objects
  // (what a returning user costs halves); every other request, and any that
  // the full handler would refuse before the endpoint, goes through it.
  const tokenListeners = new WeakMap<ConfiguredHandler, ReturnType<typeof toNodeListener>>();
  const tokenListenerFor = (request: IncomingMessage) => {
    const { built } = current;
    const target = request.url ?? "/";
    const query = target.indexOf("?");
    const pathname = query < 0 ? target : target.slice(0, query);
    const hasHeader = (name: string) => request.headers[name.toLowerCase()] !== undefined;
    if (!built.isTokenRequest(pathname, hasHeader)) return undefined;
    let listener = tokenListeners.get(built);
    if (listener === undefined) {
      listener = toNodeListener(built.tokenHandler, listenerOptions);
      tokenListeners.set(built, listener);
    }
    return listener;
  };
  const listener: Parameters<typeof createHttpServer>[1] = (request, response) => {
    inFlight++;
    response.once("close", () => {
      inFlight--;
    });
    (tokenListenerFor(request) ?? webListener)(request, response);
  };
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key }, listener)
    : createHttpServer(listener);
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const host = options.listen ? options.listen.host : first.server.host;
  const port = options.listen ? options.listen.port : first.server.port;
  await new Promise<void>((ready, fail) => {
    server.once("error", fail);
    server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
      server.off("error", fail);
      ready();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host ?? "localhost";
  const hostForUrl = shownHost.includes(":") ? `[${shownHost}]` : shownHost;
  const url = `${tls ? "https" : "http"}://${hostForUrl}:${address.port}`;
  const realm = `${url}${first.server.pathPrefix}/auth`;
  log.info({ url, realm, config: options.configPath }, "regauth token server listening");

  let reloading: Promise<boolean> | undefined;
  async function reload(): Promise<boolean> {
    // One reload at a time; a change during a reload is picked up by the next one.
    while (reloading) await reloading;
    reloading = (async () => {
      try {
        const next = await load();
        const old = current;
        if (JSON.stringify(next.config.server) !== JSON.stringify(old.config.server)) {
          log.warn(
            { config: options.configPath },
            "the server section changed; restart regauth to apply it (the rest of the config is applied)",
          );
        }
        current = next;
        void old.built.close();
        watch(next.config);
        log.info({ config: options.configPath }, "config reloaded");
        return true;
      } catch (error) {
        log.error(
          { config: options.configPath, reason: describe(error) },
          "config reload failed; the previous config keeps serving",
        );
        return false;
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  }

  // Watch the folders, not the files: editors, config managers and secret
  // mounts replace a file by renaming another over it.
  let watchers: FSWatcher[] = [];
  let watched = "";
  let debounce: NodeJS.Timeout | undefined;
  const watch = (config: RegauthConfig) => {
    if (!(options.watch ?? true)) return;
    const files = [options.configPath, ...config.files].map((file) => resolvePath(file));
    const key = [...new Set(files)].sort().join("\n");
    if (key === watched) return;
    for (const watcher of watchers) watcher.close();
    watchers = [];
    watched = key;
    const byFolder = new Map<string, Set<string>>();
    for (const file of files) {
      const names = byFolder.get(dirname(file)) ?? new Set<string>();
      names.add(basename(file));
      byFolder.set(dirname(file), names);
    }
    for (const [folder, names] of byFolder) {
      try {
        const watcher = watchFile(folder, (_event, changed) => {
          // `..data`: a Kubernetes secret or config map volume swaps that link.
          if (changed !== null && !names.has(changed) && changed !== "..data") return;
          clearTimeout(debounce);
          debounce = setTimeout(() => void reload(), 150);
        });
        watcher.on("error", (error) => log.warn({ err: error, folder }, "cannot watch a folder"));
        watchers.push(watcher);
      } catch (error) {
        log.warn(
          { folder, reason: describe(error) },
          "cannot watch a folder of the config's files; reload with SIGHUP",
        );
      }
    }
  };
  watch(current.config);

  let closing: Promise<void> | undefined;
  return {
    url,
    realm,
    get config() {
      return current.config;
    },
    get issuer() {
      return current.built.issuer;
    },
    reload,
    close() {
      closing ??= (async () => {
        for (const watcher of watchers) watcher.close();
        clearTimeout(debounce);
        log.info({ inFlight }, "draining requests in flight");
        const closed = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const cut = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
        await closed;
        clearInterval(idle);
        clearTimeout(cut);
        await current.built.close();
        log.info({}, "stopped");
      })();
      return closing;
    },
  };
}
