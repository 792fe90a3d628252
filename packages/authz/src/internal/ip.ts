import { BlockList, isIP } from "node:net";

/** A client address ready for `BlockList.check`. */
export interface ClientAddress {
  readonly address: string;
  readonly family: "ipv4" | "ipv6";
}

/**
 * Parses an `ip` match value: one address (`10.1.2.3`, `2001:db8::1`) or a
 * CIDR block (`10.0.0.0/8`, `2001:db8::/32`; host bits may be set, as Go's
 * `net.ParseCIDR` allows). Zone indexes (`fe80::1%eth0`) are refused.
 * Returns `undefined` when the value is neither.
 */
export function parseIpRule(text: string): BlockList | undefined {
  if (text.includes("%")) return undefined;
  const list = new BlockList();
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const family = version === 4 ? "ipv4" : "ipv6";
  if (slash < 0) {
    list.addAddress(address, family);
    return list;
  }
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (version === 4 ? 32 : 128)) return undefined;
  list.addSubnet(address, Number(prefix), family);
  return list;
}

/**
 * Reads the request's `clientIp`. `BlockList` already matches an IPv4-mapped
 * IPv6 address (`::ffff:10.1.2.3`) against IPv4 rules; a zone index is
 * dropped. Returns `undefined` when there is no address or it is not one.
 */
export function toClientAddress(clientIp: string | undefined): ClientAddress | undefined {
  if (clientIp === undefined) return undefined;
  const zone = clientIp.indexOf("%");
  const address = zone < 0 ? clientIp : clientIp.slice(0, zone);
  const version = isIP(address);
  if (version === 0) return undefined;
  return { address, family: version === 4 ? "ipv4" : "ipv6" };
}
