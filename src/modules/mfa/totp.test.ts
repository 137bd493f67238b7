import { describe, expect, it } from 'vitest';
import { totpAt } from '../../test/totp.js';
import { newTotpSecret, verifyTotp } from './totp.js';

const secret = newTotpSecret();
/** A step well inside otplib's range, and epoch ms at a given second of it. */
const N = 63_115_200; // 2030-01-01T00:00:00Z / 30 s
const at = (step: number, second = 0) => (step * 30 + second) * 1000;

describe('TOTP step acceptance', () => {
  it.each([0, 15, 29])('accepts the current step and one either side, and no further, at second %i of the step', async (second) => {
    const accepted = [];
    for (const step of [N - 2, N - 1, N, N + 1, N + 2]) accepted.push(await verifyTotp(secret, totpAt(secret, step), null, at(N, second)));
    expect(accepted).toEqual([null, N - 1, N, N + 1, null]);
  });

  it('refuses a replay: the step last used and every older one, while a newer step still passes', async () => {
    expect(await verifyTotp(secret, totpAt(secret, N), N, at(N, 10))).toBeNull();
    expect(await verifyTotp(secret, totpAt(secret, N - 1), N, at(N, 10))).toBeNull();
    expect(await verifyTotp(secret, totpAt(secret, N + 1), N, at(N, 10))).toBe(N + 1);
    // The previous step's code, used first, still leaves the current one usable.
    expect(await verifyTotp(secret, totpAt(secret, N), N - 1, at(N, 10))).toBe(N);
  });

  it('refuses everything, without throwing, once the last used step is ahead of the window (a clock set back)', async () => {
    expect(await verifyTotp(secret, totpAt(secret, N), N + 5, at(N))).toBeNull();
  });

  it('refuses malformed codes without throwing', async () => {
    for (const code of ['', '12345', '1234567', 'abcdef', ' 123456', '123 456', '１２３４５６', '-12345', '1e5000']) {
      expect(await verifyTotp(secret, code, null, at(N)), JSON.stringify(code)).toBeNull();
    }
  });

  it("refuses another secret's code", async () => {
    expect(await verifyTotp(newTotpSecret(), totpAt(secret, N), null, at(N))).toBeNull();
  });
});
