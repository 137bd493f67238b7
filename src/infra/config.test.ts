import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const validProductionEnv = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://u:p@db:5432/latchkey',
  APP_SECRET: 'x'.repeat(40),
  JWT_PRIVATE_KEYS: '{"keys":[]}',
};

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig({});
    expect(c.http).toMatchObject({ port: 4000, host: '0.0.0.0', publicUrl: 'http://localhost:4000', appUrl: 'http://localhost:4000' });
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.auth).toMatchObject({ accessTokenTtl: 900, refreshTokenTtl: 2_592_000, bcryptCost: 12, passwordMinLength: 8 });
    expect(c.mail.from).toBe('Latchkey <no-reply@localhost>');
    expect(c.http.graphiql).toBe(true);
    expect(c.http.corsOrigins).toBe('localhost');
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
      loadConfig({ NODE_ENV: 'production', BCRYPT_COST: '4' });
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.key).sort()).toEqual(['APP_SECRET', 'BCRYPT_COST', 'DATABASE_URL', 'JWT_PRIVATE_KEYS']);
    }
    const c = loadConfig(validProductionEnv);
    expect(c.isProduction).toBe(true);
    expect(c.http.graphiql).toBe(false);
    expect(c.http.corsOrigins).toEqual([]);
  });

  it('refuses a short APP_SECRET and half a TLS pair', () => {
    try {
      loadConfig({ APP_SECRET: 'short', TLS_CERT_FILE: '/tmp/cert.pem' });
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.key).sort()).toEqual(['APP_SECRET', 'TLS_KEY_FILE']);
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
});
