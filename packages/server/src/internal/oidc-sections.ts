import { z } from "zod";
import { duration, optionalText } from "./backend-sections.js";

/**
 * The zod schemas of the `oidc_auth` and `google_auth` sections (sign-in at
 * an OpenID Connect provider for registry passwords, `@regauth/authn/oidc`)
 * and of the `redis` mappings that `oidc_auth`, `google_auth` and
 * `token.refresh_tokens` share. Where docker_auth has a key of the same
 * meaning (`client_id`, `client_secret_file`, `user_claim`, `labels_claims`,
 * `registry_url`, `scopes`, `http_timeout`, google_auth's `domain`) it is
 * read as docker_auth writes it; its token databases are refused with what to
 * write instead.
 */

/** A key that must be absent, with the message to give when it is there. */
const refused = (message: string) =>
  z
    .unknown()
    .refine(() => false, { error: message })
    .optional();

/** `redis://[user:password@]host[:port][/db]` or `rediss://...`; never echoed in messages. */
export const redisSchema = z.strictObject(
  {
    url: z.string({ error: "required, expected redis://HOST:PORT (or rediss://)" }).refine(
      (text) => {
        try {
          const url = new URL(text);
          return (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "";
        } catch {
          return false;
        }
      },
      { error: "expected redis://HOST:PORT or rediss://HOST:PORT" },
    ),
    key_prefix: z
      .string({ error: "expected a key prefix such as regauth:" })
      .min(1, { error: "expected a key prefix such as regauth:" })
      .max(200, { error: "expected at most 200 characters" })
      .optional(),
  },
  { error: "expected a mapping with url (and key_prefix)" },
);

const TOKEN_DB_HELP =
  "regauth keeps registry passwords (as SHA-256 hashes) in memory by default, or in Redis with redis: {url, key_prefix}; a docker_auth token database cannot be carried over, users sign in again";

/** docker_auth's token database keys, in either section. */
const tokenDbKeys = {
  token_db: refused(`docker_auth's token_db (LevelDB) is not applicable: ${TOKEN_DB_HELP}`),
  token_store: refused(`docker_auth's token_store is not applicable: ${TOKEN_DB_HELP}`),
  level_token_db: refused(`docker_auth's level_token_db is not applicable: ${TOKEN_DB_HELP}`),
  gcs_token_db: refused(`docker_auth's gcs_token_db is not applicable: ${TOKEN_DB_HELP}`),
  redis_token_db: refused(
    "docker_auth's redis_token_db is not read: write redis: {url: redis://HOST:PORT, key_prefix: ...}",
  ),
};

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const CLAIM = z
  .string({ error: "expected a claim name" })
  .min(1, { error: "expected a claim name" });

/** Keys `oidc_auth` and `google_auth` share. */
const commonKeys = {
  client_id: z
    .string({ error: "required, expected the client id registered at the provider" })
    .min(1, { error: "expected the client id registered at the provider" }),
  client_secret: optionalText,
  client_secret_file: optionalText,
  base_url: z
    .string({
      error:
        "required, expected the public URL of the sign-in pages, such as https://auth.example.com/oidc_auth",
    })
    .refine(
      (text) => {
        try {
          const url = new URL(text);
          return (
            (url.protocol === "https:" || url.protocol === "http:") &&
            url.search === "" &&
            url.hash === "" &&
            url.username === "" &&
            url.password === ""
          );
        } catch {
          return false;
        }
      },
      {
        error:
          "expected an http(s) URL without query or fragment, such as https://auth.example.com/oidc_auth",
      },
    ),
  cookie_secret: optionalText,
  cookie_secret_file: optionalText,
  registry_url: z
    .string({ error: "required, expected the registry's host, such as registry.example.com" })
    .transform((text, context) => {
      const host = registryHost(text);
      if (host === undefined) {
        context.addIssue({
          code: "custom",
          message:
            "expected the registry's host[:port] or URL, such as registry.example.com or https://registry.example.com:5000",
        });
        return z.NEVER;
      }
      return host;
    }),
  scopes: z
    .array(z.string().regex(SCOPE_TOKEN, { error: "expected a scope such as email" }), {
      error: "expected a list of scopes, such as [openid, email, groups]",
    })
    .refine((scopes) => scopes.includes("openid"), { error: "must include openid" })
    .optional(),
  authorization_params: z
    .record(z.string(), z.string({ error: "expected a string" }), {
      error: "expected a mapping of parameter names to strings",
    })
    .optional(),
  user_claim: CLAIM.optional(),
  labels_claims: z
    .union([z.array(CLAIM), z.record(z.string().min(1), CLAIM)], {
      error: "expected a list of claim names, or a mapping of label names to claim names",
    })
    .optional(),
  allowed_domains: z
    .array(
      z
        .string()
        .transform((text) => text.toLowerCase())
        .pipe(z.string().regex(DOMAIN, { error: "expected a domain such as example.com" })),
      { error: "expected a list of domains" },
    )
    .optional(),
  password_lifetime: duration(60_000, 31_536_000_000).optional(),
  recheck_interval: duration(0, 31_536_000_000).optional(),
  max_passwords_per_account: z
    .number({ error: "expected a number" })
    .int({ error: "expected a whole number" })
    .min(1, { error: "expected at least 1" })
    .max(1_000, { error: "expected at most 1000" })
    .optional(),
  login_timeout: duration(30_000, 86_400_000).optional(),
  session_lifetime: duration(60_000, 86_400_000).optional(),
  provider_name: z
    .string({ error: "expected a name such as Acme SSO" })
    .min(1, { error: "expected a name such as Acme SSO" })
    .max(100, { error: "expected at most 100 characters" })
    .optional(),
  allow_insecure_http: z.boolean({ error: "expected true or false" }).default(false),
  redis: redisSchema.optional(),
  ...tokenDbKeys,
};

/** The `host[:port]` of a registry written as a host or a URL; `undefined` when it is neither. */
function registryHost(text: string): string | undefined {
  const trimmed = text.trim();
  const candidate = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  try {
    const url = new URL(candidate);
    if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
      return undefined;
    }
    if (url.pathname !== "/" && url.pathname !== "") return undefined;
    return /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(url.host) ? url.host : undefined;
  } catch {
    return undefined;
  }
}

function checkSecrets(
  section: {
    client_secret?: string | undefined;
    client_secret_file?: string | undefined;
    cookie_secret?: string | undefined;
    cookie_secret_file?: string | undefined;
  },
  context: z.RefinementCtx,
): void {
  const issue = (key: string, message: string) =>
    context.addIssue({ code: "custom", path: [key], message });
  if (section.client_secret !== undefined && section.client_secret_file !== undefined) {
    issue("client_secret_file", "give client_secret or client_secret_file, not both");
  }
  if (section.cookie_secret !== undefined && section.cookie_secret_file !== undefined) {
    issue("cookie_secret_file", "give cookie_secret or cookie_secret_file, not both");
  }
  if (section.cookie_secret === undefined && section.cookie_secret_file === undefined) {
    issue(
      "cookie_secret",
      "required (or cookie_secret_file): at least 32 characters of secret text, such as the output of openssl rand -base64 48",
    );
  }
  if (section.cookie_secret !== undefined && section.cookie_secret.length < 32) {
    issue("cookie_secret", "expected at least 32 characters of secret text");
  }
}

/** regauth's `oidc_auth`, with docker_auth's oidc_auth keys where they mean the same. */
export const oidcAuthSchema = z
  .strictObject(
    {
      issuer: z.string({ error: "required, expected the provider's issuer URL" }).refine(
        (text) => {
          try {
            const url = new URL(text);
            return url.protocol === "https:" || url.protocol === "http:";
          } catch {
            return false;
          }
        },
        { error: "expected the provider's issuer URL, such as https://gitlab.example.com" },
      ),
      http_timeout: duration(100, 300_000).optional(),
      redirect_url: refused(
        "docker_auth's redirect_url is not read: write base_url (the sign-in pages' URL); the redirect URI to register at the provider is then <base_url>/callback",
      ),
      ...commonKeys,
    },
    {
      error: "expected a mapping with issuer, client_id, base_url, cookie_secret and registry_url",
    },
  )
  .superRefine(checkSecrets);

/**
 * docker_auth's `google_auth`: `oidc_auth` with Google's issuer, `domain`
 * (one allowed domain), and `http_timeout` in seconds (docker_auth's type) or
 * as a Go duration.
 */
export const googleAuthSchema = z
  .strictObject(
    {
      issuer: refused(
        "google_auth always uses Google (https://accounts.google.com); use oidc_auth for another provider",
      ),
      domain: z
        .string({ error: "expected a domain such as example.com" })
        .transform((text) => text.toLowerCase())
        .pipe(z.string().regex(DOMAIN, { error: "expected a domain such as example.com" }))
        .optional(),
      http_timeout: z
        .union(
          [
            z
              .number()
              .int()
              .min(1)
              .max(300)
              .transform((seconds) => seconds * 1000),
            duration(100, 300_000),
          ],
          { error: 'expected seconds (1 to 300) or a duration such as "10s"' },
        )
        .optional(),
      ...commonKeys,
    },
    { error: "expected a mapping with client_id, base_url, cookie_secret and registry_url" },
  )
  .superRefine((section, context) => {
    checkSecrets(section, context);
    if (section.domain !== undefined && section.allowed_domains !== undefined) {
      context.addIssue({
        code: "custom",
        path: ["allowed_domains"],
        message: "give domain or allowed_domains, not both",
      });
    }
  });

export type RedisFile = z.output<typeof redisSchema>;
export type OidcAuthFile = z.output<typeof oidcAuthSchema>;
export type GoogleAuthFile = z.output<typeof googleAuthSchema>;
