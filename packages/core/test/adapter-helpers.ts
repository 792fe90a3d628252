// Fixtures shared by the Express and Koa adapter tests: a server on a free
// loopback port, closed after each test, and a guard stand-in.
import { once } from "node:events";
import type { RequestListener, Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type AccessEntry,
  createTokenHandler,
  RegauthError,
  type TokenCheck,
  type TokenGuard,
  type VerifiedToken,
} from "../src/index.js";
import { stubIssuer, tableAuthorizer } from "./helpers.js";

/** Starts node:http servers and closes them all in {@link Servers.closeAll}. */
export class Servers {
  readonly #servers: Server[] = [];

  /** Serves `listener` on 127.0.0.1 and returns its origin `http://127.0.0.1:PORT`. */
  async start(listener: RequestListener): Promise<string> {
    const server = createServer(listener);
    this.#servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async closeAll(): Promise<void> {
    for (const server of this.#servers.splice(0)) {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    }
  }
}

/** A token handler that lets everyone in and grants `pull` on `app`, and its recorders. */
export function tokenHandler() {
  const authorizer = tableAuthorizer({ app: ["pull"] });
  const issuer = stubIssuer();
  const handler = createTokenHandler({
    authenticators: [
      {
        async authenticate() {
          return { result: "allow" };
        },
      },
    ],
    authorizers: [authorizer],
    issuer,
    services: ["registry.test"],
  });
  return { handler, authorizer, issuer };
}

/**
 * A TokenGuard stand-in: `Bearer good-<subject>` is a valid token granting
 * `pull` on `team/app`; `Bearer bad` is invalid; no Bearer token is missing.
 * Records every request and required access it was asked about.
 */
export function stubGuard(): TokenGuard & {
  readonly asked: { request: Request; required: readonly AccessEntry[] }[];
} {
  const asked: { request: Request; required: readonly AccessEntry[] }[] = [];
  const granted: AccessEntry[] = [{ type: "repository", name: "team/app", actions: ["pull"] }];
  const refuse = (reason: "missing" | "invalid" | "insufficient"): TokenCheck => ({
    ok: false,
    reason,
    error: new RegauthError("ERR_TOKEN_INVALID", reason),
    response: Response.json(
      { errors: [{ code: "UNAUTHORIZED", message: reason }] },
      { status: 401, headers: { "WWW-Authenticate": `Bearer realm="r",error="${reason}"` } },
    ),
  });
  return {
    asked,
    async check(request, required = []) {
      asked.push({ request, required });
      const header = request.headers.get("authorization") ?? "";
      if (!header.startsWith("Bearer ")) return refuse("missing");
      const token = header.slice("Bearer ".length);
      if (!token.startsWith("good-")) return refuse("invalid");
      const enough = required.every(
        (need) =>
          need.type === "repository" &&
          need.name === "team/app" &&
          need.actions.every((a) => a === "pull"),
      );
      if (!enough) return refuse("insufficient");
      const verified: VerifiedToken = { subject: token.slice("good-".length), access: granted };
      return { ok: true, token: verified };
    },
  };
}

/** A form body as containerd's OAuth2 POST sends it. */
export const OAUTH_FORM =
  "grant_type=password&username=ci&password=secret&service=registry.test&client_id=containerd&scope=repository%3Aapp%3Apull";

/**
 * What the handler answers when called directly with the same request: the
 * adapters must give the same status and the same JSON members, whatever the
 * handler's semantics for that method are.
 */
export async function directAnswer(
  handler: (request: Request) => Promise<Response>,
  url: string,
  init: RequestInit,
): Promise<{ status: number; keys: string[] }> {
  const response = await handler(new Request(url, init));
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, keys: Object.keys(body).sort() };
}

/** The status and sorted JSON members of an answer, to compare with {@link directAnswer}. */
export async function answerShape(response: Response): Promise<{ status: number; keys: string[] }> {
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, keys: Object.keys(body).sort() };
}

/** A form POST as containerd sends it. */
export const FORM_POST: RequestInit = {
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
  body: OAUTH_FORM,
};
