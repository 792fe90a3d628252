import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { TokenHandler } from "@regauth/core";
import type { Cleanup } from "./cleanup.js";
import { type RunningRegistry, startRegistry } from "./registry.js";
import { createSigningMaterial, type SigningMaterial } from "./signing.js";
import { type Credentials, createSkopeo, type Skopeo } from "./skopeo.js";
import {
  type RunningTokenServer,
  startTokenServer,
  type TokenServerOptions,
} from "./token-server.js";

/** Options of {@link startStack}. */
export interface StackOptions {
  /** Everything started is stopped and removed when this runs. */
  readonly cleanup: Cleanup;
  /**
   * Builds the token handler once the signing key exists; `service` and `issuer`
   * are what the registry is configured with.
   */
  readonly createHandler: (setup: {
    readonly signing: SigningMaterial;
    readonly service: string;
    readonly issuer: string;
  }) => TokenHandler | Promise<TokenHandler>;
  /** The registry's service (token audience). Default `registry.e2e.test`. */
  readonly service?: string;
  /** The token issuer the registry expects. Default `regauth-e2e`. */
  readonly issuer?: string;
  /** Options of the token server (extra paths served by the handler). */
  readonly tokenServer?: TokenServerOptions;
  /** `storage.delete.enabled`. Default `true`. */
  readonly deleteEnabled?: boolean;
}

/** A registry, its token server and a skopeo to drive them. */
export interface Stack {
  readonly service: string;
  readonly issuer: string;
  readonly signing: SigningMaterial;
  readonly tokens: RunningTokenServer;
  readonly registry: RunningRegistry;
  readonly skopeo: Skopeo;
  /** A scratch directory removed with the stack. */
  readonly workDir: string;
  /** `docker://127.0.0.1:PORT/<name>:<tag>`. */
  imageRef(name: string, tag?: string): string;
  /**
   * Asks the token server for a token as `creds` (anonymous when absent) for
   * `scopes`, as the registry's clients do (GET, Basic). Returns the response status,
   * the parsed JSON body, and the token's decoded claims when there is one.
   */
  fetchToken(creds: Credentials | undefined, scopes: readonly string[]): Promise<FetchedToken>;
  /**
   * The last skopeo command and its stderr, the token server's requests and the
   * registry's log tail: append it to every assertion message.
   */
  diagnostics(): string;
}

/** What {@link Stack.fetchToken} got. */
export interface FetchedToken {
  readonly status: number;
  readonly headers: Headers;
  /** The JSON body, or the text when it is not JSON. */
  readonly body: unknown;
  /** The `token` member of the body, when it is a string. */
  readonly token?: string;
  /** The token's claims, decoded without verification. */
  readonly claims?: TokenClaims;
}

/** The claims of a registry token, as the tests read them. */
export interface TokenClaims {
  readonly iss?: string;
  readonly sub?: string;
  readonly aud?: string | string[];
  readonly exp?: number;
  readonly access?: ReadonlyArray<{ type: string; name: string; actions: string[] }>;
  readonly [claim: string]: unknown;
}

/**
 * Starts the pieces of one end-to-end setup, in the order they depend on each
 * other: an EC P-256 signing key and certificate, the token server (the handler
 * from `createHandler`), docker-registry trusting that certificate with the token
 * server as realm, and a private skopeo. All of it is torn down by `cleanup`.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const { cleanup } = options;
  const service = options.service ?? "registry.e2e.test";
  const issuer = options.issuer ?? "regauth-e2e";
  const root = await cleanup.tempDir("stack-");
  const dirs = {
    signing: join(root, "signing"),
    registry: join(root, "registry"),
    skopeo: join(root, "skopeo"),
    work: join(root, "work"),
  };
  await Promise.all(Object.values(dirs).map((dir) => mkdir(dir, { recursive: true })));

  const signing = await createSigningMaterial(dirs.signing);
  const tokens = await startTokenServer(
    await options.createHandler({ signing, service, issuer }),
    options.tokenServer,
  );
  cleanup.defer(() => tokens.stop());
  const registry = await startRegistry({
    dir: dirs.registry,
    realm: tokens.realm,
    service,
    issuer,
    rootCertBundlePath: signing.certificatePath,
    deleteEnabled: options.deleteEnabled ?? true,
  });
  cleanup.defer(() => registry.stop());
  const skopeo = await createSkopeo(dirs.skopeo);

  return {
    service,
    issuer,
    signing,
    tokens,
    registry,
    skopeo,
    workDir: dirs.work,
    imageRef: (name, tag = "latest") => `docker://${registry.host}/${name}:${tag}`,
    async fetchToken(creds, scopes) {
      const url = new URL(tokens.realm);
      url.searchParams.set("service", service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      const headers = new Headers();
      if (creds) {
        url.searchParams.set("account", creds.username);
        const basic = Buffer.from(`${creds.username}:${creds.password}`).toString("base64");
        headers.set("authorization", `Basic ${basic}`);
      }
      const response = await fetch(url, { headers });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      const token =
        typeof body === "object" && body !== null && "token" in body
          ? (body as { token: unknown }).token
          : undefined;
      const { status, headers: responseHeaders } = response;
      if (typeof token !== "string") return { status, headers: responseHeaders, body };
      return { status, headers: responseHeaders, body, token, claims: decodeClaims(token) };
    },
    diagnostics: () =>
      [
        "",
        skopeo.lastOutput(),
        "--- token server requests ---",
        tokens.describe(),
        "--- registry log ---",
        registry.logTail(20),
      ].join("\n"),
  };
}

/** Decodes (does not verify) the payload of a compact JWT. */
export function decodeClaims(token: string): TokenClaims {
  const payload = token.split(".")[1];
  if (payload === undefined) throw new Error("not a compact JWT");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenClaims;
}

/** Decodes (does not verify) the protected header of a compact JWT. */
export function decodeHeader(token: string): Record<string, unknown> {
  const header = token.split(".")[0] ?? "";
  return JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as Record<string, unknown>;
}
