import { isIP, SocketAddress } from "node:net";
import { RegauthError } from "../errors.js";

/**
 * Normalises one address as proxies and sockets write it: `1.2.3.4`,
 * `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:5678`, and IPv4-mapped IPv6
 * (`::ffff:1.2.3.4` or `::ffff:102:304`, returned as `1.2.3.4`). IPv6 comes
 * back in its canonical text form (RFC 5952: lower case, zeros compressed), so
 * one address has one spelling. Returns `undefined` when it is no address.
 */
export function normalizeAddress(text: string): string | undefined {
  let value = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed) value = bracketed[1] as string;
  else if (/^[\d.]+:\d{1,5}$/.test(value)) value = value.slice(0, value.lastIndexOf(":"));
  const zone = value.indexOf("%");
  if (zone >= 0 && isIP(value.slice(0, zone)) === 6) value = value.slice(0, zone);
  const version = isIP(value);
  if (version === 0) return undefined;
  if (version === 6) {
    const canonical = new SocketAddress({ address: value, family: "ipv6" }).address;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
    return mapped ? (mapped[1] as string) : canonical;
  }
  return value;
}

/**
 * The client's address: from a trusted proxy header when one is configured
 * (the entry at `position` of its comma-separated list: 0 the first, -1 the
 * last, -2 the one before...), else from the socket. Throws
 * `ERR_REQUEST_INVALID` when the configured header is present but the chosen
 * entry is missing or no address.
 */
export function resolveClientIp(
  request: { header(name: string): string | undefined },
  socketAddress: string | undefined,
  proxy: { header: string; position: number } | undefined,
): string | undefined {
  if (proxy) {
    const raw = request.header(proxy.header.toLowerCase());
    if (raw !== undefined) {
      const entries = raw.split(",");
      const index = proxy.position < 0 ? entries.length + proxy.position : proxy.position;
      const entry = entries[index];
      const address = entry === undefined ? undefined : normalizeAddress(entry);
      if (address === undefined) {
        throw new RegauthError(
          "ERR_REQUEST_INVALID",
          `${proxy.header}: no address at position ${proxy.position}`,
        );
      }
      return address;
    }
  }
  return socketAddress === undefined ? undefined : normalizeAddress(socketAddress);
}
