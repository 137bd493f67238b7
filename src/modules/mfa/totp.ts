import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';

/** TOTP per RFC 6238 (SHA-1, 6 digits, 30 s) as authenticator apps expect, through otplib. */
export const newTotpSecret = (): string => generateSecret({ length: 20 });

export const otpauthUrl = (secret: string, issuer: string, account: string): string => generateURI({ issuer, label: account, secret });

/** An SVG QR code made here, from the URL alone: no external service sees the secret. */
export const qrSvg = (url: string): Promise<string> => QRCode.toString(url, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });

/**
 * The code's time step when valid within one step of drift at `now` (epoch ms), and newer than
 * `afterStep` (a code is good once); otherwise null, malformed codes included.
 */
export async function verifyTotp(secret: string, code: string, afterStep: number | null, now: number = Date.now()): Promise<number | null> {
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(now / 1000),
    epochTolerance: 30,
    ...(afterStep === null ? {} : { afterTimeStep: afterStep }),
  }).catch(() => ({ valid: false as const }));
  // The functional API's result type also covers HOTP (no time step); ours is always TOTP.
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}
