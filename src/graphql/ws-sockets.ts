import type { WebSocket } from 'ws';
import type { Authenticated, TokenAuthenticated } from '../core/request.js';
import { isAppError } from '../infra/errors.js';
import { WS_CLOSE, type WsOptions } from './ws-options.js';

/** What the server keeps about one socket. */
export interface SocketState {
  connectionId: string;
  ip: string;
  userAgent: string | null;
  principal?: Authenticated;
  /** Until when (epoch ms) the newest access token this socket authenticated with is valid. */
  tokenExpiresAt: number;
  expiry?: NodeJS.Timeout;
  /** connection_init's authentication, then each re-authentication, while in flight. */
  authenticating?: Promise<unknown>;
}

/** setTimeout's ceiling; longer session lifetimes are re-armed when it fires. */
const MAX_TIMER_MS = 2_147_000_000;

/**
 * Who is on each socket of this instance: the authentication at `connection_init`, re-authentication by
 * ping, the expiry of the token and of the session, and the sockets of each session (closed when it ends
 * anywhere) and of each account (capped).
 */
export function socketSessions(opts: Pick<WsOptions, 'authenticate' | 'recheck' | 'pubSubLink'>, maxConnectionsPerUser: number) {
  const bySession = new Map<string, Set<WebSocket>>();
  const perUser = new Map<string, number>();

  /** Why an authentication failed, as the close a client can act on. */
  const refuse = (socket: WebSocket, err: unknown, reason: string) => {
    if (isAppError(err) && err.code === 'SERVICE_UNAVAILABLE') socket.close(WS_CLOSE.unavailable, 'Service unavailable, retry shortly');
    else socket.close(WS_CLOSE.unauthorized, reason);
  };

  /**
   * Closes the socket when its access token expires (unless a newer one of the same session arrived in a
   * ping meanwhile), or when its session's known lifetime ends (unless a re-check finds it extended).
   */
  const armExpiry = (socket: WebSocket, state: SocketState) => {
    const principal = state.principal;
    if (!principal) return;
    clearTimeout(state.expiry);
    const until = Math.min(principal.liveUntil, state.tokenExpiresAt);
    state.expiry = setTimeout(async () => {
      await state.authenticating; // a re-authentication racing the expiry gets its answer first
      const current = state.principal;
      if (!current || socket.readyState !== socket.OPEN) return;
      const now = Date.now();
      if (state.tokenExpiresAt <= now) return socket.close(WS_CLOSE.unauthorized, 'Access token expired: re-authenticate on the socket before it expires');
      if (current.liveUntil > now) return armExpiry(socket, state);
      try {
        state.principal = await opts.recheck(current);
        armExpiry(socket, state);
      } catch {
        socket.close(WS_CLOSE.unauthorized, 'Session expired');
      }
    }, Math.min(Math.max(0, until - Date.now()), MAX_TIMER_MS));
    state.expiry.unref();
  };

  /**
   * A ping carrying `authorization`: a newer access token of the socket's own session extends the
   * socket to that token's expiry. Anything else (bad or expired token, another session's or user's,
   * an ended session) closes the socket with 4401. Resolves the token expiry now in force, or undefined.
   */
  const reauthenticate = (socket: WebSocket, state: SocketState, authorization: unknown): Promise<number | undefined> => {
    const previous = state.authenticating; // one at a time, in arrival order
    const done = (async () => {
      await previous;
      if (!state.principal) {
        socket.close(WS_CLOSE.unauthorized, 'Authenticate in connection_init first');
        return undefined;
      }
      let next: TokenAuthenticated;
      try {
        next = await opts.authenticate(typeof authorization === 'string' ? authorization : undefined);
      } catch (err) {
        refuse(socket, err, 'Re-authentication refused: sign in again');
        return undefined;
      }
      const current = state.principal;
      if (!current) return undefined; // closed meanwhile
      if (next.userId !== current.userId || next.sessionId !== current.sessionId) {
        socket.close(WS_CLOSE.unauthorized, 'Re-authenticate with an access token of the same session');
        return undefined;
      }
      state.principal = next;
      state.tokenExpiresAt = Math.max(state.tokenExpiresAt, next.accessTokenExpiresAt);
      armExpiry(socket, state);
      return state.tokenExpiresAt;
    })();
    state.authenticating = done;
    return done;
  };

  /** `connection_init`: authenticates the socket once (false: refused, and the socket closing). */
  const connect = async (socket: WebSocket, state: SocketState, authorization: unknown): Promise<boolean> => {
    let principal: TokenAuthenticated;
    const authenticating = opts.authenticate(typeof authorization === 'string' ? authorization : undefined);
    state.authenticating = authenticating.catch(() => undefined);
    try {
      principal = await authenticating;
    } catch (err) {
      refuse(socket, err, 'Unauthorized: send connectionParams.authorization = "Bearer <accessToken>"');
      return false;
    }
    if ((perUser.get(principal.userId) ?? 0) >= maxConnectionsPerUser) {
      socket.close(WS_CLOSE.tooManyConnections, 'Too many open connections for this account');
      return false;
    }
    if (socket.readyState !== socket.OPEN) return false;
    if (opts.pubSubLink && !opts.pubSubLink.listening()) {
      socket.close(WS_CLOSE.unavailable, 'Service unavailable, retry shortly');
      return false;
    }
    state.principal = principal;
    state.tokenExpiresAt = principal.accessTokenExpiresAt;
    perUser.set(principal.userId, (perUser.get(principal.userId) ?? 0) + 1);
    if (!bySession.has(principal.sessionId)) bySession.set(principal.sessionId, new Set());
    bySession.get(principal.sessionId)!.add(socket);
    armExpiry(socket, state);
    return true;
  };

  return {
    connect,
    reauthenticate,
    /** A socket closed: it no longer counts for its session or account. */
    forget(socket: WebSocket, state: SocketState) {
      clearTimeout(state.expiry);
      if (!state.principal) return;
      const { sessionId, userId } = state.principal;
      bySession.get(sessionId)?.delete(socket);
      if (bySession.get(sessionId)?.size === 0) bySession.delete(sessionId);
      const n = (perUser.get(userId) ?? 1) - 1;
      if (n > 0) perUser.set(userId, n);
      else perUser.delete(userId);
      state.principal = undefined;
    },
    /** A session ended on some instance: its sockets here close. */
    sessionEnded(sessionId: string, reason: string) {
      for (const socket of bySession.get(sessionId) ?? []) socket.close(WS_CLOSE.unauthorized, `Session ended (${reason})`);
    },
    /** The pub/sub connection dropped: every authenticated socket closes, to reconnect and page what it missed. */
    interrupted() {
      let n = 0;
      for (const set of bySession.values()) {
        for (const socket of set) {
          socket.close(WS_CLOSE.unavailable, 'Service unavailable, retry shortly');
          n++;
        }
      }
      return n;
    },
    /** Open authenticated sockets. */
    get connections() {
      let n = 0;
      for (const c of perUser.values()) n += c;
      return n;
    },
  };
}
