import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const validProductionEnv = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://u:p@db:5432/latchkey',
  APP_SECRET: 'x'.repeat(40),
  JWT_PRIVATE_KEYS: '{"keys":[]}',
  RESEND_API_KEY: 're_test_key_123',
};

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig({});
    expect(c.http).toMatchObject({ port: 4000, host: '127.0.0.1', publicUrl: 'http://localhost:4000', appUrl: 'http://localhost:4000/account', accountConsole: true });
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.auth).toMatchObject({ accessTokenTtl: 900, refreshTokenTtl: 2_592_000, bcryptCost: 12, passwordMinLength: 8 });
    expect(c.mail.from).toBe('Latchkey <no-reply@localhost>');
    expect(c.http.graphiql).toBe(true);
    expect(c.http.corsOrigins).toBe('localhost');
  });

  it('reads the recent-authentication window and the owner-proof limit', () => {
    const c = loadConfig({});
    expect(c.auth.reauthMaxAge).toBe(600);
    expect(c.limits.reauth).toEqual({ points: 10, windowSeconds: 900 });
    const custom = loadConfig({ REAUTH_MAX_AGE_SECONDS: '120', RATE_LIMIT_REAUTH: '5/600' });
    expect(custom.auth.reauthMaxAge).toBe(120);
    expect(custom.limits.reauth).toEqual({ points: 5, windowSeconds: 600 });
    expect(() => loadConfig({ REAUTH_MAX_AGE_SECONDS: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...validProductionEnv, RATE_LIMIT_REAUTH: 'off' })).toThrow(ConfigError);
  });

  it('passkeys: the RP id and origins default to APP_URL; an origin outside the RP id, or not an origin, stops the start', () => {
    expect(loadConfig({}).webauthn).toEqual({ rpId: 'localhost', rpName: 'Latchkey', origins: ['http://localhost:4000'] });
    expect(loadConfig({ APP_URL: 'https://app.example.com/account' }).webauthn).toMatchObject({ rpId: 'app.example.com', origins: ['https://app.example.com'] });
    const set = loadConfig({ WEBAUTHN_RP_ID: 'Example.com', WEBAUTHN_ORIGINS: 'https://example.com, https://login.example.com:8443/' });
    expect(set.webauthn).toMatchObject({ rpId: 'example.com', origins: ['https://example.com', 'https://login.example.com:8443'] });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (e) {
        return (e as ConfigError).issues.map((i) => i.key);
      }
      return [];
    };
    expect(problems({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://example.org' })).toEqual(['WEBAUTHN_RP_ID']);
    expect(problems({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://notexample.com' })).toEqual(['WEBAUTHN_RP_ID']);
    expect(problems({ WEBAUTHN_ORIGINS: 'https://localhost/app' })).toEqual(['WEBAUTHN_ORIGINS']);
    expect(problems({ WEBAUTHN_RP_ID: 'https://example.com' })).toEqual(['WEBAUTHN_RP_ID']);
  });

  it('names every bad key at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', REDIS_URL: 'http://nope', BCRYPT_COST: '99' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.key).sort()).toEqual(['BCRYPT_COST', 'PORT', 'REDIS_URL']);
  });

  it('requires real secrets and a database in production, and a cost of at least 10', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    try {
      loadConfig({ NODE_ENV: 'production', BCRYPT_COST: '4', RESEND_API_KEY: 're_test_key_123' });
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.key).sort()).toEqual(['APP_SECRET', 'BCRYPT_COST', 'DATABASE_URL', 'JWT_PRIVATE_KEYS']);
    }
    const c = loadConfig(validProductionEnv);
    expect(c.isProduction).toBe(true);
    expect(c.http.graphiql).toBe(false);
    expect(c.http.corsOrigins).toEqual([]);
  });

  it('refuses production without a mail provider, naming RESEND_API_KEY alone', () => {
    const { RESEND_API_KEY: _provider, ...withoutProvider } = validProductionEnv;
    for (const env of [withoutProvider, { ...withoutProvider, RESEND_API_KEY: '' }]) {
      try {
        loadConfig(env);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as ConfigError).issues.map((i) => i.key)).toEqual(['RESEND_API_KEY']);
      }
    }
    // Development and tests keep the dev outbox.
    expect(loadConfig({ NODE_ENV: 'development' }).mail.resendApiKey).toBeUndefined();
    expect(loadConfig({ NODE_ENV: 'test' }).mail.resendApiKey).toBeUndefined();
  });

  it('refuses a short APP_SECRET and half a TLS pair', () => {
    try {
      loadConfig({ APP_SECRET: 'short', TLS_CERT_FILE: '/tmp/cert.pem' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.key).sort()).toEqual(['APP_SECRET', 'TLS_KEY_FILE']);
    }
  });

  it('reads the metrics listener settings: on PORT by default, never the same port twice, no trivial token', () => {
    expect(loadConfig({ HOST: '127.0.0.1' }).metrics).toEqual({ port: undefined, host: '127.0.0.1', token: undefined });
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5', METRICS_TOKEN: 'a'.repeat(32) }).metrics).toEqual({ port: 9464, host: '10.0.0.5', token: 'a'.repeat(32) });
    try {
      loadConfig({ PORT: '4000', METRICS_PORT: '4000', METRICS_TOKEN: 'short' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.key).sort()).toEqual(['METRICS_TOKEN']);
    }
    try {
      loadConfig({ PORT: '4000', METRICS_PORT: '4000' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.key)).toEqual(['METRICS_PORT']);
    }
  });

  it('reads APP_SECRET_PREVIOUS as a list of 32+ byte secrets, none twice and none equal to APP_SECRET', () => {
    const [a, b] = ['a'.repeat(40), 'b'.repeat(40)];
    expect(loadConfig({ APP_SECRET: 'x'.repeat(40), APP_SECRET_PREVIOUS: ` ${a} ,${b}` }).secrets.appSecretPrevious).toEqual([a, b]);
    expect(loadConfig({}).secrets.appSecretPrevious).toEqual([]);
    for (const previous of ['short', `${a},${a}`, 'x'.repeat(40)]) {
      try {
        loadConfig({ APP_SECRET: 'x'.repeat(40), APP_SECRET_PREVIOUS: previous });
        expect.unreachable();
      } catch (e) {
        expect((e as ConfigError).issues.map((i) => i.key), previous).toEqual(['APP_SECRET_PREVIOUS']);
      }
    }
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).http.port).toBe(4000);
  });

  it('stops the real start with one message naming all three bad keys', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH, PORT: '-1', REDIS_URL: 'ftp://x', ACCESS_TOKEN_TTL: 'soon' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(78);
    expect(stderr).toContain('PORT');
    expect(stderr).toContain('REDIS_URL');
    expect(stderr).toContain('ACCESS_TOKEN_TTL');
    expect(stderr.trim().split('\n')[0]).toMatch(/Invalid configuration \(3 problems\)/);
  });

  it('stops a production start without RESEND_API_KEY with one message naming it', async () => {
    const { RESEND_API_KEY: _provider, ...withoutProvider } = validProductionEnv;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      // Nothing answers on these: were the configuration accepted, the start would fail on them instead.
      env: { PATH: process.env.PATH, ...withoutProvider, DATABASE_URL: 'postgres://u:p@127.0.0.1:1/latchkey', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(78);
    expect(stderr.trim().split('\n')[0]).toMatch(/Invalid configuration \(1 problem\)/);
    expect(stderr).toContain('RESEND_API_KEY');
  }, 60_000); // a cold `tsx` start on a busy machine
});

describe('TRUST_PROXY', () => {
  const trustProxy = (value: string | undefined) => loadConfig(value === undefined ? {} : { TRUST_PROXY: value }).http.trustProxy;
  const problemKeys = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      // One message naming the key, never a stack from deep inside Fastify.
      expect((e as ConfigError).message).toMatch(/^Invalid configuration \(1 problem\)/);
      return (e as ConfigError).issues.map((i) => i.key);
    }
    return [];
  };

  it('is off unless set: `false` and unset ignore X-Forwarded-For', () => {
    expect(trustProxy(undefined)).toBe(false);
    expect(trustProxy('false')).toBe(false);
    expect(trustProxy('')).toBe(false);
  });

  it('takes `true` (every hop trusted)', () => {
    expect(trustProxy('true')).toBe(true);
  });

  it('takes IPs, CIDRs, netmasks, IPv6 and proxy-addr names, comma-separated', () => {
    expect(trustProxy('127.0.0.1')).toEqual(['127.0.0.1']);
    expect(trustProxy('10.0.0.0/8, 172.16.0.0/12 ,192.168.0.0/16')).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']);
    expect(trustProxy('10.1.0.0/255.255.0.0')).toEqual(['10.1.0.0/255.255.0.0']);
    expect(trustProxy('::1,fd00::/8,2001:db8::/32,::ffff:10.0.0.1')).toEqual(['::1', 'fd00::/8', '2001:db8::/32', '::ffff:10.0.0.1']);
    expect(trustProxy('loopback,uniquelocal')).toEqual(['loopback', 'uniquelocal']);
  });

  it('refuses a hop count: Fastify would silently trust nobody', () => {
    for (const hops of ['0', '1', '2']) expect(problemKeys({ TRUST_PROXY: hops }), hops).toEqual(['TRUST_PROXY']);
  });

  it('refuses junk with one config message', () => {
    for (const junk of ['yes', 'on', 'TRUE', '10.0.0.0/33', '2001:db8::/129', '1,2', '127.1', '10.0.0.1,proxy.internal', ',', '1.2.3.4/x']) {
      expect(problemKeys({ TRUST_PROXY: junk }), junk).toEqual(['TRUST_PROXY']);
    }
  });
});

describe('HOST', () => {
  it('listens on loopback outside production, on every interface in production, and as told', () => {
    expect(loadConfig({}).http.host).toBe('127.0.0.1');
    expect(loadConfig({ NODE_ENV: 'test' }).http.host).toBe('127.0.0.1');
    expect(loadConfig(validProductionEnv).http.host).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0' }).http.host).toBe('0.0.0.0');
    expect(loadConfig({ ...validProductionEnv, HOST: '10.0.0.5' }).http.host).toBe('10.0.0.5');
  });
});

describe('RATE_LIMIT_IPV6_PREFIX', () => {
  it('defaults to /64 and takes 32 to 128', () => {
    expect(loadConfig({}).rateLimitIpv6Prefix).toBe(64);
    expect(loadConfig({ RATE_LIMIT_IPV6_PREFIX: '56' }).rateLimitIpv6Prefix).toBe(56);
    expect(loadConfig({ RATE_LIMIT_IPV6_PREFIX: '128' }).rateLimitIpv6Prefix).toBe(128);
    for (const bad of ['16', '129', 'wide']) expect(() => loadConfig({ RATE_LIMIT_IPV6_PREFIX: bad }), bad).toThrow(ConfigError);
  });
});

describe('ALERT_CREDENTIAL_STUFFING and ALERT_SIGNUP_BURST', () => {
  it('default to 10/600 and 20/600, take count/seconds or off, and refuse anything unbounded', () => {
    expect(loadConfig({}).alerts).toEqual({ credential_stuffing: { threshold: 10, windowSeconds: 600 }, signup_burst: { threshold: 20, windowSeconds: 600 } });
    // `off` is an operator's choice (their SIEM may own the rule), allowed in production too.
    const set = loadConfig({ ...validProductionEnv, ALERT_CREDENTIAL_STUFFING: '5/3600', ALERT_SIGNUP_BURST: 'off' }).alerts;
    expect(set).toEqual({ credential_stuffing: { threshold: 5, windowSeconds: 3600 }, signup_burst: null });
    for (const bad of ['1/600', '1001/600', '10/59', '10/86401', '10', 'ten/600', '10/600/1']) {
      try {
        loadConfig({ ALERT_CREDENTIAL_STUFFING: bad });
        expect.unreachable(bad);
      } catch (e) {
        expect(e, bad).toBeInstanceOf(ConfigError);
        expect((e as ConfigError).issues.map((i) => i.key)).toEqual(['ALERT_CREDENTIAL_STUFFING']);
      }
    }
  });
});
