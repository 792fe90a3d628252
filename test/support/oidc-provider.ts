import { createServer } from "node:http";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import Provider from "oidc-provider";
import type { Cleanup } from "./cleanup.js";
import { freePort } from "./ports.js";

/** One test account at the provider: the login name is its `sub`. */
export interface TestAccount {
  readonly email?: string;
  readonly email_verified?: boolean;
  readonly hd?: string;
  readonly groups?: string | readonly string[];
}

/** An OpenID Connect provider (panva's oidc-provider) on loopback, for the tests. */
export interface TestProvider {
  /** The issuer, `http://127.0.0.1:PORT`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Makes the provider refuse `login` from now on (sign-in and refresh). */
  disable(login: string): void;
  /**
   * Signs `claims` as the provider would sign an ID token (same key, `kid`
   * and algorithm): a validly signed token whose claims the test chooses.
   */
  signIdToken(claims: Record<string, unknown>): Promise<string>;
}

/**
 * Starts oidc-provider on a free 127.0.0.1 port with `accounts` and one
 * confidential client allowed to redirect to `redirectUri`. Its development
 * login form accepts any password for a known login; consent is granted
 * without asking (a first-party client), so a sign-in is one form. Refresh
 * tokens are issued to the client on every code exchange.
 */
export async function startTestProvider(options: {
  readonly cleanup: Cleanup;
  readonly accounts: Readonly<Record<string, TestAccount>>;
  readonly redirectUri: string;
}): Promise<TestProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = "registry-e2e";
  const clientSecret = "registry-e2e-client-secret-0123456789";
  const disabled = new Set<string>();
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: "e2e-key", alg: "RS256", use: "sig" };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      },
    ],
    // biome-ignore lint/suspicious/noExplicitAny: oidc-provider's JWK type differs from jose's
    jwks: { keys: [jwk as any] },
    cookies: { keys: ["e2e-cookie-key-0123456789abcdef"] },
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified", "hd"],
      groups: ["groups"],
    },
    features: { devInteractions: { enabled: true }, revocation: { enabled: true } },
    pkce: { required: () => true },
    async findAccount(_ctx, id) {
      const account = options.accounts[id];
      if (account === undefined || disabled.has(id)) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    async loadExistingGrant(ctx) {
      const session = ctx.oidc.session;
      const client = ctx.oidc.client;
      if (session?.accountId === undefined || client === undefined) return undefined;
      const grantId = session.grantIdFor(client.clientId);
      if (grantId !== undefined) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing !== undefined) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: client.clientId,
        accountId: session.accountId,
      });
      grant.addOIDCScope("openid email groups offline_access");
      await grant.save();
      session.grantIdFor(client.clientId, grant.jti);
      return grant;
    },
  });
  const server = createServer(provider.callback());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port }, () => resolve());
  });
  options.cleanup.defer(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  return {
    issuer,
    clientId,
    clientSecret,
    disable: (login) => {
      disabled.add(login);
    },
    signIdToken: (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: "e2e-key", typ: "JWT" })
        .sign(privateKey),
  };
}
