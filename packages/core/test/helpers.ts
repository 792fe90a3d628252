// Shared test fixtures for the core's tests: a trivial token issuer, a
// recording logger, small hand-written authorizers, Basic headers.
import type {
  Authorizer,
  AuthzRequest,
  IssuedToken,
  Logger,
  TokenGrant,
  TokenIssuer,
} from "../src/index.js";

/** The token every {@link StubIssuer} hands out. */
export const STUB_TOKEN = "header.payload.signature";

/** A TokenIssuer stand-in: returns a fixed token and records every grant. */
export interface StubIssuer extends TokenIssuer {
  readonly grants: TokenGrant[];
}

export function stubIssuer(expiresIn = 300): StubIssuer {
  const grants: TokenGrant[] = [];
  return {
    grants,
    async issue(grant: TokenGrant): Promise<IssuedToken> {
      grants.push(grant);
      return { token: STUB_TOKEN, expiresIn, issuedAt: new Date() };
    },
  };
}

/** A logger that keeps every call, and can serialise all of it (errors and causes included). */
export interface RecordingLogger extends Logger {
  readonly calls: { level: string; fields: Record<string, unknown>; message: string }[];
  /** Everything logged, as one string, for "never contains" checks. */
  text(): string;
}

function serialise(value: unknown, seen = new Set<unknown>()): string {
  if (value instanceof Error) {
    if (seen.has(value)) return "";
    seen.add(value);
    return `${value.name}: ${value.message}\n${value.stack ?? ""}\n${serialise(value.cause, seen)}\n${JSON.stringify(value)}`;
  }
  if (typeof value === "object" && value !== null) {
    return Object.entries(value)
      .map(([key, inner]) => `${key}=${serialise(inner, seen)}`)
      .join("\n");
  }
  return String(value);
}

export function recordingLogger(): RecordingLogger {
  const calls: RecordingLogger["calls"] = [];
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      calls.push({ level, fields, message });
    };
  return {
    calls,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    text: () => calls.map((call) => `${call.message}\n${serialise(call.fields)}`).join("\n"),
  };
}

/**
 * An authorizer from a table `name -> allowed actions` (a missing name is
 * no-match) that records every request it is asked.
 */
export function tableAuthorizer(
  table: Record<string, readonly string[]>,
): Authorizer & { readonly requests: AuthzRequest[] } {
  const requests: AuthzRequest[] = [];
  return {
    name: "table",
    requests,
    async authorize(request) {
      requests.push(request);
      const actions = table[request.scope.name];
      return actions === undefined ? { result: "no-match" } : { result: "grant", actions };
    },
  };
}

/** `Basic base64(user:password)`. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}
