import { isRegauthError, RegauthError } from "../errors.js";

/**
 * Wraps what a backend threw as `ERR_BACKEND_UNAVAILABLE`, unless it already is
 * a {@link RegauthError}, keeping the original as `cause`.
 */
export function backendError(role: string, name: string, error: unknown): RegauthError {
  if (isRegauthError(error)) return error;
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
