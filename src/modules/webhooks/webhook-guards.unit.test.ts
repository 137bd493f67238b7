import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { EndpointGates } from './endpoint-gates.js';
import { newSecret, signatureOf } from './webhook-events.js';
import { isPublicAddress, resolveAllowed } from './webhook-http.js';

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '0.0.0.0',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.100.100.200',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd00:ec2::254',
    'ff02::1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::',
    '2001:db8::1',
    'not an address',
  ])('refuses %s', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:93.184.216.34'])('allows %s', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it('refuses a name when any of its addresses is refused, and allows everything when private networks are', async () => {
    await expect(resolveAllowed('localhost', { allowPrivateNetworks: false })).rejects.toThrow(/loopback/);
    await expect(resolveAllowed('127.0.0.1', { allowPrivateNetworks: true })).resolves.toEqual([{ address: '127.0.0.1', family: 4 }]);
  });
});

describe('signatureOf', () => {
  it('writes what the official library verifies, one signature per secret', () => {
    const [a, b] = [newSecret(), newSecret()];
    const body = JSON.stringify({ type: 'user.created', timestamp: new Date().toISOString(), data: { userId: 'u1' } });
    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': signatureOf([a, b], 'msg_1', ts, body) };
    expect(new Webhook(a).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(b).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(a).verify(body.replace('u1', 'u2'), headers)).toThrow();
  });
});

describe('EndpointGates', () => {
  const make = () => {
    let now = 0;
    const gates = new EndpointGates({ maxInFlight: 2, threshold: 3, baseOpenMs: 1_000, maxOpenMs: 4_000, saturatedMs: 500 }, () => now);
    return { gates, advance: (ms: number) => (now += ms) };
  };

  it('caps attempts per endpoint, not across endpoints, and finds out one that holds its slots', () => {
    const { gates, advance } = make();
    expect([gates.enter('dead'), gates.enter('dead'), gates.enter('dead')]).toEqual(['go', 'go', 'busy']);
    expect(gates.enter('healthy')).toBe('go');
    advance(500);
    expect(gates.enter('dead')).toBe('open');
    gates.leave('healthy', true);
    expect(gates.enter('healthy')).toBe('go');
  });

  it('counts nothing for an attempt that sent nothing', () => {
    const { gates } = make();
    for (let i = 0; i < 5; i++) {
      expect(gates.enter('e')).toBe('go');
      gates.leave('e', null);
    }
    expect(gates.enter('e')).toBe('go');
  });

  it('opens after failures in a row, lets one probe through after the pause, and closes on its success', () => {
    const { gates, advance } = make();
    for (let i = 0; i < 3; i++) {
      expect(gates.enter('e')).toBe('go');
      gates.leave('e', false);
    }
    expect(gates.enter('e')).toBe('open');
    advance(1_000);
    expect(gates.enter('e')).toBe('go');
    expect(gates.enter('e')).toBe('open');
    gates.leave('e', false);
    // Reopened for twice as long.
    advance(1_999);
    expect(gates.enter('e')).toBe('open');
    advance(1);
    expect(gates.enter('e')).toBe('go');
    gates.leave('e', true);
    expect([gates.enter('e'), gates.enter('e')]).toEqual(['go', 'go']);
  });

  it('says when a failure opens the circuit, and for how long; reset forgets it but keeps the slots counted', () => {
    const { gates } = make();
    const verdicts: (number | null)[] = [];
    for (let i = 0; i < 3; i++) {
      gates.enter('e');
      verdicts.push(gates.leave('e', false));
    }
    expect(verdicts).toEqual([null, null, 1_000]);
    expect(gates.enter('e')).toBe('open');
    gates.reset('e');
    expect([gates.enter('e'), gates.enter('e'), gates.enter('e')]).toEqual(['go', 'go', 'busy']);
    gates.reset('e');
    expect(gates.enter('e')).toBe('busy');
  });
});
