import proxyAddr from '@fastify/proxy-addr';
import ipaddr from 'ipaddr.js';

/** `false`: X-Forwarded-For is ignored; `true`: every hop is trusted; else the proxies' IPs/CIDRs (proxy-addr syntax). */
export type TrustProxy = boolean | readonly string[];

const PROXY_ADDR_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** One TRUST_PROXY entry: an IPv4 in dotted quads or an IPv6, optionally `/bits` (or `/netmask`), or a proxy-addr name. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_ADDR_NAMES.has(entry)) return true;
  const address = entry.split('/')[0] ?? '';
  // ipaddr.js also reads `2` or `127.1` as IPv4 (0.0.0.2, 127.0.0.1): a typo or a hop count, never meant.
  if (!ipaddr.IPv4.isValidFourPartDecimal(address) && !ipaddr.IPv6.isValid(address)) return false;
  try {
    proxyAddr.compile(entry);
    return true;
  } catch {
    return false;
  }
}

/**
 * TRUST_PROXY as Fastify takes it. A bare hop count is refused: Fastify (proxy-addr) ignores one, since
 * "trust the first n hops" cannot tell the proxy from a client that reaches the port directly and sends
 * its own X-Forwarded-For; the proxies must be named by address. Each entry is also compiled by
 * proxy-addr, so what starts is exactly what Fastify trusts, and a typo stops the start with a message
 * instead of a stack.
 */
export function parseTrustProxy(raw: string | undefined): { value: TrustProxy } | { problem: string } {
  if (raw === undefined || raw === 'false') return { value: false };
  if (raw === 'true') return { value: true };
  if (/^\d+$/.test(raw)) {
    return { problem: 'a hop count cannot tell the proxy from a client that bypasses it (Fastify ignores it); name the proxies by IP or CIDR' };
  }
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.filter((entry) => !isProxyEntry(entry));
  if (entries.length === 0 || bad.length > 0) {
    return { problem: `not an IP, a CIDR, \`true\` or \`false\`: ${(bad.length > 0 ? bad : [raw]).map((b) => JSON.stringify(b.slice(0, 64))).join(', ')}` };
  }
  return { value: entries };
}
