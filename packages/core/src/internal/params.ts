import { RegauthError } from "../errors.js";

/**
 * The one value of a parameter that must not disagree with itself: repeating it
 * with the same value is tolerated, two different values are refused (400).
 * Missing gives `""`.
 */
export function singleValue(params: URLSearchParams, name: string): string {
  const values = params.getAll(name);
  const first = values[0] ?? "";
  if (values.some((value) => value !== first)) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `parameter ${name} given twice with different values`,
    );
  }
  return first;
}

/** Longest service name accepted when any service is served, in characters. */
const MAX_SERVICE_LENGTH = 256;

/**
 * The service a request names (`service`). With a list of `services`: a
 * missing or empty one means the first, and one not in the list is refused.
 * With `"any"` (docker_auth's behaviour): any non-empty name of at most 256
 * printable characters, and a missing one is refused.
 *
 * @throws RegauthError `ERR_REQUEST_INVALID` for a service not served.
 */
export function resolveService(
  params: URLSearchParams,
  services: readonly string[] | "any",
): string {
  const requested = singleValue(params, "service");
  if (services === "any") {
    if (
      requested === "" ||
      requested.length > MAX_SERVICE_LENGTH ||
      !/^[\x21-\x7e]+$/.test(requested)
    ) {
      throw new RegauthError(
        "ERR_REQUEST_INVALID",
        `the service parameter is required: 1 to ${MAX_SERVICE_LENGTH} printable characters`,
      );
    }
    return requested;
  }
  const service = requested === "" ? (services[0] as string) : requested;
  if (!services.includes(service)) {
    throw new RegauthError(
      "ERR_REQUEST_INVALID",
      `unknown service ${JSON.stringify(service.slice(0, 100))}`,
    );
  }
  return service;
}

/** `issued_at` as the docker client reads it: RFC 3339 in UTC, whole seconds. */
export function formatIssuedAt(date: Date): string {
  const text = date.toISOString();
  // toISOString always ends in `.sssZ`: drop the milliseconds.
  return `${text.slice(0, -5)}Z`;
}
