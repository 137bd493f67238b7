import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets, redactUrlSecrets, wantsPrettyLogs } from './logger.js';

describe('logger', () => {
  it('redacts passwords, tokens, secrets, cookies and Authorization headers at any usual depth', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    const log = createLogger({ level: 'info', destination });
    log.info({
      req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=s3cr3t' } },
      input: { password: 'hunter2-pw', newPassword: 'n3w-pw' },
      refreshToken: 'rt-123456',
      deep: { inner: { token: 'tok-999', apiKey: 're_live_key' } },
      appSecret: 'app-secret-value',
    }, 'hello');
    const out = lines.join('');
    for (const secret of ['abc.def.ghi', 's3cr3t', 'hunter2-pw', 'n3w-pw', 'rt-123456', 'tok-999', 're_live_key', 'app-secret-value']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('[redacted]');
    expect(JSON.parse(out)).toMatchObject({ msg: 'hello', level: 'info', service: 'latchkey' });
  });
});

describe('redaction', () => {
  const capture = () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    return { lines, log: createLogger({ level: 'info', destination }) };
  };

  it('reaches three levels down, through arrays, in child bindings and in errors, keeping what is not secret', () => {
    const { lines, log } = capture();
    const err = Object.assign(new Error('refused'), { code: 'E_X', token: 'err-token-1' });
    log.info({ a: { b: { c: { token: 'deep-3' } } }, list: [{ accessToken: 'in-array' }], err, 'set-cookie': 'sid=cookie-9', kept: { id: 'u1' } }, 'x');
    log.child({ refreshToken: 'bound-1', ctx: { password: 'bound-2' }, requestId: 'r1' }).info('y');
    log.child({ role: 'api' }).child({ apiKey: 'grandchild-1' }).info('z');
    const out = lines.join('');
    for (const secret of ['deep-3', 'in-array', 'err-token-1', 'cookie-9', 'bound-1', 'bound-2', 'grandchild-1']) expect(out).not.toContain(secret);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ a: { b: { c: { token: '[redacted]' } } }, list: [{ accessToken: '[redacted]' }], kept: { id: 'u1' }, err: { message: 'refused', code: 'E_X', type: 'Error' } });
    expect(second).toMatchObject({ requestId: 'r1', refreshToken: '[redacted]', ctx: { password: '[redacted]' } });
  });

  it("keeps a PostgreSQL error's detail (the row's values) out, as the error or as its cause, and keeps its code", () => {
    const { lines, log } = capture();
    const pgError = Object.assign(new Error('duplicate key value violates unique constraint "users_email_key"'), {
      code: '23505',
      constraint: 'users_email_key',
      detail: 'Key (email)=(owner@example.com) already exists.',
    });
    log.error({ err: pgError }, 'a');
    log.error({ err: new Error('query failed', { cause: pgError }) }, 'b');
    log.error({ err: new Error('outer', { cause: new Error('query failed', { cause: pgError }) }) }, 'c');
    const out = lines.join('');
    expect(out).not.toContain('owner@example.com');
    expect(lines.map((l) => JSON.parse(l) as { err: { code?: string; cause?: { code?: string } } })[0]!.err.code).toBe('23505');
    expect(lines[1]).toContain('users_email_key');
  });

  it("never changes the caller's objects", () => {
    const { log } = capture();
    const input = { user: { id: 'u1', password: 'pw-1' }, list: [{ token: 't-1' }] };
    const err = Object.assign(new Error('e'), { secret: 's-1' });
    log.info({ input, err }, 'x');
    expect(input).toEqual({ user: { id: 'u1', password: 'pw-1' }, list: [{ token: 't-1' }] });
    expect(err.secret).toBe('s-1');
    expect(redactSecrets(input)).toEqual({ user: { id: 'u1', password: '[redacted]' }, list: [{ token: '[redacted]' }] });
    const clean = { a: { b: 1 } };
    expect(redactSecrets(clean)).toBe(clean);
  });
});

describe('pretty lines', () => {
  it('are human-readable, not JSON, and still redact secrets', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    const log = createLogger({ level: 'info', destination, pretty: true });
    log.info({ refreshToken: 'rt-pretty-1', route: '/graphql' }, 'request completed');
    const out = lines.join('');
    expect(out).toContain('request completed');
    expect(out).toContain('/graphql');
    expect(out).not.toContain('rt-pretty-1');
    expect(() => JSON.parse(out)).toThrow();
  });

  it('are chosen only in development with a terminal on stdout', () => {
    expect(wantsPrettyLogs('development', { isTTY: true })).toBe(true);
    expect(wantsPrettyLogs('development', { isTTY: false })).toBe(false);
    expect(wantsPrettyLogs('development', {})).toBe(false);
    expect(wantsPrettyLogs('production', { isTTY: true })).toBe(false);
    expect(wantsPrettyLogs('test', { isTTY: true })).toBe(false);
  });
});

describe('redactUrlSecrets', () => {
  it('replaces credential query values and keeps the rest', () => {
    expect(redactUrlSecrets('/auth/verify-email?token=abc123&x=1')).toBe('/auth/verify-email?token=[redacted]&x=1');
    expect(redactUrlSecrets('/a?x=1&refreshToken=zzz#f')).toBe('/a?x=1&refreshToken=[redacted]#f');
    expect(redactUrlSecrets('/graphql?query={me{id}}')).toBe('/graphql?query={me{id}}');
  });
});
