import type { TokenHandler } from "@regauth/core";

/** One token request as the matrix reports it. Secrets are never kept. */
export interface GrantRecord {
  /** The label set by {@link GrantRecorder.label} when the request came. */
  readonly label: string;
  readonly method: string;
  /** `grant_type` of a POST; `""` for GET. */
  readonly grantType: string;
  /** Every scope asked for, split on spaces, from the query and the form. */
  readonly scopes: readonly string[];
  /** `offline_token=true` (GET) or `access_type=offline` (POST). */
  readonly offline: boolean;
  readonly status: number;
  /** Whether the answer carried a `refresh_token`. */
  readonly refreshIssued: boolean;
  /** `client_id`, `""` when none was sent. */
  readonly clientId: string;
}

/** A token handler wrapper that records what each client asked and got. */
export interface GrantRecorder {
  readonly handler: TokenHandler;
  readonly records: readonly GrantRecord[];
  /** Labels the requests that follow (for instance `"oras push"`). */
  label(label: string): void;
  /** The records whose label starts with `prefix`. */
  since(prefix: string): GrantRecord[];
}

/** Wraps `handler`, reading a copy of each POST body (the handler reads the original). */
export function recordGrants(handler: TokenHandler): GrantRecorder {
  const records: GrantRecord[] = [];
  let current = "";
  return {
    records,
    label(label) {
      current = label;
    },
    since: (prefix) => records.filter((r) => r.label.startsWith(prefix)),
    async handler(request, context) {
      const label = current;
      const params = new URLSearchParams(new URL(request.url).searchParams);
      if (request.method === "POST") {
        const text = await request.clone().text();
        for (const [key, value] of new URLSearchParams(text)) params.append(key, value);
      }
      const response = await handler(request, context);
      let refreshIssued = false;
      try {
        const body = (await response.clone().json()) as Record<string, unknown>;
        refreshIssued = typeof body.refresh_token === "string";
      } catch {
        // not JSON
      }
      records.push({
        label,
        method: request.method,
        grantType: request.method === "POST" ? (params.get("grant_type") ?? "") : "",
        scopes: params
          .getAll("scope")
          .flatMap((value) => value.split(" "))
          .filter((scope) => scope !== ""),
        offline: params.get("offline_token") === "true" || params.get("access_type") === "offline",
        status: response.status,
        refreshIssued,
        clientId: params.get("client_id") ?? "",
      });
      return response;
    },
  };
}
