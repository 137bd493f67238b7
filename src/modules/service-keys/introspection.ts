import { isAppError } from '../../infra/errors.js';
import type { AccessTokens } from '../sessions/access-token.js';
import type { SessionsService } from '../sessions/sessions.service.js';
import type { IntrospectionResponse } from './service-keys.schema.js';

export interface IntrospectionDeps {
  tokens: Pick<AccessTokens, 'verify'>;
  sessions: Pick<SessionsService, 'checkSession'>;
  issuer: string;
  audience: string;
}

const INACTIVE: IntrospectionResponse = Object.freeze({ active: false });

/**
 * RFC 7662 for our access tokens: the same two checks as every authenticated call (the signature, then
 * the session's liveness and the account's standing as stored now, Redis first), so a token is inactive
 * from the moment its session is revoked on any instance. Anything that is not an active token of a live
 * session is `{ active: false }`, with no reason given; a store that cannot answer is SERVICE_UNAVAILABLE.
 */
export class Introspection {
  constructor(private readonly deps: IntrospectionDeps) {}

  async introspect(token: string): Promise<IntrospectionResponse> {
    try {
      const claims = await this.deps.tokens.verify(token);
      const live = await this.deps.sessions.checkSession(claims.sub, claims.sid);
      return {
        active: true,
        sub: claims.sub,
        sid: claims.sid,
        exp: claims.exp,
        iat: claims.iat,
        iss: this.deps.issuer,
        aud: this.deps.audience,
        token_type: 'access_token',
        username: live.account.username,
        role: live.role,
      };
    } catch (err) {
      if (isAppError(err) && err.code === 'UNAUTHENTICATED') return INACTIVE;
      throw err;
    }
  }
}
