// The console's link to the service: GraphQL over fetch in cookie mode (the refresh token lives in an
// HttpOnly cookie no script can read; the access token only in this module's memory) and the live
// feeds (security events; the audit log for operators) over graphql-ws on the same origin.
import { createClient } from './vendor/graphql-ws/client.js';

const COOKIE_MODE = { 'x-latchkey-session': 'cookie' };
const PAYLOAD = 'accessToken expiresIn user { id username email emailVerified mfaEnabled role }';

let accessToken = null;
let user = null;
let renewTimer;
const listeners = new Set();

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** One GraphQL operation; throws ApiError with the error's code. */
export async function gql(query, variables = {}) {
  const headers = { 'content-type': 'application/json', ...COOKIE_MODE };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  let res;
  try {
    res = await fetch('/graphql', { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError('NETWORK', 'The service cannot be reached. Check your connection and try again.');
  }
  const body = await res.json().catch(() => ({}));
  const err = body.errors?.[0];
  if (err) throw new ApiError(err.extensions?.code ?? 'INTERNAL', err.message);
  if (!body.data) throw new ApiError('INTERNAL', `The service answered ${res.status}`);
  return body.data;
}

export const currentUser = () => user;

/** Reads the account again (after a change of its two-factor state). */
export async function reloadUser() {
  user = (await gql('query Me { me { id username email emailVerified mfaEnabled role } }')).me;
  changed();
  return user;
}
export const onSessionChange = (fn) => listeners.add(fn);
const changed = () => listeners.forEach((fn) => fn(user));

/**
 * Takes a new access token. `fresh`: it comes from a sign-in (a new session), so the session watcher starts
 * again on it; a refresh of the same session only tells the open sockets of the new token.
 */
function adopt(payload, fresh = false) {
  accessToken = payload.accessToken;
  user = payload.user;
  clearTimeout(renewTimer);
  // Renew at 80% of the access token's life; the WebSocket is told of the new token.
  renewTimer = setTimeout(() => resume().catch(() => undefined), Math.max(10, payload.expiresIn * 0.8) * 1000);
  if (fresh || !watcher.running()) watcher.start();
  else watcher.reauthenticate();
  auditFeed.reauthenticate();
  changed();
}

/** Forgets the session here (after a sign-out, or when the service says it ended). */
export function forget() {
  accessToken = null;
  user = null;
  clearTimeout(renewTimer);
  watcher.stop();
  auditFeed.stop();
  changed();
}

let refreshing;

/**
 * Trades the session cookie for a fresh access token; false when there is no live session. One at a
 * time across every tab of this origin (Web Locks): a refresh rotates the cookie, and a second one sent
 * with the old cookie meanwhile would look like a stolen token and end the session.
 */
export function resume() {
  refreshing ??= (navigator.locks ? navigator.locks.request('latchkey-refresh', refreshNow) : refreshNow()).finally(() => (refreshing = undefined));
  return refreshing;
}

async function refreshNow() {
  try {
    adopt((await gql(`mutation Refresh { refresh { ${PAYLOAD} } }`)).refresh);
    return true;
  } catch (e) {
    if (e.code === 'NETWORK' || e.code === 'SERVICE_UNAVAILABLE' || e.code === 'RATE_LIMITED') throw e;
    forget();
    return false;
  }
}

/** A login result: signed in (true) or an MFA challenge ({ mfaToken, methods }). */
function loginResult(r) {
  if (r.__typename === 'MfaChallenge') return { mfaToken: r.mfaToken, methods: r.methods };
  adopt(r, true);
  return true;
}

const LOGIN_RESULT = `__typename ... on AuthPayload { ${PAYLOAD} } ... on MfaChallenge { mfaToken methods }`;

export const login = async (identifier, password) =>
  loginResult((await gql(`mutation Login($input: LoginInput!) { login(input: $input) { ${LOGIN_RESULT} } }`, { input: { identifier, password } })).login);

export const completeMfa = async (mfaToken, code) =>
  loginResult({ __typename: 'AuthPayload', ...(await gql(`mutation CompleteMfa($input: CompleteMfaLoginInput!) { completeMfaLogin(input: $input) { ${PAYLOAD} } }`, { input: { mfaToken, code } })).completeMfaLogin });

export const signInWithMagicLink = async (token) =>
  loginResult((await gql(`mutation MagicLink($token: String!) { signInWithMagicLink(token: $token) { ${LOGIN_RESULT} } }`, { token })).signInWithMagicLink);

const startPasskey = async (identifier) =>
  (await gql('mutation StartPasskeyLogin($identifier: String) { startPasskeyLogin(identifier: $identifier) { challengeId options } }', { identifier: identifier || null })).startPasskeyLogin;

const finishPasskey = async (challengeId, credential) =>
  adopt((await gql(`mutation FinishPasskeyLogin($challengeId: ID!, $response: JSON!) { finishPasskeyLogin(challengeId: $challengeId, response: $response) { ${PAYLOAD} } }`, { challengeId, response: credential.toJSON() })).finishPasskeyLogin, true);

/** Signs in with a passkey of this site (the identifier narrows it to that account's passkeys). */
export async function passkeyLogin(identifier) {
  stopPasskeyAutofill(); // one WebAuthn request at a time: the browser refuses a second while autofill waits
  const c = await startPasskey(identifier);
  const credential = await navigator.credentials.get({ publicKey: window.PublicKeyCredential.parseRequestOptionsFromJSON(c.options) });
  await finishPasskey(c.challengeId, credential);
}

/** Whether this browser can offer passkeys in the username field's autofill (conditional mediation). */
export async function passkeyAutofillAvailable() {
  if (!window.PublicKeyCredential?.parseRequestOptionsFromJSON || !window.PublicKeyCredential.isConditionalMediationAvailable) return false;
  return window.PublicKeyCredential.isConditionalMediationAvailable().catch(() => false);
}

let autofill; // the AbortController of the pending conditional request

/** Ends the pending autofill request, if any (leaving the page, or the passkey button's own ceremony). */
export function stopPasskeyAutofill() {
  autofill?.abort();
  autofill = undefined;
}

/**
 * Offers this site's passkeys in the autofill of the field marked `autocomplete="username webauthn"`
 * (conditional mediation): resolves true once the user picked one and is signed in, false when stopped.
 * Asked for when the field is first used, not on each page view, so a visit that never signs in costs
 * the service no challenge. A challenge lives as long as `options.timeout` says (five minutes): shortly
 * before, the request is started again with a fresh one, so a page left open still works.
 */
export async function passkeyAutofill() {
  stopPasskeyAutofill();
  const controller = new AbortController();
  autofill = controller;
  try {
    for (;;) {
      const c = await startPasskey(null);
      if (controller.signal.aborted) return false;
      const renew = new AbortController();
      const onStop = () => renew.abort();
      controller.signal.addEventListener('abort', onStop);
      const timer = setTimeout(() => renew.abort(), Math.max(5_000, (c.options.timeout ?? 300_000) - 15_000));
      let credential;
      try {
        credential = await navigator.credentials.get({ mediation: 'conditional', publicKey: window.PublicKeyCredential.parseRequestOptionsFromJSON(c.options), signal: renew.signal });
      } catch (e) {
        if (controller.signal.aborted) return false;
        if (renew.signal.aborted) continue; // its challenge is about to expire: ask for a fresh one
        throw e;
      } finally {
        clearTimeout(timer);
        controller.signal.removeEventListener('abort', onStop);
      }
      await finishPasskey(c.challengeId, credential);
      return true;
    }
  } finally {
    if (autofill === controller) autofill = undefined;
  }
}

export async function register(username, email, password) {
  adopt((await gql(`mutation Register($input: RegisterInput!) { register(input: $input) { ${PAYLOAD} } }`, { input: { username, email, password } })).register, true);
}

export async function logout() {
  // Its sockets go first: the service closes them as the session ends, and that is no news here.
  watcher.stop();
  auditFeed.stop();
  try {
    await gql('mutation Logout { logout }');
  } finally {
    forget();
  }
}

/**
 * A live feed: one graphql-ws socket carrying one subscription. A 4401 close means the token expired or the
 * session ended: one refresh by cookie tells which; when it fails the console forgets the session (and so
 * signs out at once). When the refresh cannot be made (offline, the service busy) it is tried again a while
 * later. `hooks`: `event(e)` for each event, `connected()` after each (re)connection, `state('live' | 'closed')`.
 */
function liveFeed(op, retry) {
  let client;
  let socket;
  let generation = 0; // each start and stop makes a new one: a late answer for an older one is ignored
  let again;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  const start = (hooks) => {
    stop();
    // A client's events count only while it is the current one (a stopped client still reports its close).
    const mine = createClient({
      url,
      lazy: false,
      ...retry,
      onNonLazyError: () => undefined, // closes are handled below
      connectionParams: () => ({ authorization: `Bearer ${accessToken}` }),
      shouldRetry: (e) => !(e && typeof e === 'object' && 'code' in e && e.code >= 4400 && e.code < 4500),
      on: {
        connected: (s) => {
          if (client !== mine) return;
          socket = s;
          hooks.state?.('live');
          hooks.connected?.();
        },
        closed: (e) => {
          if (client !== mine) return;
          socket = undefined;
          hooks.state?.('closed');
          if (e && e.code === 4401) void afterUnauthorized(hooks, 0);
        },
      },
    });
    client = mine;
    client.subscribe(
      { query: op.query },
      { next: (r) => client === mine && r.data && hooks.event?.(r.data[op.field]), error: () => undefined, complete: () => undefined },
    );
  };
  const afterUnauthorized = async (hooks, attempt) => {
    stop();
    const mine = generation;
    let live;
    try {
      live = await resume();
    } catch {
      if (generation === mine) again = setTimeout(() => generation === mine && void afterUnauthorized(hooks, attempt + 1), Math.min(60_000, 5_000 * 2 ** attempt));
      return;
    }
    // Restarted meanwhile (the refresh's new token starts the session watcher) or stopped (a page left): done.
    if (live && generation === mine) start(hooks);
  };
  const stop = () => {
    generation += 1;
    clearTimeout(again);
    client?.dispose();
    client = undefined;
    socket = undefined;
  };
  // A ping with the renewed token extends the socket to the new token's life (no reconnect).
  const reauthenticate = () => {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${accessToken}` } }));
  };
  return { start, stop, reauthenticate, running: () => client !== undefined, live: () => socket !== undefined };
}

/** Waits before the watcher's next reconnection: 1, 2, 4… s, at most 30 s, plus up to 3 s at random. */
const patiently = (retries) => new Promise((done) => setTimeout(done, Math.min(30_000, 1_000 * 2 ** retries) + Math.random() * 3_000));

/**
 * The session watcher: while signed in, on every page, one socket with the `securityEvent` subscription.
 * The service closes it with 4401 the moment the session ends anywhere, so a revoked console signs out at
 * once whatever page it shows. It keeps reconnecting after network cuts for as long as the session lasts.
 * The page that shows the events (Sessions) listens to it rather than opening a socket of its own.
 */
const securityFeed = liveFeed({ query: 'subscription OnSecurityEvent { securityEvent { id type occurredAt sessionId ip userAgent } }', field: 'securityEvent' }, { retryAttempts: Infinity, retryWait: patiently });
let listener; // { onEvent, catchUp } of the page showing the events, if any
/**
 * graphql-ws has no "subscribed" answer: the socket is acknowledged, and the service registers the
 * subscription a moment later. An event committed after the catch-up at connection read the list, and
 * pushed out before that registration, would be missed: so the catch-up runs again, at the first live event
 * (the subscription is in place by then) or, when none comes, after each of RECHECK_MS. The page ignores
 * what it shows already.
 */
const RECHECK_MS = [1_000, 5_000];
let rechecks = [];
const dropRechecks = () => {
  rechecks.forEach(clearTimeout);
  rechecks = [];
};
const catchUp = () => listener?.catchUp();
const watcher = {
  start: () => {
    dropRechecks();
    securityFeed.start({
      connected: () => {
        dropRechecks();
        catchUp();
        rechecks = RECHECK_MS.map((ms) => setTimeout(catchUp, ms));
      },
      event: (e) => {
        listener?.onEvent(e);
        if (rechecks.length === 0) return;
        dropRechecks();
        catchUp();
      },
      state: (s) => s === 'closed' && dropRechecks(),
    });
  },
  stop: () => {
    dropRechecks();
    securityFeed.stop();
  },
  running: securityFeed.running,
  reauthenticate: securityFeed.reauthenticate,
};

/**
 * The page's listener on the session watcher (one at a time: a new one, or `stopSecurityEvents`, replaces
 * it). `catchUp` runs now when the socket is up (for what came between the page's own read and now), and
 * after each (re)connection, so the page can fetch what was committed while no socket listened.
 */
export function watchSecurityEvents(onEvent, onCatchUp) {
  listener = { onEvent, catchUp: onCatchUp };
  if (securityFeed.live()) onCatchUp();
}
/** The page stops listening; the watcher itself stays while signed in. */
export const stopSecurityEvents = () => {
  listener = undefined;
};

/** The audit page's feed (SUPPORT and ADMIN accounts): a second socket, open while that page is. */
const auditFeed = liveFeed({ query: 'subscription OnAuditEvent { auditEvent { id occurredAt action outcome actorId targetUserId sessionId ip userAgent requestId details } }', field: 'auditEvent' }, { retryAttempts: 3 });
/** Every new audit entry; `onState('live' | 'closed')` as the socket opens and closes. */
export const watchAuditEvents = (onEvent, onState) => auditFeed.start({ event: onEvent, state: onState });
export const stopAuditEvents = () => auditFeed.stop();
