import type { AuthzRequest, Labels } from "@regauth/core";

/** Shorthand for a request's fields; `name`, `type` and `actions` build the scope. */
export interface RequestShape {
  account?: string;
  service?: string;
  clientIp?: string | undefined;
  labels?: Labels;
  type?: string;
  name?: string;
  actions?: readonly string[];
}

/** An {@link AuthzRequest} for `repository:app:pull,push` by `alice`, with overrides. */
export function request(shape: RequestShape = {}): AuthzRequest {
  return {
    account: shape.account ?? "alice",
    service: shape.service ?? "registry.example.com",
    clientIp: "clientIp" in shape ? shape.clientIp : "192.0.2.10",
    labels: shape.labels ?? {},
    scope: {
      type: shape.type ?? "repository",
      name: shape.name ?? "app",
      actions: shape.actions ?? ["pull", "push"],
    },
  };
}
