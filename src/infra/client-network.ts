import ipaddr from 'ipaddr.js';

/**
 * The network a per-IP limit counts a client by. One IPv6 host usually owns a whole /64 (SLAAC,
 * privacy addresses), so counting each /128 would hand it 2^64 budgets; an IPv4 address, or an
 * IPv4-mapped IPv6 one (`::ffff:1.2.3.4`, what a dual-stack socket reports), counts as itself.
 * Only limiter keys use this: sessions and security events keep the full address.
 *
 * Parsing is ipaddr.js's (zone ids such as `fe80::1%eth0` included); text that is not an address
 * (a socket that had already closed) is returned unchanged.
 */
export function clientNetwork(ip: string, ipv6Prefix: number): string {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    return ip;
  }
  if (address.kind() === 'ipv4') return address.toString();
  const mask = ipaddr.IPv6.subnetMaskFromPrefixLength(ipv6Prefix).toByteArray();
  const network = ipaddr.fromByteArray(address.toByteArray().map((byte, i) => byte & (mask[i] ?? 0)));
  return `${network.toString()}/${ipv6Prefix}`;
}
