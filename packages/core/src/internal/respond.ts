import type { TokenReply } from "../create-token-endpoint.js";
import type { RegauthError } from "../errors.js";
import { HTTP_ERRORS } from "./http-errors.js";

/** The headers of every JSON answer: no cache keeps a token or an error. */
const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Type": "application/json; charset=utf-8",
  "Cache-Control": "no-store",
  Pragma: "no-cache",
});

/** A JSON answer that no cache keeps, with `headers` added. */
export function jsonReply(
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>,
): TokenReply {
  return {
    status,
    headers: headers === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * The answer to an error, from the one table of codes: the docker `errors`
 * envelope (read by the docker CLI and containers/image) plus `details`
 * (read by older docker clients). With `oauth` (answers to POST), the RFC 6749
 * §5.2 members `error` and `error_description` come first.
 */
export function errorReply(
  error: RegauthError,
  headers?: Readonly<Record<string, string>>,
  oauth = false,
): TokenReply {
  const mapping = HTTP_ERRORS[error.code];
  const extra: Record<string, string> = { ...headers };
  if (mapping.status === 405) extra.Allow = "GET, POST";
  if (error.code === "ERR_OVERLOADED") extra["Retry-After"] = "1";
  const docker = {
    errors: [{ code: mapping.dockerCode, message: error.message }],
    details: error.message,
  };
  return jsonReply(
    mapping.status,
    oauth ? { error: mapping.oauthCode, error_description: error.message, ...docker } : docker,
    extra,
  );
}
