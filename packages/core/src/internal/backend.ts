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
export function backendError(role: string, name: string, error: unknown): RegauthError {
  if (isRegauthError(error) && PASSED_THROUGH.has(error.code)) return error;
  return new RegauthError("ERR_BACKEND_UNAVAILABLE", `${role} ${name} failed`, { cause: error });
}

/** Closes every member that can be closed, even when one fails; rethrows the first failure. */
export async function closeAll(members: readonly { close?(): Promise<void> }[]): Promise<void> {
  const results = await Promise.allSettled(members.map((member) => member.close?.()));
  const failed = results.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}

/** The name a chain member goes by in messages: its own, else its position. */
export function memberName(member: { readonly name?: string }, index: number): string {
  return member.name ?? `#${index}`;
}
