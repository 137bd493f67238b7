import { describe, expect, it } from 'vitest';
import { withTimeout } from './redis.js';

describe('withTimeout', () => {
  it('rejects after the deadline and leaves no unhandled rejection when the promise fails later', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const late = new Promise((_, reject) => setTimeout(() => reject(new Error('Connection is closed.')), 30));
      await expect(withTimeout(late, 5)).rejects.toThrow(/timed out/);
      await new Promise((r) => setTimeout(r, 60));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('passes through a result or a rejection that comes first', async () => {
    expect(await withTimeout(Promise.resolve(7), 50)).toBe(7);
    await expect(withTimeout(Promise.reject(new Error('boom')), 50)).rejects.toThrow('boom');
  });
});
