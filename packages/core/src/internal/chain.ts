import { type ErrorCode, isRegauthError, RegauthError } from "../errors.js";

/** Server-side failures a backend may throw as they are (a nested chain's among them). */
const PASSED_THROUGH = new Set<ErrorCode>([
  "ERR_BACKEND_UNAVAILABLE",
  "ERR_OVERLOADED",
  "ERR_INTERNAL",
]);

/**
 * Wraps what a backend threw as `ERR_BACKEND_UNAVAILABLE`, keeping the original
 * as `cause`. Only `ERR_BACKEND_UNAVAILABLE` (from a nested chain),
 * `ERR_OVERLOADED` and `ERR_INTERNAL` pass unchanged: any other code thrown by
 * a backend (`ERR_UNAUTHENTICATED`, `ERR_REQUEST_INVALID`, ...) would turn a
 * fault into a 4xx, a 401 that looks like a wrong password among them.
 */
function backendError(role: string, name: string, error: unknown): RegauthError {
  if (isRegauthError(error) && PASSED_THROUGH.has(error.code)) return error;
  return new RegauthError("ERR_BACKEND_UNAVAILABLE", `${role} ${name} failed`, { cause: error });
}

/** What a chain needs of its members: a name for messages, and maybe `close`. */
interface Member {
  readonly name?: string;
  close?(): Promise<void>;
}

/**
 * The chain semantics authenticators and authorizers share (docker_auth,
 * protocol.md §4): ask each member in order; the first outcome for which
 * `decides` holds ends the chain; a member that throws, or answers something
 * `wellFormed` refuses, ends it with `ERR_BACKEND_UNAVAILABLE`; when nobody
 * decides, the result is `no-match`.
 * Returns the chain's name, the runner and a `close` that closes every member.
 */
export function createChain<M extends Member, Q, R extends { readonly result: string }>(
  role: "authenticator" | "authorizer",
  members: readonly M[],
  ask: (member: M, request: Q) => Promise<R>,
  decides: (outcome: R) => boolean,
  wellFormed: (outcome: unknown) => outcome is R,
): {
  name: string;
  run(request: Q): Promise<R | { readonly result: "no-match" }>;
  close(): Promise<void>;
} {
  if (members.length === 0) {
    throw new RegauthError("ERR_CONFIG_INVALID", `${role}s: at least one is needed`);
  }
  const list = [...members];
  const names = list.map((member, index) => member.name ?? `#${index}`);
  return {
    name: `chain(${names.join(",")})`,
    async run(request) {
      for (const [index, member] of list.entries()) {
        let outcome: R;
        try {
          outcome = await ask(member, request);
        } catch (error) {
          throw backendError(role, names[index] as string, error);
        }
        // A custom backend written in JavaScript may answer anything; an answer
        // that is not of the interface's shape is a fault, never a decision.
        if (!wellFormed(outcome)) {
          throw new RegauthError(
            "ERR_BACKEND_UNAVAILABLE",
            `${role} ${names[index]} returned a malformed result`,
          );
        }
        if (decides(outcome)) return outcome;
      }
      return { result: "no-match" };
    },
    async close() {
      // Close every member even when one fails; report the first failure.
      const results = await Promise.allSettled(list.map((member) => member.close?.()));
      const failed = results.find((result) => result.status === "rejected");
      if (failed) throw failed.reason;
    },
  };
}
