// An Express service that is also its registry's token server. The token
// endpoint lives under /registry (realm: <origin>/registry/auth) beside the
// service's own routes; one of them accepts the registry's tokens.
import { createHtpasswdAuthenticator } from "@regauth/authn";
import { createAclAuthorizer } from "@regauth/authz";
import { createTokenHandler } from "@regauth/core";
import { requireRegistryToken, toExpressMiddleware } from "@regauth/core/express";
import {
  createRegistryTokenGuard,
  type RegistryTokenIssuer,
  type VerifiedRegistryToken,
} from "@regauth/token";
import express from "express";

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

export function createApp(config: AppConfig): express.Express {
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

  const app = express();
  // The client address the ACL's `ip` matches is req.ip: trust only a proxy on
  // this machine to set X-Forwarded-For.
  app.set("trust proxy", "loopback");
  // The app's own body parsers run first; the token endpoint copes.
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));

  app.get("/healthz", (_req, res) => {
    res.json({ ok: true });
  });

  // GET /registry/auth and /registry/auth/token: the registry's token endpoint.
  app.use("/registry", toExpressMiddleware(handler));

  // A route for registry users: it needs a token with pull on the repository.
  app.get(
    "/api/repository-notes",
    (req, res, next) => {
      if (typeof req.query.repository === "string") next();
      else res.status(400).json({ error: "expected ?repository=NAME" });
    },
    requireRegistryToken(guard, {
      access: (req) => [`repository:${String(req.query?.repository)}:pull`],
    }),
    (req, res) => {
      const token = res.locals.registryToken as VerifiedRegistryToken;
      res.json({ repository: req.query.repository, account: token.subject, notes: [] });
    },
  );
  return app;
}
