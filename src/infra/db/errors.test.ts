import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, uniqueViolation } from './errors.js';

/** An error as node-postgres raises it for a server's ErrorResponse (what direct.ts's statements throw). */
function pgError(code: string, fields: Partial<pg.DatabaseError> = {}): pg.DatabaseError {
  const err = new pg.DatabaseError('server said no', 0, 'error');
  return Object.assign(err, { severity: 'ERROR', code, ...fields });
}

describe('database errors from node-postgres directly', () => {
  it('a unique violation names the index, as Prisma does', () => {
    expect(uniqueViolation(pgError('23505', { constraint: 'users_email_key', table: 'users' }))).toBe('users_email_key');
    expect(uniqueViolation(pgError('23505'))).toBe('unknown');
    expect(uniqueViolation(pgError('23503', { constraint: 'sessions_user_id_fkey' }))).toBeUndefined();
    expect(uniqueViolation(new Error('23505'))).toBeUndefined();
    expect(isDatabaseUnavailable(pgError('23505', { constraint: 'users_email_key' }))).toBe(false);
  });

  it('the SQLSTATEs Prisma counts as an outage are one here too, and no others', () => {
    // 57P01 a backend ended by a shutdown, 57P03 starting or stopping, 53300 too many connections,
    // 28000 access refused, 08006 a broken connection.
    for (const code of ['57P01', '57P03', '53300', '28000', '08006']) expect(isDatabaseUnavailable(pgError(code)), code).toBe(true);
    for (const code of ['42P01', '22P02', '40001', '23502', '28P01']) expect(isDatabaseUnavailable(pgError(code)), code).toBe(false);
  });

  it('socket errors before any answer are an outage', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect', errno: -111 });
    const unknownHost = Object.assign(new Error('getaddrinfo ENOTFOUND db'), { code: 'ENOTFOUND', syscall: 'getaddrinfo', errno: -3008 });
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(isDatabaseUnavailable(unknownHost)).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });
});
