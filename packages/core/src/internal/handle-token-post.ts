import type { RefreshTokens } from "../create-refresh-tokens.js";
import type { TokenReply, TokenRequest } from "../create-token-endpoint.js";
import { RegauthError } from "../errors.js";
import { formatScopes } from "../format-scope.js";
import type { Logger } from "../logger.js";
import type { AccessEntry, AuthnRequest, AuthnResult, IssuedToken, Labels } from "../model.js";
import { parseScopes } from "../parse-scope.js";
import type { Scope, ScopeLimits } from "../scope.js";
import { checkCredentialText } from "./basic-auth.js";
import { formatIssuedAt, resolveService, singleValue } from "./params.js";
import { readForm } from "./read-form.js";
import { jsonReply } from "./respond.js";

/** Parameters that hold a secret, never to be logged. */
const SECRET_PARAMETERS = ["password", "refresh_token"] as const;

/** What the POST grant needs from the handler that owns it. */
export interface GrantEndpoint {
  readonly services: readonly string[] | "any";
  readonly limits: ScopeLimits;
  readonly maxBodyBytes: number;
  readonly maxParameters: number;
  readonly refreshTokens: RefreshTokens | undefined;
  readonly log: Logger;
  authenticate(request: AuthnRequest): Promise<AuthnResult>;
  /** Runs the authorizers for every scope and signs the token. */
  grant(
    account: string,
    service: string,
    clientIp: string | undefined,
    labels: Labels,
    scopes: readonly Scope[],
  ): Promise<{ readonly issued: IssuedToken; readonly access: readonly AccessEntry[] }>;
}

/**
 * Serves `POST <realm>` (`query`: the parameters of the target's query, read
 * within the endpoint's limits), the OAuth2 grant of distribution's
 * docs/spec/auth/oauth.md (RFC 6749 §4.3 `password`, §6 `refresh_token`).
 * Parameters are read from the form body and from the URL's query (clients
 * keep the realm's own query on the URL, some repeat it in the body): a
 * parameter in both must hold the same value, `scope` values are all taken.
 * `password` and `refresh_token` in the URL are refused (400): a URL ends up
 * in logs.
 */
export async function handleTokenPost(
  request: TokenRequest,
  query: URLSearchParams,
  clientIp: string | undefined,
  secrets: string[],
  endpoint: GrantEndpoint,
): Promise<TokenReply> {
  // Collect the secrets before anything can fail, so no error path logs them:
  // from the query as from the body, since both count.
  for (const name of SECRET_PARAMETERS) secrets.push(...query.getAll(name));
  // RFC 6749 §4.3.2 and §6 put them in the body. A URL is written to access
  // logs and proxy logs, and kept in histories: refuse it rather than use it.
  const inUrl = SECRET_PARAMETERS.filter((name) => query.has(name));
  if (inUrl.length > 0) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `${inUrl.join(" and ")} must be sent in the form body, never in the URL`,
    );
  }
  const body = await readForm(request, endpoint.maxBodyBytes);
  for (const name of SECRET_PARAMETERS) secrets.push(...body.getAll(name));
  const params = new URLSearchParams([...query, ...body]);
  if (params.size > endpoint.maxParameters) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `too many parameters: more than ${endpoint.maxParameters}`,
    );
  }
  const grantType = singleValue(params, "grant_type");
  const service = resolveService(params, endpoint.services);
  const scopes = parseScopes(params.getAll("scope"), endpoint.limits);
  const clientId = singleValue(params, "client_id");
  const offline = singleValue(params, "access_type") === "offline";
  const { refreshTokens, log } = endpoint;

  let account: string;
  let labels: Labels;
  let refreshToken: string | undefined;
  if (grantType === "password") {
    account = singleValue(params, "username");
    const password = singleValue(params, "password");
    if (account === "") {
      throw new RegauthError("ERR_REQUEST_INVALID", "the password grant needs a username");
    }
    checkCredentialText(account, password, "");
    const authn = await endpoint.authenticate({ account, password, service, clientIp });
    if (authn.result !== "allow") {
      log.info({ account, service, clientIp, outcome: authn.result }, "password grant refused");
      throw new RegauthError("ERR_GRANT_INVALID", "invalid username or password");
    }
    labels = authn.labels ?? {};
    if (offline && refreshTokens) {
      refreshToken = await refreshTokens.issue({ account, service, clientId, labels });
    }
  } else if (grantType === "refresh_token") {
    if (refreshTokens === undefined) {
      throw new RegauthError(
        "ERR_GRANT_UNSUPPORTED",
        "refresh tokens are not enabled on this endpoint",
      );
    }
    const token = singleValue(params, "refresh_token");
    if (token === "") {
      throw new RegauthError("ERR_REQUEST_INVALID", "the refresh_token grant needs refresh_token");
    }
    const record = await refreshTokens.redeem(token, { service, clientId });
    account = record.account;
    labels = record.labels;
    if (refreshTokens.checkAccount) {
      const check = await refreshTokens.checkAccount({ account, service, clientIp, labels });
      if (check.result !== "allow") {
        log.info({ account, service, clientIp, outcome: check.result }, "refresh grant refused");
        throw new RegauthError("ERR_GRANT_INVALID", "the account of this refresh token is refused");
      }
      labels = check.labels ?? labels;
    }
    // Not rotated: the client keeps the token it has; echo it for clients that ask.
    if (offline) refreshToken = token;
  } else if (grantType === "") {
    throw new RegauthError("ERR_REQUEST_INVALID", "grant_type is required");
  } else {
    throw new RegauthError(
      "ERR_GRANT_UNSUPPORTED",
      `grant_type ${JSON.stringify(grantType.slice(0, 50))} not supported: expected password or refresh_token`,
    );
  }

  const { issued, access } = await endpoint.grant(account, service, clientIp, labels, scopes);
  log.info({ account, service, clientIp, access, grantType }, "token issued");
  const granted = access.filter((entry) => entry.actions.length > 0);
  return jsonReply(200, {
    token: issued.token,
    access_token: issued.token,
    token_type: "Bearer",
    expires_in: issued.expiresIn,
    issued_at: formatIssuedAt(issued.issuedAt),
    scope: formatScopes(granted),
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  });
}
