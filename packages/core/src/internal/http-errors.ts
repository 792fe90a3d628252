import type { ErrorCode } from "../errors.js";

/** How an error code is answered over HTTP: status, docker error code, extra headers. */
export interface HttpErrorMapping {
  readonly status: number;
  /** The `code` in the docker `errors` envelope. */
  readonly dockerCode: string;
}

/** The one table from error codes to HTTP answers. */
export const HTTP_ERRORS: Readonly<Record<ErrorCode, HttpErrorMapping>> = {
  ERR_SCOPE_INVALID: { status: 400, dockerCode: "INVALID_SCOPE" },
  ERR_SCOPE_LIMIT: { status: 400, dockerCode: "INVALID_SCOPE" },
  ERR_REQUEST_INVALID: { status: 400, dockerCode: "INVALID_REQUEST" },
  ERR_METHOD_NOT_ALLOWED: { status: 405, dockerCode: "UNSUPPORTED" },
  ERR_NOT_FOUND: { status: 404, dockerCode: "NOT_FOUND" },
  ERR_UNAUTHENTICATED: { status: 401, dockerCode: "UNAUTHORIZED" },
  ERR_BACKEND_UNAVAILABLE: { status: 503, dockerCode: "UNAVAILABLE" },
  ERR_OVERLOADED: { status: 503, dockerCode: "TOOMANYREQUESTS" },
  ERR_CONFIG_INVALID: { status: 500, dockerCode: "UNKNOWN" },
  ERR_TOKEN_INVALID: { status: 401, dockerCode: "UNAUTHORIZED" },
  ERR_INTERNAL: { status: 500, dockerCode: "UNKNOWN" },
};
