import type { ErrorCode } from "../errors.js";

/** How an error code is answered over HTTP: status, docker error code, extra headers. */
export interface HttpErrorMapping {
  readonly status: number;
  /** The `code` in the docker `errors` envelope. */
  readonly dockerCode: string;
  /** The RFC 6749 §5.2 `error` of an OAuth2 (POST) answer. */
  readonly oauthCode: string;
}

/** The one table from error codes to HTTP answers. */
export const HTTP_ERRORS: Readonly<Record<ErrorCode, HttpErrorMapping>> = {
  ERR_SCOPE_INVALID: { status: 400, dockerCode: "INVALID_SCOPE", oauthCode: "invalid_scope" },
  ERR_SCOPE_LIMIT: { status: 400, dockerCode: "INVALID_SCOPE", oauthCode: "invalid_scope" },
  ERR_REQUEST_INVALID: { status: 400, dockerCode: "INVALID_REQUEST", oauthCode: "invalid_request" },
  ERR_METHOD_NOT_ALLOWED: { status: 405, dockerCode: "UNSUPPORTED", oauthCode: "invalid_request" },
  ERR_NOT_FOUND: { status: 404, dockerCode: "NOT_FOUND", oauthCode: "invalid_request" },
  ERR_UNAUTHENTICATED: { status: 401, dockerCode: "UNAUTHORIZED", oauthCode: "invalid_grant" },
  ERR_BACKEND_UNAVAILABLE: {
    status: 503,
    dockerCode: "UNAVAILABLE",
    oauthCode: "temporarily_unavailable",
  },
  ERR_OVERLOADED: {
    status: 503,
    dockerCode: "TOOMANYREQUESTS",
    oauthCode: "temporarily_unavailable",
  },
  ERR_CONFIG_INVALID: { status: 500, dockerCode: "UNKNOWN", oauthCode: "server_error" },
  ERR_TOKEN_INVALID: { status: 401, dockerCode: "UNAUTHORIZED", oauthCode: "invalid_grant" },
  ERR_GRANT_INVALID: { status: 400, dockerCode: "UNAUTHORIZED", oauthCode: "invalid_grant" },
  ERR_GRANT_UNSUPPORTED: {
    status: 400,
    dockerCode: "UNSUPPORTED",
    oauthCode: "unsupported_grant_type",
  },
  ERR_REQUEST_TOO_LARGE: { status: 413, dockerCode: "SIZE_INVALID", oauthCode: "invalid_request" },
  ERR_INTERNAL: { status: 500, dockerCode: "UNKNOWN", oauthCode: "server_error" },
};
