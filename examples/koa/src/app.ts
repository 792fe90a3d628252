// A Koa service that is also its registry's token server. The token endpoint
// lives under /registry (realm: <origin>/registry/auth) beside the service's
// own routes; one of them accepts the registry's tokens.
import { bodyParser } from "@koa/bodyparser";
import { Router } from "@koa/router";
import { createHtpasswdAuthenticator } from "@regauth/authn";
import { createAclAuthorizer } from "@regauth/authz";
import { createTokenHandler } from "@regauth/core";
import { requireRegistryToken, toKoaMiddleware } from "@regauth/core/koa";
import {
  createRegistryTokenGuard,
  type RegistryTokenIssuer,
  type VerifiedRegistryToken,
} from "@regauth/token";
import Koa from "koa";

/** What the app is built from. */
export interface AppConfig {
  /** Signs the tokens (`createTokenIssuer`). */
  readonly issuer: RegistryTokenIssuer;
  /** The registry's `auth.token.service`. */
  readonly service: string;
  /** The token endpoint's public URL, the registry's `auth.token.realm`. */
  readonly realm: string;
  /** The registry's `auth.token.rootcertbundle`, trusted by the guarded route. */
  readonly rootCertBundle: string;
  /** An htpasswd file of bcrypt entries (`htpasswd -B`). */
  readonly htpasswdPath: string;
}

/** `admin` may do anything (catalog included); every other user may pull. */
const ACL = [
  { match: { account: "admin" }, actions: ["*"], comment: "admin: everything" },
  { match: { account: "/.+/", type: "repository" }, actions: ["pull"], comment: "users pull" },
];

export function createApp(config: AppConfig): Koa {
  const handler = createTokenHandler({
    authenticators: [createHtpasswdAuthenticator({ path: config.htpasswdPath })],
    authorizers: [createAclAuthorizer({ acl: ACL })],
    issuer: config.issuer,
    services: [config.service],
    realm: "regauth example",
  });
  const guard = createRegistryTokenGuard({
    realm: config.realm,
    service: config.service,
    issuer: config.issuer.issuer,
    rootCertificates: config.rootCertBundle,
  });

  // The client address the ACL's `ip` matches is ctx.ip: set `proxy: true`
  // only behind a reverse proxy that overwrites X-Forwarded-For.
  const app = new Koa({ proxy: false });
  // The app's own body parser runs first; the token endpoint copes.
  app.use(bodyParser());

  // GET /registry/auth and /registry/auth/token: the registry's token endpoint.
  app.use(toKoaMiddleware(handler, { prefix: "/registry" }));

  const router = new Router();
  router.get("/healthz", (ctx) => {
    ctx.body = { ok: true };
  });
  // A route for registry users: it needs a token with pull on the repository.
  router.get(
    "/api/repository-notes",
    async (ctx, next) => {
      if (typeof ctx.query.repository === "string") await next();
      else {
        ctx.status = 400;
        ctx.body = { error: "expected ?repository=NAME" };
      }
    },
    requireRegistryToken(guard, {
      access: (ctx) => [
        `repository:${new URL(ctx.originalUrl, "http://x").searchParams.get("repository")}:pull`,
      ],
    }),
    (ctx) => {
      const token = ctx.state.registryToken as VerifiedRegistryToken;
      ctx.body = { repository: ctx.query.repository, account: token.subject, notes: [] };
    },
  );
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
