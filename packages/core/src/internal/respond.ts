import type { RegauthError } from "../errors.js";
import { HTTP_ERRORS } from "./http-errors.js";

const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

/** A JSON response that no cache keeps. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...NO_STORE, ...headers },
  });
}

/**
 * The answer to an error, from the one table of codes: the docker `errors`
 * envelope (read by the docker CLI and containers/image) plus `details`
 * (read by older docker clients). With `oauth` (answers to POST), the RFC 6749
 * §5.2 members `error` and `error_description` come first.
 */
export function errorResponse(
  error: RegauthError,
  headers?: Record<string, string>,
  oauth = false,
): Response {
  const mapping = HTTP_ERRORS[error.code];
  const extra: Record<string, string> = { ...headers };
  if (mapping.status === 405) extra.Allow = "GET, POST";
  if (error.code === "ERR_OVERLOADED") extra["Retry-After"] = "1";
  const docker = {
    errors: [{ code: mapping.dockerCode, message: error.message }],
    details: error.message,
  };
  return jsonResponse(
    mapping.status,
    oauth ? { error: mapping.oauthCode, error_description: error.message, ...docker } : docker,
    extra,
  );
}
