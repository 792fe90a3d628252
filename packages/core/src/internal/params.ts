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

/**
 * The service a request names (`service`), or the first of `services` when it
 * names none or an empty one.
 *
 * @throws RegauthError `ERR_REQUEST_INVALID` for a service not in `services`.
 */
export function resolveService(params: URLSearchParams, services: readonly string[]): string {
  const requested = singleValue(params, "service");
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
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
