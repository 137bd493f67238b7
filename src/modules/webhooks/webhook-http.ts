import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Outbound HTTP for webhooks, hardened against SSRF: a receiver's URL is an operator's input, but the
 * address its name resolves to is whoever controls its DNS. So every address is checked (loopback, private,
 * link-local, CGNAT, metadata, multicast, reserved and the IPv6 forms that embed one: IPv4-mapped, NAT64,
 * 6to4, Teredo), the connection is made to the checked address itself (our own `lookup`, so a second
 * resolution cannot swap it: DNS rebinding), the connected peer is checked again, redirects are not
 * followed, and no more than a small part of the answer is read.
 */

/** Why a URL or an address was refused (the message names the rule, never more than the operator gave). */
export class UnsafeAddressError extends Error {
  override readonly name = 'UnsafeAddressError';
}

/** True for an address on the public internet: only ipaddr.js's `unicast` range, after unwrapping IPv4-mapped forms. */
export function isPublicAddress(ip: string): boolean {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  // Scoped IPv6 (fe80::1%eth0) is link-local anyway; ipaddr.js refuses the zone.
  if (!ipaddr.isValid(bare) || bare.includes('%')) return false;
  let addr = ipaddr.parse(bare);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  return addr.range() === 'unicast';
}

export interface AddressPolicy {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: every address is allowed. */
  readonly allowPrivateNetworks: boolean;
}

const allowed = (policy: AddressPolicy, ip: string) => policy.allowPrivateNetworks || isPublicAddress(ip);

/** Every address a name resolves to (an IP literal is its own), or a refusal when any of them is not allowed. */
export async function resolveAllowed(host: string, policy: AddressPolicy): Promise<LookupAddress[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  const addresses = family
    ? [{ address: bare, family }]
    : await new Promise<LookupAddress[]>((resolve, reject) =>
        dnsLookup(bare, { all: true, verbatim: true }, (err, list) => (err ? reject(new UnsafeAddressError(`${bare} does not resolve`)) : resolve(list))),
      );
  if (addresses.length === 0) throw new UnsafeAddressError(`${bare} does not resolve`);
  // One refused address refuses the name: a resolver answering with a mix could otherwise win a race.
  const refused = addresses.find((a) => !allowed(policy, a.address));
  if (refused) throw new UnsafeAddressError(`${bare} resolves to a loopback, private, link-local or reserved address`);
  return addresses;
}

/** `lookup` for sockets: resolves once, checks, and hands the checked addresses to the connection. */
function checkedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    resolveAllowed(hostname, policy).then(
      (list) => {
        if (options.all) (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };
}

export interface PostResult {
  status: number;
  /** The first bytes of the answer, for the delivery's record. */
  bodyStart: string;
}

export interface WebhookHttpOptions extends AddressPolicy {
  /** No answer (headers) within this many milliseconds is a failure. */
  readonly timeoutMs: number;
  /** How much of an answer is read; the rest is dropped with the connection. */
  readonly maxResponseBytes: number;
  /** Sockets kept per receiver host (keep-alive). */
  readonly maxSocketsPerHost?: number;
}

/** A POST client for webhook deliveries, with its own keep-alive agents (connections are reused per receiver). */
export class WebhookHttp {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly opts: WebhookHttpOptions) {
    const lookup = checkedLookup(opts);
    const common = { keepAlive: true, maxSockets: opts.maxSocketsPerHost ?? 32, maxFreeSockets: 8, timeout: opts.timeoutMs, lookup };
    this.httpAgent = new http.Agent(common);
    this.httpsAgent = new https.Agent(common);
  }

  /**
   * POSTs `body` with `headers`. Rejects on a refused address, a connection failure or the timeout; resolves
   * with any HTTP answer (a 3xx is an answer: redirects are never followed).
   */
  async post(url: string, headers: Record<string, string>, body: string): Promise<PostResult> {
    const target = new URL(url);
    // IP literals skip `lookup`: check them here (and every peer again once connected, below).
    const literal = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
    if (isIP(literal) && !allowed(this.opts, literal)) throw new UnsafeAddressError(`${literal} is a loopback, private, link-local or reserved address`);
    const isHttps = target.protocol === 'https:';
    const payload = Buffer.from(body);
    return new Promise<PostResult>((resolve, reject) => {
      const req = (isHttps ? https : http).request(
        target,
        {
          method: 'POST',
          agent: isHttps ? this.httpsAgent : this.httpAgent,
          headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length), 'user-agent': 'Latchkey-Webhooks/1' },
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const done = () => {
            clearTimeout(drainTimer);
            resolve({ status: res.statusCode ?? 0, bodyStart: Buffer.concat(chunks).toString('utf8').slice(0, this.opts.maxResponseBytes) });
          };
          // A receiver that streams forever is cut off: the status is what counts.
          const drainTimer = setTimeout(() => {
            res.destroy();
            done();
          }, 1_000);
          res.on('data', (chunk: Buffer) => {
            if (size < this.opts.maxResponseBytes) chunks.push(chunk);
            size += chunk.length;
            if (size > this.opts.maxResponseBytes) {
              res.destroy();
              done();
            }
          });
          res.on('end', done);
          res.on('error', done);
        },
      );
      req.on('socket', (socket: Socket) => {
        const check = () => {
          const peer = socket.remoteAddress;
          if (peer && !allowed(this.opts, peer)) req.destroy(new UnsafeAddressError(`connected to ${peer}, a loopback, private, link-local or reserved address`));
        };
        // A reused keep-alive socket is connected already (and was checked when it connected).
        if (socket.remoteAddress) check();
        else socket.once('connect', check);
      });
      req.on('error', (err: Error) => reject(err.name === 'AbortError' || err.name === 'TimeoutError' ? new Error(`no answer within ${this.opts.timeoutMs} ms`) : err));
      req.end(payload);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
