import type { AuthnResult, AuthzResult } from "../model.js";

function isStringArray(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** True for a well-formed {@link AuthnResult}: labels, when present, map keys to string arrays. */
export function isAuthnResult(value: unknown): value is AuthnResult {
  if (typeof value !== "object" || value === null) return false;
  const { result, labels } = value as { result?: unknown; labels?: unknown };
  if (result === "deny" || result === "no-match") return true;
  if (result !== "allow") return false;
  if (labels === undefined) return true;
  return (
    typeof labels === "object" &&
    labels !== null &&
    !Array.isArray(labels) &&
    Object.values(labels).every(isStringArray)
  );
}

/** True for a well-formed {@link AuthzResult}: a grant carries an array of action strings. */
export function isAuthzResult(value: unknown): value is AuthzResult {
  if (typeof value !== "object" || value === null) return false;
  const { result, actions } = value as { result?: unknown; actions?: unknown };
  return result === "no-match" || (result === "grant" && isStringArray(actions));
}
