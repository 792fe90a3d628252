import { createHmac, randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import { RegauthError } from "../errors.js";
import type { Authenticator, AuthnRequest, AuthnResult, Labels } from "../model.js";

/**
 * Settings of the gate in front of the authenticator chain.
 *
 * - `cacheTtl`: seconds a successful authentication is remembered; 0 turns the
 *   cache off.
 * - `cacheMaxEntries`: most remembered authentications (least recently used go first).
 * - `maxInFlight`: most authentications running at once (cache misses); one
 *   more is refused with `ERR_OVERLOADED` (503, `Retry-After`).
 * - `maxInFlightPerClient`: most of them for one client address; one more
 *   from that address is refused the same way, so one address cannot hold
 *   every slot. Requests whose address is unknown are bound by `maxInFlight`
 *   only. Default: `maxInFlight` (no bound of its own).
 * - `now`: the clock the cache's TTL runs on, in milliseconds (tests freeze
 *   it). Default `performance.now`.
 */
export interface AuthenticationGateOptions {
  readonly cacheTtl: number;
  readonly cacheMaxEntries: number;
  readonly maxInFlight: number;
  readonly maxInFlightPerClient?: number;
  readonly now?: () => number;
}

/** The gate, and a read-only view of what its cache holds (for tests and introspection). */
export interface AuthenticationGate extends Authenticator {
  /** Every cached key and value, as stored. */
  cachedEntries(): [string, Labels][];
}

/**
 * Wraps the authenticator chain with a cache of positive answers and a bound
 * on authentications in flight.
 *
 * The cache keeps only `allow` answers (and their labels), keyed by an
 * HMAC-SHA256, under a random per-process key, of the chain's name, the
 * account, the password, the service and the client address (an
 * authenticator may decide on the last two): no password, and nothing a
 * stolen heap dump could test passwords against offline without that key, is
 * kept. Deny, no-match and
 * errors are never cached. Anonymous requests skip it (they cost nothing).
 *
 * The trade-off, documented for users: a password that is changed or removed
 * in the backend keeps working for up to `cacheTtl` seconds on this process.
 */
export function createAuthenticationGate(
  authenticator: Authenticator,
  options: AuthenticationGateOptions,
): AuthenticationGate {
  const hmacKey = randomBytes(32);
  const prefix = `${authenticator.name ?? "authenticator"}\u0000`;
  const cache =
    options.cacheTtl > 0
      ? new LRUCache<string, Labels>({
          max: options.cacheMaxEntries,
          ttl: options.cacheTtl * 1000,
          ttlResolution: 0,
          ...(options.now ? { perf: { now: options.now } } : {}),
        })
      : undefined;
  let inFlight = 0;
  /** Authentications in flight by client address; an address at 0 is absent. */
  const inFlightByClient = new Map<string, number>();
  const perClient = options.maxInFlightPerClient ?? options.maxInFlight;

  // Service and client address are part of the key: an authenticator may
  // decide on them (allow a robot account only from one network, for one
  // registry), so an answer given for one is never reused for another.
  const keyOf = (request: AuthnRequest) =>
    createHmac("sha256", hmacKey)
      .update(prefix)
      .update(request.account)
      .update("\u0000")
      .update(request.password)
      .update("\u0000")
      .update(request.service)
      .update("\u0000")
      .update(request.clientIp ?? "")
      .digest("base64url");

  return {
    name: authenticator.name ?? "authenticator",
    async authenticate(request): Promise<AuthnResult> {
      const anonymous = request.account === "" && request.password === "";
      const key = cache && !anonymous ? keyOf(request) : undefined;
      if (key !== undefined) {
        const labels = cache?.get(key);
        if (labels !== undefined) return { result: "allow", labels };
      }
      const client = request.clientIp;
      const fromClient = client === undefined ? 0 : (inFlightByClient.get(client) ?? 0);
      if (inFlight >= options.maxInFlight || fromClient >= perClient) {
        throw new RegauthError(
          "ERR_OVERLOADED",
          "too many authentications in flight; retry in a moment",
        );
      }
      inFlight++;
      if (client !== undefined) inFlightByClient.set(client, fromClient + 1);
      try {
        const outcome = await authenticator.authenticate(request);
        if (key !== undefined && outcome.result === "allow") cache?.set(key, outcome.labels ?? {});
        return outcome;
      } finally {
        inFlight--;
        if (client !== undefined) {
          const left = (inFlightByClient.get(client) ?? 1) - 1;
          if (left === 0) inFlightByClient.delete(client);
          else inFlightByClient.set(client, left);
        }
      }
    },
    cachedEntries: () => (cache ? [...cache.entries()] : []),
    ...(authenticator.close ? { close: () => authenticator.close?.() ?? Promise.resolve() } : {}),
  };
}
