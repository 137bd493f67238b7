import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Authenticated, RequestMeta } from '../../core/request.js';
import { AppError } from '../../infra/errors.js';
import { byAddress } from '../../infra/limit-spec.js';
import type { Limits } from '../../infra/rate-limit.js';
import { isUuid, parseInput } from '../../infra/validation.js';
import { adminLimit } from '../admin/admin.limits.js';
import { requireRole } from '../identity/account-standing.js';
import type { ServiceKeyCache } from './service-key-cache.js';
import { introspectLimit } from './service-keys.limits.js';
import type { ServiceKeyRecord, ServiceKeysRepository } from './service-keys.repository.js';
import { createServiceKeySchema, serviceKeyIdSchema } from './service-keys.schema.js';

export interface ServiceKeysDeps {
  repo: Pick<ServiceKeysRepository, 'create' | 'list' | 'revoke' | 'credential'>;
  cache: Pick<ServiceKeyCache, 'get' | 'markLive' | 'markRevoked'>;
  limits: Pick<Limits, 'consumeAll'>;
}

/** A secret's prefix, so secret scanners (and people) can tell a leaked one at a glance. */
export const SECRET_PREFIX = 'lksk_';
const SECRET = /^lksk_[A-Za-z0-9_-]{43}$/;

const hashOf = (secret: string) => createHash('sha256').update(secret, 'utf8').digest();

/** The one answer to any bad credential: which part was wrong is not said. */
const badCredentials = () => new AppError('UNAUTHENTICATED', 'Send a live service key as HTTP Basic credentials (key id and secret)');

/**
 * Service keys: the credentials resource servers and gateways introspect tokens with. ADMINs create (the
 * secret shown once), list and revoke them; a revocation stops the key at once on every instance.
 */
export class ServiceKeysService {
  constructor(private readonly deps: ServiceKeysDeps) {}

  async create(caller: Authenticated, input: unknown, meta: RequestMeta): Promise<{ key: ServiceKeyRecord; secret: string }> {
    await this.authorize(caller, meta);
    const { name } = parseInput(createServiceKeySchema, input);
    // 256 bits from the CSPRNG: a fast hash is enough to store it (nothing to brute-force).
    const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
    const key = await this.deps.repo.create(name, new Uint8Array(hashOf(secret)), caller.userId, meta);
    return { key, secret };
  }

  async list(caller: Authenticated, meta: RequestMeta): Promise<ServiceKeyRecord[]> {
    await this.authorize(caller, meta);
    return this.deps.repo.list();
  }

  /** True when a live key was revoked; false for an unknown or already revoked one. */
  async revoke(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<boolean> {
    await this.authorize(caller, meta);
    const input = parseInput(serviceKeyIdSchema, { id });
    // Redis first, as sessions do: from here on no instance accepts the key, whatever its cache held.
    await this.deps.cache.markRevoked(input.id);
    return this.deps.repo.revoke(input.id, caller.userId, meta);
  }

  /**
   * The key id of a request's `Authorization: Basic` credentials (RFC 6749 §2.3.1: id and secret each
   * form-urlencoded), after counting the call against the key's limit; UNAUTHENTICATED for anything else.
   */
  async authenticate(authorization: string | undefined, meta: RequestMeta): Promise<string> {
    const creds = basicCredentials(authorization);
    if (!creds || !isUuid(creds.id) || !SECRET.test(creds.secret)) throw badCredentials();
    const id = creds.id.toLowerCase();
    const presented = hashOf(creds.secret);
    let stored: Buffer;
    const cached = await this.deps.cache.get(id);
    if (cached?.state === 'revoked') throw badCredentials();
    if (cached?.state === 'live') {
      stored = Buffer.from(cached.secretHash, 'hex');
    } else {
      const row = await this.deps.repo.credential(id);
      if (!row || row.revokedAt) throw badCredentials();
      stored = Buffer.from(row.secretHash);
      await this.deps.cache.markLive(id, stored.toString('hex'));
    }
    if (stored.length !== presented.length || !timingSafeEqual(stored, presented)) throw badCredentials();
    await this.deps.limits.consumeAll(introspectLimit({ keyId: id }, byAddress(meta.ip)), meta);
    return id;
  }

  /** ADMIN only, and each call draws on the operator's RATE_LIMIT_ADMIN like every admin operation. */
  private async authorize(caller: Authenticated, meta: RequestMeta): Promise<void> {
    requireRole(caller, 'ADMIN');
    await this.deps.limits.consumeAll(adminLimit({ actorId: caller.userId }, byAddress(meta.ip)));
  }
}

/** `Basic base64(urlencode(id):urlencode(secret))`, or null when malformed. */
function basicCredentials(authorization: string | undefined): { id: string; secret: string } | null {
  const match = authorization ? /^Basic[ ]+([A-Za-z0-9+/]+=*)$/i.exec(authorization.trim()) : null;
  if (!match?.[1] || match[1].length > 512) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    const form = (s: string) => decodeURIComponent(s.replaceAll('+', ' '));
    return { id: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    return null;
  }
}
