import { describe, expect, it } from 'vitest';
import { clientNetwork } from './client-network.js';

describe('clientNetwork', () => {
  it('keeps an IPv4 address whole, and reads an IPv4-mapped IPv6 address as IPv4', () => {
    expect(clientNetwork('203.0.113.7', 64)).toBe('203.0.113.7');
    expect(clientNetwork('::ffff:203.0.113.7', 64)).toBe('203.0.113.7');
    expect(clientNetwork('::ffff:cb00:7107', 64)).toBe('203.0.113.7');
  });

  it('counts IPv6 by its /64, however the address is written', () => {
    const net = '2001:db8:1:2::/64';
    expect(clientNetwork('2001:db8:1:2::a', 64)).toBe(net);
    expect(clientNetwork('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff', 64)).toBe(net);
    expect(clientNetwork('2001:db8:1:2:0:0:0:1', 64)).toBe(net);
    expect(clientNetwork('2001:db8:1:3::a', 64)).toBe('2001:db8:1:3::/64');
  });

  it('drops a zone id', () => {
    expect(clientNetwork('fe80::1:2:3:4%eth0', 64)).toBe('fe80::/64');
    expect(clientNetwork('fe80::1%2', 64)).toBe(clientNetwork('fe80::1', 64));
  });

  it('follows the configured prefix: /56 joins what /64 keeps apart, /128 is the address', () => {
    expect(clientNetwork('2001:db8:1:2::a', 56)).toBe('2001:db8:1::/56');
    expect(clientNetwork('2001:db8:1:ff::a', 56)).toBe('2001:db8:1::/56');
    expect(clientNetwork('2001:db8:1:100::a', 56)).toBe('2001:db8:1:100::/56');
    expect(clientNetwork('2001:db8:1:2::a', 128)).toBe('2001:db8:1:2::a/128');
    expect(clientNetwork('::1', 64)).toBe('::/64');
  });

  it('returns what is not an address unchanged', () => {
    expect(clientNetwork('unknown', 64)).toBe('unknown');
    expect(clientNetwork('', 64)).toBe('');
  });
});
