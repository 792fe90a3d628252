import { isIP, connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { RegauthError } from "@regauth/core";
import { Client, DN, type Entry, ResultCodeError } from "ldapts";

/** How to reach one directory server. */
export interface ServerSpec {
  /** `ldap://host:port` or `ldaps://host:port`. */
  readonly url: string;
  /** Upgrade an `ldap://` connection with StartTLS before anything else. */
  readonly startTls: boolean;
  /** `ca` and `rejectUnauthorized` for the TLS handshake (ldaps:// or StartTLS). */
  readonly tls: Pick<ConnectionOptions, "ca" | "rejectUnauthorized">;
  /** Milliseconds for TCP connect plus TLS handshake (and the StartTLS request). */
  readonly connectTimeoutMs: number;
  /** Milliseconds each LDAP operation may take. */
  readonly operationTimeoutMs: number;
}

/** LDAP result code 49, invalidCredentials (RFC 4511 §A.1). */
const INVALID_CREDENTIALS = 49;

/** What a search returns: the DN and the requested attributes of each entry. */
export type SearchEntry = Entry;

/**
 * A DN given to ldapts as an object, so that ldapts never takes it for a SASL
 * mechanism name (a bare string such as `PLAIN` would start a SASL bind).
 */
class LiteralDn extends DN {
  readonly #text: string;
  constructor(text: string) {
    super();
    this.#text = text;
  }
  override toString(): string {
    return this.#text;
  }
}

/**
 * One LDAP connection: one ldapts `Client` on exactly one socket.
 *
 * ldapts reconnects by itself when an operation finds its socket closed, and
 * the new socket is neither bound nor (for StartTLS) encrypted. A pooled
 * connection must never do that: the socket factories given to ldapts refuse a
 * second connection, so a lost connection fails its next operation and the
 * pool replaces it with a fresh, bound, encrypted one.
 */
export class LdapConnection {
  readonly url: string;
  /** How many leases this connection has served. */
  uses = 0;
  /**
   * Why the last operation failed: an LDAP result, a timeout, or the
   * connection going away (worth one retry on a fresh connection when this
   * one had been idle in the pool).
   */
  failure: "result" | "timeout" | "lost" | undefined;
  readonly #client: Client;
  readonly #sockets: Socket[];
  readonly #state: HandOverState;
  #destroyed = false;

  private constructor(url: string, client: Client, sockets: Socket[], state: HandOverState) {
    this.url = url;
    this.#client = client;
    this.#sockets = sockets;
    this.#state = state;
  }

  /**
   * Connects to `spec.url`: TCP, then TLS for ldaps:// or the StartTLS upgrade,
   * all within `spec.connectTimeoutMs`.
   *
   * @throws RegauthError `ERR_BACKEND_UNAVAILABLE` when the server cannot be
   *   reached in time, the TLS handshake fails (certificate not trusted, wrong
   *   host name) or StartTLS is refused; the original error is the `cause`.
   */
  static async open(spec: ServerSpec): Promise<LdapConnection> {
    const url = new URL(spec.url);
    const secure = url.protocol === "ldaps:";
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = url.port === "" ? (secure ? 636 : 389) : Number(url.port);
    const tlsOptions: ConnectionOptions = {
      ...spec.tls,
      host,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    };
    const sockets: Socket[] = [];
    const destroyAll = () => {
      for (const socket of sockets) socket.destroy();
    };

    // The socket is made here, so connect and TLS failures are told apart
    // from LDAP ones, and handed to ldapts as an established connection.
    let raw: Socket;
    try {
      raw = await withDeadline(
        connectSocket(secure, port, host, tlsOptions, sockets),
        spec.connectTimeoutMs,
        destroyAll,
      );
    } catch (error) {
      destroyAll();
      throw connectionError(error, spec);
    }

    const state: HandOverState = { raw, handedOver: false, upgraded: false, closed: false };
    // ldapts watches the first socket only; after StartTLS the TLS socket is
    // the one that carries the traffic, and its end must be seen too.
    for (const socket of sockets) socket.once("close", () => (state.closed = true));
    const refuseReconnect = () =>
      new Error("the connection to the directory was closed; it is not reopened in place");
    const handOver = () => {
      if (state.handedOver) throw refuseReconnect();
      state.handedOver = true;
      return raw;
    };
    const createSecureConnection = ((...args: unknown[]) => {
      const [options] = args;
      if (typeof options !== "object" || options === null) return handOver();
      // StartTLS: ldapts passes the connected socket to wrap.
      if (state.upgraded) throw refuseReconnect();
      state.upgraded = true;
      const socket = tlsConnect({ ...(options as ConnectionOptions), ...tlsOptions });
      sockets.push(socket);
      socket.once("close", () => (state.closed = true));
      return socket;
    }) as typeof tlsConnect;
    const client = new Client({
      url: `${url.protocol}//${url.host}`,
      connectTimeout: spec.connectTimeoutMs,
      timeout: spec.operationTimeoutMs,
      createConnection: handOver as unknown as typeof netConnect,
      createSecureConnection,
    });
    const connection = new LdapConnection(spec.url, client, sockets, state);
    if (spec.startTls) {
      try {
        await withDeadline(client.startTLS({}), spec.connectTimeoutMs, destroyAll);
      } catch (error) {
        connection.destroy();
        throw connectionError(error, spec, "starttls");
      }
    }
    return connection;
  }

  /** Whether the socket is still open and nothing has failed on it. */
  get usable(): boolean {
    if (this.#destroyed || this.#state.closed) return false;
    if (this.#state.handedOver) return this.#client.isConnected;
    return !this.#state.raw.destroyed && this.#state.raw.readyState === "open";
  }

  /**
   * A simple bind as `dn` with `password`. Resolves `true` when the server
   * accepts, `false` on result 49 (invalidCredentials).
   *
   * @throws RegauthError `ERR_BACKEND_UNAVAILABLE` on any other result, a
   *   timeout or a lost connection (the connection is then unusable).
   */
  async bind(dn: string, password: string): Promise<boolean> {
    this.#checkUsable();
    try {
      await this.#client.bind(new LiteralDn(dn), password);
      return true;
    } catch (error) {
      if (error instanceof ResultCodeError && error.code === INVALID_CREDENTIALS) return false;
      throw this.#operationError("bind", error);
    }
  }

  /**
   * Searches the subtree under `base` with `filter` for at most `sizeLimit`
   * entries (more make no error: the caller sees `sizeLimit` entries), without
   * following referrals or dereferencing aliases.
   *
   * @throws RegauthError `ERR_BACKEND_UNAVAILABLE` on an error result, a
   *   timeout or a lost connection.
   */
  async search(
    base: string,
    filter: string,
    attributes: readonly string[],
    sizeLimit: number,
    timeLimitSeconds: number,
  ): Promise<SearchEntry[]> {
    this.#checkUsable();
    try {
      const result = await this.#client.search(base, {
        scope: "sub",
        filter,
        attributes: [...attributes],
        sizeLimit,
        timeLimit: timeLimitSeconds,
        derefAliases: "never",
      });
      return result.searchEntries;
    } catch (error) {
      throw this.#operationError("search", error);
    }
  }

  /** Closes the connection politely (unbind), never throwing. */
  async close(): Promise<void> {
    if (this.#destroyed) return;
    try {
      if (this.#client.isConnected) {
        await withDeadline(this.#client.unbind(), 1_000, () => this.destroy());
      }
    } catch {
      // closing anyway
    }
    this.destroy();
  }

  /**
   * Marks the connection idle (`true`: its sockets no longer keep the process
   * alive, as Node's HTTP agent does with kept-alive sockets) or in use again.
   */
  setIdle(idle: boolean): void {
    for (const socket of this.#sockets) {
      if (idle) socket.unref();
      else socket.ref();
    }
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#destroyed = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  #checkUsable(): void {
    // Checked right before the ldapts call, in the same tick: the socket cannot
    // close in between, so ldapts never reaches its reconnect path from here.
    if (!this.usable) {
      this.failure = "lost";
      throw new RegauthError(
        "ERR_BACKEND_UNAVAILABLE",
        "ldap: the connection to the directory was lost",
      );
    }
  }

  #operationError(operation: "bind" | "search", error: unknown): RegauthError {
    if (error instanceof ResultCodeError) {
      // An LDAP answer: the connection itself is fine, but after an unexpected
      // result it is not reused.
      this.destroy();
      this.failure = "result";
      return new RegauthError(
        "ERR_BACKEND_UNAVAILABLE",
        `ldap: the ${operation} failed with result code ${error.code}`,
        { cause: error },
      );
    }
    this.destroy();
    const timedOut = error instanceof Error && /timed? ?out/i.test(error.message);
    this.failure = timedOut ? "timeout" : "lost";
    return new RegauthError(
      "ERR_BACKEND_UNAVAILABLE",
      timedOut
        ? `ldap: the directory did not answer the ${operation} in time`
        : `ldap: the connection to the directory failed during the ${operation}`,
      { cause: error },
    );
  }
}

/** Whether an error comes from the TLS layer (certificate checks, handshake). */
function isTlsError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (
    typeof code === "string" &&
    /^ERR_(SSL|TLS)_|CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME/.test(code)
  ) {
    return true;
  }
  return /certificate|tls|ssl|handshake/i.test(error.message);
}

function connectionError(
  error: unknown,
  spec: ServerSpec,
  phase: "connect" | "starttls" = "connect",
): RegauthError {
  if (error instanceof DeadlineError) {
    return new RegauthError(
      "ERR_BACKEND_UNAVAILABLE",
      `ldap: connecting to the directory took longer than ${spec.connectTimeoutMs} ms`,
      { cause: error },
    );
  }
  if (error instanceof ResultCodeError) {
    return new RegauthError(
      "ERR_BACKEND_UNAVAILABLE",
      `ldap: the directory refused StartTLS (result code ${error.code})`,
      { cause: error },
    );
  }
  if (error instanceof Error && /connection timeout/i.test(error.message)) {
    return new RegauthError(
      "ERR_BACKEND_UNAVAILABLE",
      `ldap: connecting to the directory took longer than ${spec.connectTimeoutMs} ms`,
      { cause: error },
    );
  }
  let message = "ldap: cannot connect to the directory";
  if (isTlsError(error)) message = "ldap: the TLS handshake with the directory failed";
  else if (phase === "starttls")
    message = "ldap: the connection to the directory failed during StartTLS";
  return new RegauthError("ERR_BACKEND_UNAVAILABLE", message, { cause: error });
}

/** Where a connection stands with ldapts: not yet given its socket, given it, upgraded. */
interface HandOverState {
  readonly raw: Socket;
  handedOver: boolean;
  upgraded: boolean;
  /** A socket of this connection closed (ldapts may not have noticed). */
  closed: boolean;
}

/** Opens a TCP (or, for ldaps://, TLS) socket and resolves once it is established. */
function connectSocket(
  secure: boolean,
  port: number,
  host: string,
  tlsOptions: ConnectionOptions,
  sockets: Socket[],
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = secure ? tlsConnect({ ...tlsOptions, port, host }) : netConnect({ port, host });
    sockets.push(socket);
    socket.once("error", reject);
    socket.once(secure ? "secureConnect" : "connect", () => {
      socket.removeListener("error", reject);
      // Until ldapts takes the socket over (it replaces every error listener),
      // an error must not go unhandled: it shows as the socket being closed.
      socket.on("error", () => {});
      resolve(socket);
    });
  });
}

class DeadlineError extends Error {}

/**
 * Resolves as `promise` does, or rejects with a {@link DeadlineError} after
 * `ms` milliseconds, calling `onTimeout` first (to tear the socket down).
 */
async function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new DeadlineError(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
    promise.catch(() => {}); // a late rejection after the deadline is not unhandled
  }
}
