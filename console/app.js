// The account console: a router over the pages each emailed link opens, the sign-in flows and the
// sessions page with its live security feed. The DOM is built with createElement and textContent only
// (Trusted Types is enforced by the page's CSP).
import * as api from './api.js';

const BASE = '/account';
const main = document.getElementById('main');
const nav = document.getElementById('nav');

// A token in the address (an emailed link) is read once, then dropped from the address bar and history.
const query = new URLSearchParams(location.search);
const linkToken = query.get('token');
const verification = query.get('emailVerification');
if (linkToken || verification) history.replaceState(null, '', location.pathname);

/** h('p', { class: 'x' }, 'text', child): an element; strings become text nodes, on* props listeners. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

const link = (path, text) => h('a', { href: BASE + path }, text);
const notice = (text, kind = '') => h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);

/** Replaces the page and moves focus to its heading (screen readers announce the new page). */
function render(title, ...children) {
  document.title = `${title} · Account`;
  const heading = h('h1', { tabindex: '-1' }, title);
  main.replaceChildren(heading, ...children.filter((c) => c !== undefined && c !== null));
  heading.focus();
}

let fieldCount = 0;

/** A form whose submit runs `action(values)`; errors show above its button, the button waits meanwhile. */
function form(fields, label, action, extra = {}) {
  const error = h('div', { 'aria-live': 'assertive' });
  const button = h('button', { type: 'submit', class: extra.buttonClass }, label);
  const inputs = fields.map(([name, text, attrs]) => {
    const id = `f${++fieldCount}-${name}`; // unique: a page may hold several forms with the same field
    return h('label', { for: id }, text, h('input', { name, id, required: true, ...attrs }));
  });
  const el = h('form', {
    novalidate: extra.novalidate,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const values = Object.fromEntries(new FormData(el));
      button.disabled = true;
      error.replaceChildren();
      try {
        await action(values);
      } catch (e) {
        error.replaceChildren(notice(extra.messages?.[e.code] ?? messageOf(e), 'error'));
        el.querySelector('input')?.focus();
      } finally {
        button.disabled = false;
      }
    },
  }, inputs, error, button);
  return el;
}

const MESSAGES = {
  INVALID_CREDENTIALS: 'That username or password is not right.',
  INVALID_TOKEN: 'This link is invalid, already used or expired.',
  ACCOUNT_LOCKED: 'This account is locked for a while after too many attempts. Check your email for an unlock link.',
  RATE_LIMITED: 'Too many attempts. Wait a little and try again.',
  WEAK_PASSWORD: 'Choose a stronger password: longer, and not a common one.',
  EMAIL_TAKEN: 'An account already uses this email address.',
  USERNAME_TAKEN: 'This username is taken.',
  REAUTHENTICATION_REQUIRED: 'Confirm it is you first.',
  ACCOUNT_DISABLED: 'This account is disabled.',
  FORBIDDEN: 'Your account may not do this.',
  UNAUTHENTICATED: 'Your session has ended. Sign in again.',
};
const CODE_MESSAGES = { INVALID_TOKEN: 'That code is not right. Use the current code from your app, or an unused recovery code.' };
const messageOf = (e) => MESSAGES[e.code] ?? e.message ?? 'Something went wrong.';

function navigate(path, replace = false) {
  history[replace ? 'replaceState' : 'pushState'](null, '', BASE + path);
  return route();
}

document.addEventListener('click', (ev) => {
  const a = ev.target instanceof Element ? ev.target.closest('a') : null;
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === BASE || url.pathname.startsWith(`${BASE}/`))) return;
  ev.preventDefault();
  void navigate((url.pathname.slice(BASE.length) || '/') + url.search);
});
addEventListener('popstate', () => void route());

function renderNav(user) {
  nav.replaceChildren(
    ...(user
      ? [h('span', { class: 'muted' }, user.username), link('/sessions', 'Sessions'), link('/security', 'Security'), ...(isOperator(user) ? [link('/admin', 'Admin')] : []), h('button', { type: 'button', class: 'secondary', onclick: () => void signOut() }, 'Sign out')]
      : [link('/sign-in', 'Sign in'), link('/register', 'Create account')]),
  );
}
api.onSessionChange(renderNav);

async function signOut(message) {
  if (api.currentUser()) await api.logout().catch(() => undefined);
  await navigate('/sign-in', true);
  if (message) main.insertBefore(notice(message), main.children[1] ?? null);
}

// ---- pages -------------------------------------------------------------------------------------------

function mfaForm(challenge) {
  const recovery = challenge.methods.includes('RECOVERY_CODE');
  render(
    'Two-factor check',
    h('p', {}, recovery ? 'Enter the 6-digit code from your authenticator app, or one of your recovery codes.' : 'Enter the 6-digit code from your authenticator app.'),
    form([['code', 'Code', { autocomplete: 'one-time-code', inputmode: recovery ? 'text' : 'numeric', autofocus: true }]], 'Continue', async ({ code }) => {
      await api.completeMfa(challenge.mfaToken, code.trim());
      await navigate('/sessions', true);
    }, { messages: CODE_MESSAGES }),
  );
}

async function afterLogin(result) {
  api.stopPasskeyAutofill(); // signed in another way (or on to the code): the autofill offer ends
  if (result === true) await navigate('/sessions', true);
  else mfaForm(result);
}

function signInPage(message) {
  render(
    'Sign in',
    message,
    form(
      [
        // "webauthn": the browser may list this site's passkeys in the field's autofill (passkeyAutofill below).
        ['identifier', 'Username or email', { autocomplete: 'username webauthn', autocapitalize: 'none' }],
        ['password', 'Password', { type: 'password', autocomplete: 'current-password' }],
      ],
      'Sign in',
      async ({ identifier, password }) => afterLogin(await api.login(identifier.trim(), password)),
    ),
    h('p', {}, link('/forgot-password', 'Forgot your password?'), ' · ', link('/register', 'Create an account')),
    window.PublicKeyCredential?.parseRequestOptionsFromJSON ? passkeySignIn() : null,
    h('h2', {}, 'Sign in with an email link'),
    form([['email', 'Email', { type: 'email', autocomplete: 'email' }]], 'Email me a link', async ({ email }) => {
      await api.gql('mutation RequestMagicLink($email: String!) { requestMagicLink(email: $email) }', { email: email.trim() });
      main.querySelector('#magic-sent')?.remove();
      main.append(h('p', { id: 'magic-sent', class: 'notice ok', role: 'status' }, 'If an account uses that address, a sign-in link is on its way. It works once, for 15 minutes.'));
    }, { buttonClass: 'secondary' }),
  );
}

const PASSKEY_MESSAGES = { INVALID_CREDENTIALS: 'This passkey was not accepted.', INVALID_TOKEN: 'That took too long. Try again.' };
const passkeyMessage = (e) => (e.name === 'NotAllowedError' ? 'No passkey was used.' : PASSKEY_MESSAGES[e.code] ?? messageOf(e));

/**
 * The passkey button, and passkey autofill in the identifier field: started on the field's first focus (a
 * page view that never signs in asks the service for no challenge), stopped by the button's own ceremony
 * and by leaving the page (route), and started again on the next focus after either.
 */
function passkeySignIn() {
  const error = h('div', { 'aria-live': 'assertive' });
  const button = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    button.disabled = true;
    error.replaceChildren();
    try {
      await api.passkeyLogin(main.querySelector('input[name=identifier]')?.value.trim());
      await navigate('/sessions', true);
    } catch (e) {
      error.replaceChildren(notice(passkeyMessage(e), 'error'));
    } finally {
      button.disabled = false;
    }
  } }, 'Sign in with a passkey');
  let offering = false;
  const offer = async () => {
    if (offering || !(await api.passkeyAutofillAvailable())) return;
    offering = true;
    try {
      if (await api.passkeyAutofill()) await navigate('/sessions', true);
    } catch (e) {
      // Autofill is an offer: a service too busy to give a challenge leaves the rest of the page as it is.
      if (e.code !== 'RATE_LIMITED' && e.code !== 'NETWORK') error.replaceChildren(notice(passkeyMessage(e), 'error'));
    } finally {
      offering = false;
    }
  };
  queueMicrotask(() => main.querySelector('input[name=identifier]')?.addEventListener('focus', () => void offer()));
  return h('div', { class: 'row' }, button, error);
}

/** The account's passkeys: list, add (this device or a security key), delete. */
function passkeysSection() {
  const box = h('section', { 'aria-labelledby': 'pk-h' });
  const list = h('ul', { class: 'cards', id: 'passkeys' });
  const slot = h('div');
  const show = async () => {
    const { passkeys } = await api.gql('query Passkeys { passkeys { id name createdAt lastUsedAt } }');
    list.replaceChildren(
      ...(passkeys.length === 0 ? [h('li', { class: 'muted' }, 'No passkeys yet.')] : passkeys.map((p) =>
        h('li', { 'data-passkey': p.id },
          h('span', { class: 'what' }, p.name, h('br'), h('span', { class: 'muted' }, `added ${when(p.createdAt)}${p.lastUsedAt ? ` · last used ${when(p.lastUsedAt)}` : ''}`)),
          h('button', { type: 'button', class: 'danger', 'aria-label': `Delete passkey ${p.name}`, onclick: async () => {
            if (!confirm(`Delete the passkey "${p.name}"?`)) return;
            await api.gql('mutation DeletePasskey($id: ID!) { deletePasskey(id: $id) }', { id: p.id });
            await show();
            slot.replaceChildren(notice('Passkey deleted.', 'ok'));
          } }, 'Delete'),
        ))),
    );
  };
  const fields = [['name', 'Name (such as “Laptop”)', { required: false, maxlength: '64' }]];
  if (api.currentUser()?.mfaEnabled) fields.push(codeField());
  box.append(
    h('h2', { id: 'pk-h' }, 'Passkeys'),
    h('p', { class: 'muted' }, 'Sign in with your fingerprint, face or screen lock instead of a password.'),
    list,
    slot,
    form(fields, 'Add a passkey', async ({ name, code }) => {
      const { startPasskeyRegistration: c } = await sensitive(slot, () =>
        api.gql('mutation StartPasskeyRegistration($code: String) { startPasskeyRegistration(code: $code) { challengeId options } }', { code: code?.trim() || null }));
      let credential;
      try {
        credential = await navigator.credentials.create({ publicKey: window.PublicKeyCredential.parseCreationOptionsFromJSON(c.options) });
      } catch (e) {
        throw Object.assign(new Error(e.name === 'NotAllowedError' ? 'No passkey was made.' : e.message), { code: 'PASSKEY' });
      }
      await api.gql('mutation FinishPasskeyRegistration($challengeId: ID!, $name: String, $response: JSON!) { finishPasskeyRegistration(challengeId: $challengeId, name: $name, response: $response) { id } }',
        { challengeId: c.challengeId, name: name?.trim() || null, response: credential.toJSON() });
      await show();
      box.querySelectorAll('form input').forEach((i) => (i.value = ''));
      slot.replaceChildren(notice('Passkey added.', 'ok'));
    }, { buttonClass: 'secondary', messages: CODE_MESSAGES }),
  );
  void show().catch((e) => slot.replaceChildren(notice(messageOf(e), 'error')));
  return box;
}

function registerPage() {
  render(
    'Create an account',
    form(
      [
        ['username', 'Username', { autocomplete: 'username', autocapitalize: 'none' }],
        ['email', 'Email', { type: 'email', autocomplete: 'email' }],
        ['password', 'Password (at least 8 characters)', { type: 'password', autocomplete: 'new-password', minlength: '8' }],
      ],
      'Create account',
      async ({ username, email, password }) => {
        await api.register(username.trim(), email.trim(), password);
        await navigate('/sessions', true);
        main.insertBefore(notice('Welcome! We sent a link to your email address: open it to verify the address.', 'ok'), main.children[1] ?? null);
      },
    ),
    h('p', {}, 'Already have one? ', link('/sign-in', 'Sign in')),
  );
}

function forgotPage() {
  render(
    'Forgot your password?',
    h('p', {}, 'Enter your account’s email address and we will send you a link to choose a new password.'),
    form([['email', 'Email', { type: 'email', autocomplete: 'email' }]], 'Send the link', async ({ email }) => {
      await api.gql('mutation RequestReset($email: String!) { requestPasswordReset(email: $email) }', { email: email.trim() });
      render('Check your email', h('p', {}, 'If an account uses that address, a link to reset its password is on its way. It works once, for 30 minutes.'), h('p', {}, link('/sign-in', 'Back to sign in')));
    }),
  );
}

function missingToken(title) {
  render(title, notice('This page opens from a link in an email, and that link is incomplete. Ask for a new one.', 'error'), h('p', {}, link('/sign-in', 'Sign in')));
}

function resetPage() {
  if (!linkToken) return missingToken('Choose a new password');
  render(
    'Choose a new password',
    form([['newPassword', 'New password (at least 8 characters)', { type: 'password', autocomplete: 'new-password', minlength: '8' }]], 'Save the new password', async ({ newPassword }) => {
      await api.gql('mutation ResetPassword($input: ResetPasswordInput!) { resetPassword(input: $input) }', { input: { token: linkToken, newPassword } });
      api.forget();
      signInPage(notice('Your password is changed and every session of your account has ended. Sign in with the new password.', 'ok'));
      history.replaceState(null, '', `${BASE}/sign-in`);
    }),
  );
}

function magicLinkPage() {
  if (!linkToken) return missingToken('Sign in with your email link');
  render(
    'Sign in with your email link',
    h('p', {}, 'Press the button to sign in on this device. The link then stops working.'),
    form([], 'Sign me in', async () => afterLogin(await api.signInWithMagicLink(linkToken))),
  );
}

async function denyPage() {
  if (!linkToken) return missingToken('Was this you?');
  let about;
  try {
    about = (await api.gql('query SignInToDeny($token: String!) { signInToDeny(token: $token) { signedInAt ip userAgent active } }', { token: linkToken })).signInToDeny;
  } catch (e) {
    if (e.code !== 'INVALID_TOKEN' && e.code !== 'BAD_USER_INPUT') throw e;
    return render('Was this you?', notice('This link is invalid, already used or expired.', 'error'), h('p', {}, 'If you think someone else has your password, ', link('/forgot-password', 'choose a new one'), '.'));
  }
  render(
    'Was this you?',
    h('p', {}, 'We emailed you about this new sign-in to your account:'),
    h('ul', { class: 'cards', id: 'deny-what' }, h('li', {}, h('span', { class: 'what' }, about.active ? device(about.userAgent) : 'A session that has ended since', about.ip ? h('span', { class: 'muted' }, ` · ${about.ip}`) : null), h('time', { datetime: about.signedInAt, class: 'muted' }, when(about.signedInAt)))),
    h('p', {}, 'If it was not you, end that session now: whoever signed in is signed out at once, everywhere.'),
    form([], 'It was not me: end that session', async () => {
      await api.gql('mutation DenySignIn($token: String!) { denySignIn(token: $token) }', { token: linkToken });
      render(
        'That session has ended',
        notice('The sign-in you did not recognise is signed out. Someone may know your password: choose a new one now.', 'ok'),
        h('p', {}, link('/forgot-password', 'Choose a new password')),
      );
    }, { buttonClass: 'danger' }),
    h('p', {}, 'If it was you, there is nothing to do: close this page.'),
  );
}

/** "Chrome on Linux" from a user agent; the raw string when nothing is recognised. */
function device(ua) {
  if (!ua) return 'Unknown device';
  const browser = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']].find(([k]) => ua.includes(k))?.[1];
  const os = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'], ['Mac OS X', 'macOS'], ['Linux', 'Linux']].find(([k]) => ua.includes(k))?.[1];
  return browser ? `${browser}${os ? ` on ${os}` : ''}` : ua.slice(0, 60);
}
const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const EVENT_TEXT = {
  SIGNED_IN: 'New sign-in',
  SIGNED_OUT: 'Signed out',
  SESSION_REVOKED: 'Session ended',
  SIGN_IN_DENIED: 'Sign-in denied from an email',
  PASSWORD_CHANGED: 'Password changed',
  PASSWORD_RESET: 'Password reset',
  EMAIL_VERIFIED: 'Email address verified',
  MFA_ENABLED: 'Two-factor sign-in turned on',
  MFA_DISABLED: 'Two-factor sign-in turned off',
  MFA_CHALLENGE_FAILED: 'Wrong two-factor code',
  ACCOUNT_LOCKED: 'Account locked after failed attempts',
  REFRESH_TOKEN_REUSED: 'A stolen session token was detected; that session ended',
  PASSKEY_ADDED: 'Passkey added',
  PASSKEY_REMOVED: 'Passkey removed',
};

const eventItem = (e) =>
  h('li', { 'data-event': e.id }, h('span', { class: 'what' }, EVENT_TEXT[e.type] ?? e.type, e.ip || e.userAgent ? h('span', { class: 'muted' }, ` · ${device(e.userAgent)}${e.ip ? ` · ${e.ip}` : ''}`) : null), h('time', { datetime: e.occurredAt, class: 'muted' }, when(e.occurredAt)));

function unverifiedNotice() {
  const box = h('div', { class: 'notice', role: 'status' }, 'Your email address is not verified yet: open the link we emailed you. ');
  const again = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    again.disabled = true;
    try {
      const { resendVerificationEmail: sent } = await api.gql('mutation ResendVerification { resendVerificationEmail }');
      box.replaceChildren(sent ? 'A new link is on its way; older ones no longer work.' : 'Your address is already verified.');
    } catch (e) {
      box.replaceChildren(messageOf(e));
    }
  } }, 'Send the link again');
  box.append(again);
  return box;
}

async function sessionsPage() {
  const [{ sessions }, { securityEvents }] = await Promise.all([
    api.gql('query Sessions { sessions { id current ip userAgent lastUsedAt createdAt } }'),
    api.gql('query Events { securityEvents(first: 20) { edges { node { id type occurredAt sessionId ip userAgent } } } }'),
  ]);
  const list = h('ul', { class: 'cards', id: 'sessions' });
  const showSessions = (all) =>
    list.replaceChildren(
      ...all
        .sort((a, b) => Number(b.current) - Number(a.current) || b.lastUsedAt.localeCompare(a.lastUsedAt))
        .map((s) =>
          h(
            'li',
            { 'data-session': s.id },
            h('span', { class: 'what' }, device(s.userAgent), s.current ? h('span', { class: 'badge' }, 'this device') : null, h('br'), h('span', { class: 'muted' }, `${s.ip ?? 'unknown address'} · last used ${when(s.lastUsedAt)}`)),
            s.current ? null : h('button', { type: 'button', class: 'danger', 'aria-label': `Sign out ${device(s.userAgent)} at ${s.ip ?? 'unknown address'}`, onclick: () => void revoke(s.id) }, 'Sign out'),
          ),
        ),
    );
  const reload = async () => showSessions((await api.gql('query Sessions { sessions { id current ip userAgent lastUsedAt createdAt } }')).sessions);
  const status = h('div', { 'aria-live': 'polite' });
  const revoke = async (id) => {
    await api.gql('mutation RevokeSession($id: ID!) { revokeSession(id: $id) }', { id });
    await reload();
    status.replaceChildren(notice('That session is signed out.', 'ok'));
  };
  showSessions(sessions);
  const events = h('ol', { class: 'cards', id: 'events', 'aria-live': 'polite', 'aria-relevant': 'additions' }, securityEvents.edges.map((e) => eventItem(e.node)));
  const user = api.currentUser();
  render(
    'Your sessions',
    user && !user.emailVerified ? unverifiedNotice() : null,
    status,
    h('p', { class: 'muted' }, 'Every device signed in to your account. Signing one out ends it at once.'),
    list,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', onclick: async () => {
      const n = (await api.gql('mutation RevokeOthers { revokeOtherSessions }')).revokeOtherSessions;
      await reload();
      status.replaceChildren(notice(`${n} other session${n === 1 ? '' : 's'} signed out.`, 'ok'));
    } }, 'Sign out every other session')),
    h('h2', {}, 'Security activity'),
    h('p', { class: 'muted' }, 'Updates live as it happens.'),
    events,
  );
  const known = (e) => events.querySelector(`[data-event="${CSS.escape(e.id)}"]`) !== null;
  const changesSessions = (e) => ['SIGNED_IN', 'SESSION_REVOKED', 'SIGNED_OUT', 'SIGN_IN_DENIED'].includes(e.type);
  /** Puts an event in its place, newest first (a caught-up one may be older than a live one shown already). */
  const insert = (e) => {
    const later = [...events.children].find((li) => (li.querySelector('time')?.getAttribute('datetime') ?? '') < e.occurredAt);
    events.insertBefore(eventItem(e), later ?? null);
  };
  /**
   * When the page starts listening to the session watcher, after each (re)connection of its socket and again
   * shortly after one (the service registers the subscription a moment later: api.js): the events this page
   * has not shown (committed since its first read, or while no socket listened: a token renewed too late, a
   * network cut), read newest first page by page until one already shown.
   */
  const catchUp = async () => {
    const missed = [];
    let after = null;
    for (let pages = 0; pages < 5; pages++) {
      const { securityEvents: page } = await api.gql('query Events($after: String) { securityEvents(first: 20, after: $after) { edges { cursor node { id type occurredAt sessionId ip userAgent } } pageInfo { hasNextPage } } }', { after });
      const fresh = page.edges.map((edge) => edge.node).filter((e) => !known(e));
      missed.push(...fresh);
      if (fresh.length < page.edges.length || !page.pageInfo.hasNextPage) break;
      after = page.edges.at(-1).cursor;
    }
    const shown = missed.filter((e) => !known(e)); // a live event may have come meanwhile
    shown.forEach(insert);
    if (shown.some(changesSessions)) await reload();
  };
  api.watchSecurityEvents(
    (e) => {
      if (known(e)) return;
      events.prepend(eventItem(e));
      if (changesSessions(e)) void reload().catch(() => undefined);
    },
    () => void catchUp().catch(() => undefined),
  );
}

// ---- security: password, two-factor, deleting the account ------------------------------------------

const codeField = () => ['code', 'Two-factor code (or a recovery code)', { autocomplete: 'one-time-code' }];

/**
 * Runs a sensitive change; when the service asks for a recent sign-in, shows a form to confirm it is
 * the owner (password, and a code when two-factor is on) inside `slot`, then runs the change again.
 */
async function sensitive(slot, run) {
  try {
    return await run();
  } catch (e) {
    if (e.code !== 'REAUTHENTICATION_REQUIRED') throw e;
    return new Promise((resolve, reject) => {
      const fields = [['password', 'Your password', { type: 'password', autocomplete: 'current-password' }]];
      if (api.currentUser()?.mfaEnabled) fields.push(codeField());
      slot.replaceChildren(
        h('p', {}, 'For your security, confirm it is you.'),
        form(fields, 'Confirm', async ({ password, code }) => {
          await api.gql('mutation Reauthenticate($password: String!, $code: String) { reauthenticate(password: $password, code: $code) }', { password, code: code?.trim() || null });
          slot.replaceChildren();
          run().then(resolve, reject);
        }, { messages: CODE_MESSAGES }),
      );
      slot.querySelector('input')?.focus();
    });
  }
}

function twoFactorSection() {
  const box = h('section', { 'aria-labelledby': 'tf-h' });
  const draw = () => {
    const user = api.currentUser();
    const slot = h('div');
    if (user.mfaEnabled) {
      box.replaceChildren(
        h('h2', { id: 'tf-h' }, 'Two-factor sign-in'),
        h('p', {}, 'On: signing in asks for a code from your authenticator app.'),
        slot,
        form([codeField()], 'Turn two-factor sign-in off', async ({ code }) => {
          await sensitive(slot, () => api.gql('mutation DisableTotp($code: String!) { disableTotp(code: $code) }', { code: code.trim() }));
          await api.reloadUser();
          securityPage(); // the other forms now ask for no code
          main.querySelector('#tf-h')?.after(notice('Two-factor sign-in is off.', 'ok'));
        }, { buttonClass: 'danger', messages: CODE_MESSAGES }),
      );
      return;
    }
    const start = h('button', { type: 'button', onclick: async () => {
      start.disabled = true;
      try {
        const { startTotpEnrollment: e } = await sensitive(slot, () => api.gql('mutation StartTotp { startTotpEnrollment { qrCodeSvg secret } }'));
        enroll(e);
      } catch (err) {
        slot.replaceChildren(notice(err.code === 'FORBIDDEN' ? 'Verify your email address first: open the link we emailed you.' : messageOf(err), 'error'));
      } finally {
        start.disabled = false;
      }
    } }, 'Set up two-factor sign-in');
    box.replaceChildren(h('h2', { id: 'tf-h' }, 'Two-factor sign-in'), h('p', {}, 'Off. With it on, signing in also asks for a code from an authenticator app.'), slot, start);
  };
  const enroll = (e) => {
    const qr = h('img', { alt: 'QR code to scan with your authenticator app', width: '200', height: '200', class: 'qr' });
    qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(e.qrCodeSvg)}`;
    box.replaceChildren(
      h('h2', { id: 'tf-h' }, 'Set up two-factor sign-in'),
      h('p', {}, 'Scan this code with your authenticator app, or type the key by hand.'),
      qr,
      h('p', {}, 'Key: ', h('code', { id: 'totp-secret' }, e.secret)),
      form([['code', 'The 6-digit code your app shows', { autocomplete: 'one-time-code', inputmode: 'numeric' }]], 'Turn it on', async ({ code }) => {
        const { confirmTotpEnrollment: codes } = await api.gql('mutation ConfirmTotp($code: String!) { confirmTotpEnrollment(code: $code) }', { code: code.trim() });
        await api.reloadUser();
        box.replaceChildren(
          h('h2', { id: 'tf-h', tabindex: '-1' }, 'Save your recovery codes'),
          notice('Two-factor sign-in is on.', 'ok'),
          h('p', {}, 'Each of these codes signs you in once if you lose your phone. Keep them somewhere safe: they are shown only now.'),
          h('ul', { class: 'codes', id: 'recovery-codes' }, codes.map((c) => h('li', {}, h('code', {}, c)))),
          h('button', { type: 'button', onclick: () => securityPage() }, 'I have saved them'),
        );
        box.querySelector('h2').focus();
      }, { messages: CODE_MESSAGES }),
    );
    box.querySelector('input')?.focus();
  };
  draw();
  return box;
}

function securityPage() {
  const user = api.currentUser();
  const pwSlot = h('div');
  const delSlot = h('div');
  const withCode = (fields) => (api.currentUser()?.mfaEnabled ? [...fields, codeField()] : fields);
  render(
    'Security',
    h('section', { 'aria-labelledby': 'pw-h' },
      h('h2', { id: 'pw-h' }, 'Change your password'),
      pwSlot,
      form(withCode([
        ['currentPassword', 'Current password', { type: 'password', autocomplete: 'current-password' }],
        ['newPassword', 'New password (at least 8 characters)', { type: 'password', autocomplete: 'new-password', minlength: '8' }],
      ]), 'Change password', async ({ currentPassword, newPassword, code }) => {
        await sensitive(pwSlot, () => api.gql('mutation ChangePassword($input: ChangePasswordInput!) { changePassword(input: $input) }', { input: { currentPassword, newPassword, code: code?.trim() || null } }));
        pwSlot.replaceChildren(notice('Your password is changed, and every other session of your account has ended.', 'ok'));
        main.querySelectorAll('#pw-h ~ form input').forEach((i) => (i.value = ''));
      }, { messages: { ...CODE_MESSAGES, INVALID_CREDENTIALS: 'Your current password is not right.' } }),
    ),
    twoFactorSection(),
    window.PublicKeyCredential?.parseCreationOptionsFromJSON ? passkeysSection() : null,
    h('section', { 'aria-labelledby': 'del-h' },
      h('h2', { id: 'del-h' }, 'Delete your account'),
      h('p', {}, `This erases ${user.username} and signs out every device. It cannot be undone.`),
      delSlot,
      form(withCode([['password', 'Your password', { type: 'password', autocomplete: 'current-password' }]]), 'Delete my account', async ({ password, code }) => {
        if (!confirm('Delete your account for good?')) return;
        await sensitive(delSlot, () => api.gql('mutation DeleteAccount($password: String!, $code: String) { deleteAccount(password: $password, code: $code) }', { password, code: code?.trim() || null }));
        api.forget();
        await navigate('/sign-in', true);
        main.insertBefore(notice('Your account is deleted.', 'ok'), main.children[1] ?? null);
      }, { buttonClass: 'danger', messages: { ...CODE_MESSAGES, INVALID_CREDENTIALS: 'That password is not right.' } }),
    ),
  );
}

// ---- routing -----------------------------------------------------------------------------------------

const PUBLIC = { '/sign-in': () => signInPage(), '/register': registerPage, '/forgot-password': forgotPage, '/reset-password': resetPage, '/magic-link': magicLinkPage, '/deny-sign-in': denyPage };
const PRIVATE = { '/sessions': sessionsPage, '/security': securityPage };
// The admin area (SUPPORT and ADMIN accounts; the service refuses anyone else): its own module, loaded
// the first time one of its pages opens, so the console of everyone else does not download it.
const isOperator = (user) => user?.role === 'SUPPORT' || user?.role === 'ADMIN';
let admin;
const adminPage = (path) => async () => {
  admin ??= (await import('./admin.js')).adminRoutes({ base: BASE, api, h, render, notice, link, navigate, sensitive, messageOf, device, when });
  const page = admin.page(path);
  return page ? page() : render('Page not found', h('p', {}, link('/admin', 'Go to the admin area')));
};
const privatePage = (path) => PRIVATE[path] ?? (path === '/admin' || path.startsWith('/admin/') ? adminPage(path) : undefined);

let wasSignedIn = false;
api.onSessionChange((user) => {
  // Signed out by the service (this session revoked elsewhere): leave the private page at once.
  if (wasSignedIn && !user && privatePage(location.pathname.slice(BASE.length).replace(/\/+$/, ''))) void signOut('This session was signed out.');
  wasSignedIn = Boolean(user);
});

async function route() {
  // The page's own live feeds end with it; the session watcher (api.js) stays on every page while signed in.
  api.stopSecurityEvents();
  api.stopAuditEvents();
  api.stopPasskeyAutofill();
  const path = location.pathname.slice(BASE.length).replace(/\/+$/, '') || '/';
  try {
    if (PUBLIC[path]) return PUBLIC[path]();
    const page = privatePage(path);
    if (page) return api.currentUser() ? await page() : navigate('/sign-in', true);
    if (path === '/') return navigate(api.currentUser() ? '/sessions' : '/sign-in', true);
    render('Page not found', h('p', {}, link('/', 'Go to your account')));
  } catch (e) {
    if (e.code === 'UNAUTHENTICATED') return signOut('Your session has ended. Sign in again.');
    render('Something went wrong', notice(messageOf(e), 'error'), h('p', {}, h('button', { type: 'button', onclick: () => void route() }, 'Try again')));
  }
}

async function start() {
  renderNav(null);
  try {
    await api.resume();
  } catch {
    // Offline or the service is busy: the public pages still work.
  }
  await route();
  if (verification === 'success') main.insertBefore(notice('Your email address is verified. Thank you!', 'ok'), main.children[1] ?? null);
  if (verification === 'invalid') main.insertBefore(notice('That verification link is invalid, already used or expired. Sign in to ask for a new one.', 'error'), main.children[1] ?? null);
}

void start();
