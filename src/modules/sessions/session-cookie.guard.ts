import { parseCookie, stringifySetCookie } from 'cookie';
import type { HttpExchange, Principal, RequestMeta } from '../../core/request.js';
import { AppError } from '../../infra/errors.js';
import type { UserProfile } from '../identity/users.repository.js';
import { authPayloadJson, toAuthPayload, type AuthPayload } from './sessions.inputs.js';
import type { IssuedTokens, SessionsService } from './sessions.service.js';

/**
 * Cookie-mode sessions (docs/api.md, "Browser sessions: cookie mode"). A first-party browser app asks for
 * them with `X-Latchkey-Session: cookie` on each sign-in, refresh and logout: the refresh token then
 * travels only in an HttpOnly cookie that no script can read, and is left out of the answer's body.
 *
 * The same header is the CSRF defence: a request that would act with the cookie (refresh, logout) must
 * carry it. A cross-site form cannot set a header, and a script of another origin cannot send one
 * without a CORS preflight that only CORS_ORIGINS pass; SameSite=Strict keeps the cookie off cross-site
 * requests besides. It holds alike for the REST routes and for GraphQL, with no token to keep in step.
 */
export const SESSION_MODE_HEADER = 'x-latchkey-session';

/** `cookie`: the refresh token travels in the cookie; `bearer` (no header): in bodies, as always. */
export type SessionMode = 'cookie' | 'bearer';

export interface SessionCookiePolicy {
  /** `Secure` and the `__Host-` name prefix; off only in development over plain http on this machine. */
  readonly secure: boolean;
  /** The cookie's Max-Age (REFRESH_TOKEN_TTL: the session cannot outlive it). */
  readonly maxAgeSeconds: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * `Secure` + `__Host-` always in production. In development only, when PUBLIC_URL is plain http on a
 * loopback host, neither: some browsers (Safari) refuse Secure cookies over http even on localhost.
 */
export function sessionCookiePolicy(s: { isProduction: boolean; publicUrl: string; refreshTokenTtl: number }): SessionCookiePolicy {
  const url = new URL(s.publicUrl);
  const devOverHttp = !s.isProduction && url.protocol === 'http:' && (LOOPBACK.has(url.hostname) || url.hostname.endsWith('.localhost'));
  return { secure: !devOverHttp, maxAgeSeconds: s.refreshTokenTtl };
}

const isIssued = (r: unknown): r is IssuedTokens & { user: UserProfile } =>
  typeof r === 'object' && r !== null && 'accessToken' in r && 'refreshToken' in r && 'user' in r;

const csrfRefused = () =>
  new AppError('CSRF_CHECK_FAILED', 'A request that uses the session cookie must carry the header `X-Latchkey-Session: cookie`');

/** The refresh cookie of cookie-mode sessions: delivering it, reading it (with the CSRF check), clearing it. */
export class SessionCookies {
  /** `__Host-` (Secure, Path=/, no Domain: no other host, not even a subdomain, can set or shadow it). */
  readonly name: string;

  constructor(
    private readonly policy: SessionCookiePolicy,
    private readonly sessions: Pick<SessionsService, 'principalOfRefreshToken' | 'logout'>,
  ) {
    this.name = policy.secure ? '__Host-latchkey_refresh' : 'latchkey_refresh';
  }

  /** The mode a request asks for; BAD_USER_INPUT for a header value other than `cookie`. */
  mode(http: HttpExchange | undefined): SessionMode {
    const value = http?.headers[SESSION_MODE_HEADER];
    if (value === undefined) return 'bearer';
    if (typeof value === 'string' && value.trim().toLowerCase() === 'cookie') return 'cookie';
    throw new AppError('BAD_USER_INPUT', 'X-Latchkey-Session must be `cookie`, or absent for bearer tokens', {
      fields: { 'X-Latchkey-Session': 'must be `cookie`' },
    });
  }

  /**
   * REST: runs a sign-in or refresh and answers its AuthPayload JSON, the refresh token in the cookie in
   * cookie mode; any other answer (an MFA challenge) passes through. The mode header is checked before
   * `run`, so a bad one opens no session.
   */
  async json<T>(http: HttpExchange, run: () => Promise<T>): Promise<Exclude<T, IssuedTokens> | ReturnType<typeof authPayloadJson>> {
    const mode = this.mode(http);
    const r = await run();
    return isIssued(r) ? authPayloadJson(r, this.deliver(mode, r.refreshToken, http)) : (r as Exclude<T, IssuedTokens>);
  }

  /** GraphQL: the same; `refreshToken` is then empty (the schema's field is non-null). */
  async payload<T>(http: HttpExchange | undefined, run: () => Promise<T>): Promise<Exclude<T, IssuedTokens> | AuthPayload> {
    const mode = this.mode(http);
    const r = await run();
    return isIssued(r) ? toAuthPayload(r, this.deliver(mode, r.refreshToken, http)) : (r as Exclude<T, IssuedTokens>);
  }

  /**
   * The refresh token a refresh presents: the one in the body or argument; else the cookie, which only a
   * cookie-mode request may use (CSRF_CHECK_FAILED otherwise). Undefined: none at all (a bearer client's
   * missing input).
   */
  presented(given: string | null | undefined, http: HttpExchange | undefined): string | undefined {
    const mode = this.mode(http);
    if (given !== undefined && given !== null) return given;
    const cookie = this.read(http);
    if (cookie === undefined) {
      if (mode === 'cookie') throw new AppError('UNAUTHENTICATED', 'No session cookie: sign in again');
      return undefined;
    }
    if (mode !== 'cookie') throw csrfRefused();
    return cookie;
  }

  /**
   * Logout. In cookie mode the cookie names the session (even once the access token has expired), else the
   * access token does; the cookie is cleared once the session has ended, or when it names none. Without
   * the header, a request carrying the cookie but no access token is refused as forgery.
   */
  async logout(http: HttpExchange | undefined, bearer: { present: boolean; principal: () => Promise<Principal> }, allSessions: boolean, meta: RequestMeta): Promise<void> {
    const mode = this.mode(http);
    const cookie = this.read(http);
    if (mode === 'bearer') {
      if (!bearer.present && cookie !== undefined) throw csrfRefused();
      return this.sessions.logout(await bearer.principal(), allSessions, meta);
    }
    const principal = cookie === undefined ? null : await this.sessions.principalOfRefreshToken(cookie);
    if (principal) await this.sessions.logout(principal, allSessions, meta);
    else if (bearer.present) await this.sessions.logout(await bearer.principal(), allSessions, meta);
    http!.setCookie(this.serialize('', 0));
  }

  private deliver(mode: SessionMode, refreshToken: string, http: HttpExchange | undefined): SessionMode {
    if (mode === 'cookie') http!.setCookie(this.serialize(refreshToken, this.policy.maxAgeSeconds));
    return mode;
  }

  private read(http: HttpExchange | undefined): string | undefined {
    const header = http?.headers.cookie;
    if (typeof header !== 'string') return undefined;
    const value = parseCookie(header)[this.name];
    return value ? value : undefined;
  }

  private serialize(value: string, maxAge: number): string {
    return stringifySetCookie({ name: this.name, value, path: '/', httpOnly: true, secure: this.policy.secure, sameSite: 'strict', maxAge });
  }
}
