import { RegauthError } from "@regauth/core";
import type { LdapConnection } from "./connection.js";

/** Options of {@link ConnectionPool}. */
export interface PoolOptions {
  /** Opens a connection ready for use (connected, TLS, bound as needed). */
  readonly open: () => Promise<LdapConnection>;
  /** Most connections open or opening at once. */
  readonly max: number;
  /** Keep released connections for the next lease (`false`: close each one after use). */
  readonly reuse: boolean;
  /** Milliseconds an unused connection is kept before it is closed. */
  readonly idleTimeoutMs: number;
  /** Milliseconds a lease waits for a connection when all `max` are busy. */
  readonly waitTimeoutMs: number;
}

interface Waiter {
  resolve(connection: LdapConnection): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

/**
 * A small pool of LDAP connections, each leased to one request at a time:
 * what one request does on a connection (a bind, then a search) can never
 * interleave with another request's bind. A connection that failed or was
 * closed by the server is dropped on release and a fresh one is opened on
 * demand, so the pool recovers by itself when the directory comes back.
 */
export class ConnectionPool {
  readonly #options: PoolOptions;
  /** Released connections, most recently used last. */
  readonly #idle: LdapConnection[] = [];
  readonly #idleTimers = new Map<LdapConnection, NodeJS.Timeout>();
  readonly #waiters: Waiter[] = [];
  readonly #closing = new Set<Promise<void>>();
  /** Connections open or being opened, leased or idle. */
  #size = 0;
  #leased = 0;
  #closed = false;
  #drained: (() => void) | undefined;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /**
   * A connection for the caller alone, until {@link ConnectionPool.release}.
   * Takes an idle one, else opens one, else waits for one.
   *
   * @throws RegauthError `ERR_BACKEND_UNAVAILABLE` when opening fails, when
   *   none is free within `waitTimeoutMs`, or after {@link ConnectionPool.close}.
   */
  async lease(): Promise<LdapConnection> {
    if (this.#closed) throw closedError();
    for (let idle = this.#idle.pop(); idle !== undefined; idle = this.#idle.pop()) {
      this.#clearIdleTimer(idle);
      if (idle.usable) return this.#leaseOut(idle);
      this.#discard(idle);
    }
    if (this.#size < this.#options.max) {
      this.#size++;
      return this.#leaseOut(await this.#openCounted());
    }
    return new Promise<LdapConnection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(
            new RegauthError(
              "ERR_BACKEND_UNAVAILABLE",
              `ldap: no connection to the directory was free within ${this.#options.waitTimeoutMs} ms`,
            ),
          );
        }, this.#options.waitTimeoutMs),
      };
      this.#waiters.push(waiter);
    }).then((connection) => this.#leaseOut(connection));
  }

  /**
   * Gives a leased connection back. It is kept for the next lease when it is
   * still usable, reuse is on and `discard` is not set; otherwise it is closed.
   */
  release(connection: LdapConnection, discard = false): void {
    this.#leased--;
    connection.uses++;
    if (discard || this.#closed || !this.#options.reuse || !connection.usable) {
      this.#discard(connection);
    } else {
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) {
        clearTimeout(waiter.timer);
        waiter.resolve(connection);
      } else {
        this.#idle.push(connection);
        connection.setIdle(true);
        const timer = setTimeout(() => {
          const at = this.#idle.indexOf(connection);
          if (at >= 0) this.#idle.splice(at, 1);
          this.#idleTimers.delete(connection);
          this.#discard(connection);
        }, this.#options.idleTimeoutMs);
        timer.unref();
        this.#idleTimers.set(connection, timer);
      }
    }
    if (this.#leased === 0) this.#drained?.();
  }

  /**
   * Closes every idle connection, fails the waiting leases, and waits until
   * the leased ones come back (they are closed then). Later leases fail.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(closedError());
    }
    for (const idle of this.#idle.splice(0)) {
      this.#clearIdleTimer(idle);
      this.#discard(idle);
    }
    if (this.#leased > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    await Promise.all(this.#closing);
  }

  #leaseOut(connection: LdapConnection): LdapConnection {
    this.#leased++;
    connection.setIdle(false);
    return connection;
  }

  /** Opens a connection for a slot already counted in `#size`; frees the slot on failure. */
  async #openCounted(): Promise<LdapConnection> {
    try {
      return await this.#options.open();
    } catch (error) {
      this.#size--;
      this.#serveWaiter();
      throw error;
    }
  }

  /** Closes a connection, frees its slot, and lets a waiter open a new one. */
  #discard(connection: LdapConnection): void {
    this.#size--;
    const closing = connection.close();
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
    this.#serveWaiter();
  }

  /** When a slot is free and someone waits, opens a connection for them. */
  #serveWaiter(): void {
    if (this.#closed || this.#size >= this.#options.max) return;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    clearTimeout(waiter.timer);
    this.#size++;
    this.#openCounted().then(waiter.resolve, waiter.reject);
  }

  #clearIdleTimer(connection: LdapConnection): void {
    const timer = this.#idleTimers.get(connection);
    if (timer !== undefined) clearTimeout(timer);
    this.#idleTimers.delete(connection);
  }
}

function closedError(): RegauthError {
  return new RegauthError("ERR_BACKEND_UNAVAILABLE", "ldap: the authenticator is closed");
}
