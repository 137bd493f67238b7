// The console's admin area, for SUPPORT and ADMIN accounts: find accounts, one account's detail with its
// sessions and the changes an operator may make (each behind a confirmation), and the audit log with its
// live feed. The service checks the caller's role on every call; what this page hides or shows only
// spares the operator a refusal. The DOM is built with the console's `h()` (Trusted Types is enforced).

const RANK = { USER: 0, SUPPORT: 1, ADMIN: 2 };

/**
 * The role each operation of the admin API needs: the service's ADMIN_OPERATIONS
 * (src/modules/admin/admin.service.ts), which the browser test checks this against.
 */
export const ROLE_NEEDED = {
  users: 'SUPPORT',
  user: 'SUPPORT',
  userSessions: 'SUPPORT',
  revokeUserSessions: 'SUPPORT',
  unlockUser: 'SUPPORT',
  disableUser: 'ADMIN',
  enableUser: 'ADMIN',
  deleteUser: 'ADMIN',
  resetUserMfa: 'ADMIN',
  setUserRole: 'ADMIN',
};

/** The audit actions a filter takes: the service's AUDIT_ACTIONS (src/modules/audit/audit-actions.ts), checked by the browser test. */
export const AUDIT_ACTIONS = [
  'user.registered', 'user.signed_in', 'user.sign_in_failed', 'user.signed_out', 'session.revoked', 'session.refresh_token_reused',
  'user.password_changed', 'user.password_reset_requested', 'user.password_reset', 'user.email_verified', 'user.mfa_enabled',
  'user.mfa_disabled', 'user.locked', 'user.unlocked', 'user.deleted', 'user.sign_in_denied', 'user.passkey_added', 'user.passkey_removed',
  'user.reauthenticated', 'admin.user_disabled', 'admin.user_enabled', 'admin.user_deleted', 'admin.sessions_revoked', 'admin.mfa_reset',
  'admin.role_changed', 'admin.user_unlocked', 'webhook.endpoint_created', 'webhook.endpoint_deleted', 'webhook.endpoint_updated',
  'webhook.secret_rotated', 'webhook.endpoint_disabled', 'service_key.created', 'service_key.revoked', 'security.alert',
];

const ROLES = {
  USER: 'User: its own account only',
  SUPPORT: 'Support: reads accounts and the audit log, unlocks, signs sessions out',
  ADMIN: 'Administrator: every change, including roles',
};

/** Whether `user` may run `op`, and (for the changes SUPPORT may make) on an account of `targetRole`. */
const may = (user, op, targetRole) => RANK[user?.role] >= RANK[ROLE_NEEDED[op]] && (user?.role === 'ADMIN' || targetRole === undefined || RANK[user?.role] >= RANK[targetRole]);

const USER_FIELDS = 'id username email emailVerified mfaEnabled createdAt role disabledAt disabledReason lockedUntil lastSignInAt activeSessions';
const AUDIT_FIELDS = 'id occurredAt action outcome actorId targetUserId sessionId ip userAgent requestId details';
const PAGE = 20;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The admin routes, built on the console's page kit (`h`, `render`, the API client, ...). */
export function adminRoutes(ui) {
  const { base, api, h, render, notice, link, navigate, sensitive, messageOf, device, when } = ui;
  let fieldCount = 0;
  const fid = (name) => `a${++fieldCount}-${name}`;

  /** A labelled control: `control` is an input or a select made with h(). */
  const field = (text, control, hint) => {
    control.id ||= fid(control.name || 'field');
    return h('label', { for: control.id }, text, hint ? h('span', { class: 'muted hint' }, hint) : null, control);
  };
  const select = (name, value, options) =>
    h('select', { name }, options.map(([v, text]) => {
      const o = h('option', { value: v }, text);
      o.selected = v === value;
      return o;
    }));
  const badge = (text, kind = '') => h('span', { class: `badge ${kind}` }, text);
  const subnav = (current) =>
    h('nav', { class: 'subnav', 'aria-label': 'Admin' }, [['/admin', 'Users'], ['/admin/audit', 'Audit log']].map(([path, text]) => {
      const a = link(path, text);
      if (path === current) a.setAttribute('aria-current', 'page');
      return a;
    }));
  const shortId = (id) => id.slice(0, 8);
  const me = () => api.currentUser();
  // A confirmation left open goes with the page it was about: on Back or Forward, and when the session ends.
  const closeDialogs = () => document.querySelectorAll('dialog[open]').forEach((d) => d.close());
  addEventListener('popstate', closeDialogs);
  api.onSessionChange((user) => user || closeDialogs());

  /** The page a caller the service refuses (FORBIDDEN) sees instead of an error. */
  const notAllowed = () => {
    api.stopAuditEvents();
    render(
      'Not allowed',
      h('p', { class: 'notice error', role: 'alert', 'data-code': 'FORBIDDEN' }, 'The admin area is for support staff and administrators: your account may not open it.'),
      h('p', {}, link('/sessions', 'Back to your account')),
    );
  };
  const guarded = (page) => async () => {
    try {
      await page();
    } catch (e) {
      if (e.code === 'FORBIDDEN') return notAllowed();
      throw e;
    }
  };

  /**
   * A confirmation step in a modal <dialog>: focus goes to its first field (or to Cancel, the safe
   * choice), Escape or Cancel closes it, and focus returns to the button that opened it. The change runs
   * on Confirm; its error shows in the dialog; a request to confirm the operator's identity
   * (REAUTHENTICATION_REQUIRED) is asked there too, and the change then runs again. What `run` returns
   * (a function) runs once the dialog has closed: the page outside it is inert until then.
   */
  function confirmStep({ title, text, confirm, danger = true, fields = [], run }) {
    const titleId = fid('title');
    const textId = fid('text');
    const error = h('div', { 'aria-live': 'assertive' });
    const proof = h('div');
    const cancel = h('button', { type: 'button', class: 'secondary', autofocus: fields.length === 0, onclick: () => dialog.close() }, 'Cancel');
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : undefined }, confirm);
    const formEl = h('form', {
      onsubmit: async (ev) => {
        ev.preventDefault();
        ok.disabled = true;
        error.replaceChildren();
        try {
          const after = await sensitive(proof, () => run(Object.fromEntries(new FormData(formEl))));
          dialog.close();
          // The change is made; should showing its outcome fail, the page is opened again (and the
          // console's router says why: a session that ended signs out).
          await after?.().catch(() => navigate(location.pathname.slice(base.length) + location.search, true));
        } catch (e) {
          error.replaceChildren(notice(messageOf(e), 'error'));
        } finally {
          ok.disabled = false;
        }
      },
    }, fields.map((f, i) => {
      if (i === 0) f.querySelector('input, select')?.setAttribute('autofocus', '');
      return f;
    }), error, h('div', { class: 'row' }, cancel, ok));
    const dialog = h('dialog', { 'aria-labelledby': titleId, 'aria-describedby': textId, onclose: () => dialog.remove() }, h('h2', { id: titleId }, title), h('p', { id: textId }, text), proof, formEl);
    document.body.append(dialog);
    dialog.showModal();
  }

  // ---- users ---------------------------------------------------------------------------------------

  function userItem(u) {
    return h('li', { 'data-user': u.id },
      h('span', { class: 'what' },
        link(`/admin/users/${u.id}`, u.username),
        u.role === 'USER' ? null : badge(u.role),
        u.disabledAt ? badge('disabled', 'danger') : null,
        u.lockedUntil && new Date(u.lockedUntil) > new Date() ? badge('locked', 'warn') : null,
        u.mfaEnabled ? badge('2FA', 'plain') : null,
        h('br'),
        h('span', { class: 'muted' }, `${u.email} · ${u.lastSignInAt ? `last sign-in ${when(u.lastSignInAt)}` : 'never signed in'}`)),
    );
  }

  async function usersPage() {
    const params = new URLSearchParams(location.search);
    const state = { q: params.get('q') ?? '', role: params.get('role') ?? '', status: params.get('status') ?? '' };
    const filterOf = () => ({
      ...(state.q.trim() ? { query: state.q.trim() } : {}),
      ...(RANK[state.role] === undefined ? {} : { role: state.role }),
      ...(state.status === 'disabled' || state.status === 'active' ? { disabled: state.status === 'disabled' } : {}),
    });
    const fetchPage = (after) => api.gql(`query AdminUsers($filter: UserFilter, $first: Int, $after: String) {
      users(filter: $filter, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { ${USER_FIELDS} } } } }`, { filter: filterOf(), first: PAGE, after });
    const first = (await fetchPage(null)).users; // FORBIDDEN here: the "not allowed" page

    const list = h('ul', { class: 'cards', id: 'users' });
    const count = h('p', { class: 'muted', id: 'users-count', role: 'status' });
    const error = h('div', { 'aria-live': 'assertive' });
    let cursor = null;
    let asked = 0; // the latest search: an older answer arriving later is dropped
    const more = h('button', { type: 'button', class: 'secondary', onclick: async () => {
      more.disabled = true;
      try {
        show((await fetchPage(cursor)).users, true);
      } catch (e) {
        error.replaceChildren(notice(messageOf(e), 'error'));
      } finally {
        more.disabled = false;
      }
    } }, 'Load more');
    const show = (page, append) => {
      if (!append) list.replaceChildren();
      list.append(...page.edges.map((e) => userItem(e.node)));
      if (list.children.length === 0) list.append(h('li', { class: 'muted' }, 'No account matches.'));
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      const shown = list.querySelectorAll('[data-user]').length;
      count.textContent = `${page.totalCount} account${page.totalCount === 1 ? '' : 's'}${shown < page.totalCount ? `, ${shown} shown` : ''}`;
    };
    const search = async () => {
      if (!list.isConnected) return; // the page was left while a search waited
      const mine = ++asked;
      const qs = new URLSearchParams(Object.entries(state).filter(([, v]) => v)).toString();
      history.replaceState(null, '', `${base}/admin${qs ? `?${qs}` : ''}`);
      error.replaceChildren();
      list.setAttribute('aria-busy', 'true');
      try {
        const page = (await fetchPage(null)).users;
        if (mine === asked) show(page, false);
      } catch (e) {
        if (mine === asked) error.replaceChildren(notice(messageOf(e), 'error'));
      } finally {
        if (mine === asked) list.removeAttribute('aria-busy');
      }
    };
    let timer;
    const queryInput = h('input', { name: 'q', type: 'search', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: '254', value: state.q });
    queryInput.addEventListener('input', () => {
      state.q = queryInput.value;
      clearTimeout(timer);
      timer = setTimeout(() => void search(), 300);
    });
    const roleSelect = select('role', state.role, [['', 'Any role'], ['USER', 'User'], ['SUPPORT', 'Support'], ['ADMIN', 'Administrator']]);
    const statusSelect = select('status', state.status, [['', 'Any standing'], ['active', 'Active'], ['disabled', 'Disabled']]);
    for (const [el, key] of [[roleSelect, 'role'], [statusSelect, 'status']]) {
      el.addEventListener('change', () => {
        state[key] = el.value;
        void search();
      });
    }
    const searchForm = h('form', { role: 'search', class: 'filters', onsubmit: (ev) => {
      ev.preventDefault();
      clearTimeout(timer);
      state.q = queryInput.value;
      void search();
    } },
    field('Find an account', queryInput, 'The start of a username or email address'),
    h('div', { class: 'grid2' }, field('Role', roleSelect), field('Standing', statusSelect)),
    h('button', { type: 'submit' }, 'Search'));
    show(first, false);
    render('Users', subnav('/admin'), searchForm, count, error, list, h('div', { class: 'row more' }, more));
  }

  // ---- one account ---------------------------------------------------------------------------------

  async function userPage(id) {
    const load = async () => {
      const [{ user }, { userSessions }] = await Promise.all([
        api.gql(`query AdminUser($id: ID!) { user(id: $id) { ${USER_FIELDS} } }`, { id }),
        api.gql('query AdminUserSessions($userId: ID!) { userSessions(userId: $userId) { id createdAt lastUsedAt ip userAgent } }', { userId: id }),
      ]);
      return { user, sessions: userSessions };
    };
    const first = await load();
    if (!first.user) {
      render('No such account', subnav(), h('p', { class: 'notice error', role: 'alert' }, 'No account has this id: it may have been deleted.'), h('p', {}, link('/admin', 'Back to the users')));
      return;
    }
    const status = h('div', { 'aria-live': 'polite', id: 'admin-status' });
    const body = h('div');
    /** After a change: the account read again, and what happened said (and focused). */
    const done = (message) => async () => {
      draw(await load());
      const n = notice(message, 'ok');
      n.tabIndex = -1;
      status.replaceChildren(n);
      n.focus();
    };

    const draw = ({ user, sessions }) => {
      if (!user) {
        body.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, 'This account no longer exists.'), h('p', {}, link('/admin', 'Back to the users')));
        return;
      }
      const caller = me();
      // On the operator's own account only unlocking: its sessions, second factor, standing and role are
      // changed from its own pages or by another administrator (and the last administrator stays one).
      const self = user.id === caller.id;
      const mayHere = (op) => !self && may(caller, op, user.role);
      const lockedNow = user.lockedUntil && new Date(user.lockedUntil) > new Date();
      const actions = [];
      const act = (label, opts, danger = false) => actions.push(h('button', { type: 'button', class: danger ? 'danger' : 'secondary', onclick: () => confirmStep(opts) }, label));

      if (may(caller, 'unlockUser', user.role)) {
        act('Unlock sign-in', {
          title: `Unlock ${user.username}?`,
          text: 'Lifts every sign-in lock of this account now, as the unlock link in the email does. Failed attempts still count toward the next lock.',
          confirm: 'Unlock',
          danger: false,
          run: async () => {
            await api.gql(`mutation AdminUnlock($id: ID!) { unlockUser(id: $id) { id } }`, { id });
            return done(`${user.username} is unlocked.`);
          },
        });
      }
      if (mayHere('disableUser')) {
        if (user.disabledAt) {
          act('Enable account', {
            title: `Enable ${user.username}?`,
            text: 'The account may sign in again. Its ended sessions stay ended.',
            confirm: 'Enable',
            danger: false,
            run: async () => {
              await api.gql(`mutation AdminEnable($id: ID!) { enableUser(id: $id) { id } }`, { id });
              return done(`${user.username} is enabled.`);
            },
          });
        } else {
          act('Disable account…', {
            title: `Disable ${user.username}?`,
            text: 'The account can no longer sign in, and every session of it ends at once, on every device.',
            confirm: 'Disable',
            fields: [field('Reason (optional; kept with the account)', h('input', { name: 'reason', maxlength: '500', autocomplete: 'off' }))],
            run: async ({ reason }) => {
              await api.gql(`mutation AdminDisable($id: ID!, $reason: String) { disableUser(id: $id, reason: $reason) { id } }`, { id, reason: reason.trim() || null });
              return done(`${user.username} is disabled and signed out everywhere.`);
            },
          }, true);
        }
      }
      if (mayHere('resetUserMfa') && user.mfaEnabled) {
        act('Reset two-factor…', {
          title: `Turn two-factor sign-in off for ${user.username}?`,
          text: 'For an owner who lost their authenticator and every recovery code: the next sign-in asks only for the password. Make sure of who is asking first.',
          confirm: 'Reset two-factor',
          run: async () => {
            await api.gql(`mutation AdminResetMfa($id: ID!) { resetUserMfa(id: $id) { id } }`, { id });
            return done(`Two-factor sign-in is off for ${user.username}.`);
          },
        }, true);
      }
      if (mayHere('deleteUser')) {
        act('Delete account…', {
          title: `Delete ${user.username} for good?`,
          text: 'Erases the account and everything it owns, and signs out every device. Its email and username become free. This cannot be undone.',
          confirm: 'Delete',
          fields: [field(`Type ${user.username} to confirm`, h('input', { name: 'confirmName', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' }))],
          run: async ({ confirmName }) => {
            if (confirmName.trim() !== user.username) throw Object.assign(new Error(`Type the username, ${user.username}, exactly.`), { code: 'CONFIRMATION' });
            await api.gql('mutation AdminDelete($id: ID!) { deleteUser(id: $id) }', { id });
            return async () => {
              await navigate('/admin', true);
              main().insertBefore(notice(`${user.username} is deleted.`, 'ok'), main().children[2] ?? null);
            };
          },
        }, true);
      }

      const roleSection = mayHere('setUserRole')
        ? (() => {
            const roleSelect = select('role', user.role, Object.entries(ROLES));
            return h('section', { 'aria-labelledby': 'role-h' },
              h('h2', { id: 'role-h' }, 'Role'),
              h('form', { class: 'row', onsubmit: (ev) => {
                ev.preventDefault();
                const role = roleSelect.value;
                if (role === user.role) {
                  status.replaceChildren(notice(`${user.username} is ${user.role} already.`));
                  return;
                }
                confirmStep({
                  title: `Make ${user.username} ${role}?`,
                  text: `${ROLES[role]}. It applies to every session of the account at once.`,
                  confirm: `Make ${role}`,
                  danger: RANK[role] > RANK[user.role],
                  run: async () => {
                    await api.gql('mutation AdminSetRole($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { id } }', { id, role });
                    return done(`${user.username} is now ${role}.`);
                  },
                });
              } }, field('Role of this account', roleSelect), h('button', { type: 'submit', class: 'secondary' }, 'Change role…')));
          })()
        : null;

      const sessionList = h('ul', { class: 'cards', id: 'user-sessions' },
        sessions.length === 0
          ? [h('li', { class: 'muted' }, 'No live session.')]
          : sessions.map((s) => h('li', { 'data-session': s.id },
              h('span', { class: 'what' }, device(s.userAgent), h('br'), h('span', { class: 'muted' }, `${s.ip ?? 'unknown address'} · last used ${when(s.lastUsedAt)} · since ${when(s.createdAt)}`)))));
      const revokeAll = sessions.length > 0 && mayHere('revokeUserSessions')
        ? h('button', { type: 'button', class: 'danger', onclick: () => confirmStep({
            title: `Sign out every session of ${user.username}?`,
            text: 'Every device signed in to this account is signed out at once. The account may sign in again.',
            confirm: 'Sign them all out',
            run: async () => {
              const n = (await api.gql('mutation AdminRevokeSessions($userId: ID!) { revokeUserSessions(userId: $userId) }', { userId: id })).revokeUserSessions;
              return done(`${n} session${n === 1 ? '' : 's'} of ${user.username} signed out.`);
            },
          }) }, 'Sign out every session…')
        : null;

      const row = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
      body.replaceChildren(h('div', {},
        h('dl', { class: 'profile', id: 'profile' },
          row('Email', user.email, ' ', user.emailVerified ? badge('verified', 'plain') : badge('not verified', 'warn')),
          row('Role', user.role),
          row('Standing', user.disabledAt ? h('span', { class: 'bad' }, `Disabled since ${when(user.disabledAt)}${user.disabledReason ? ` (${user.disabledReason})` : ''}`) : 'Active'),
          // A lock with no end is stored far ahead: it lasts until the unlock link, a reset or an operator lifts it.
          row('Sign-in lock', lockedNow ? h('span', { class: 'bad' }, new Date(user.lockedUntil).getFullYear() > new Date().getFullYear() + 10 ? 'Locked until unlocked' : `Locked until ${when(user.lockedUntil)}`) : 'Not locked'),
          row('Two-factor', user.mfaEnabled ? 'On' : 'Off'),
          row('Created', when(user.createdAt)),
          row('Last sign-in', user.lastSignInAt ? when(user.lastSignInAt) : 'Never'),
          row('Id', h('code', {}, user.id)),
        ),
        h('p', {}, link(`/admin/audit?target=${user.id}`, 'This account in the audit log')),
        h('section', { 'aria-labelledby': 'sess-h' },
          h('h2', { id: 'sess-h' }, `Sessions (${sessions.length})`),
          sessionList,
          revokeAll ? h('div', { class: 'row more' }, revokeAll) : null),
        h('section', { 'aria-labelledby': 'act-h' },
          h('h2', { id: 'act-h' }, 'Actions'),
          actions.length ? h('div', { class: 'row', id: 'actions' }, actions) : null,
          self
            ? h('p', { class: 'muted' }, 'This is your own account: manage its sessions and security from your own pages; its standing and role are for another administrator to change.')
            : caller.role === 'SUPPORT'
            ? h('p', { class: 'muted' }, may(caller, 'unlockUser', user.role)
              ? 'As support you may unlock the account and sign its sessions out; disabling, deleting, two-factor resets and roles need an administrator.'
              : 'This account\'s role is above yours: you may look, not change.')
            : null),
        roleSection,
      ));
    };
    draw(first);
    render(first.user.username, subnav(), status, body);
  }

  // ---- the audit log -------------------------------------------------------------------------------

  /** datetime-local's value (local time, to the minute) for an ISO instant, and back. */
  const toLocal = (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? '' : new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  };
  const fromLocal = (v) => (v ? new Date(v).toISOString() : '');

  function auditItem(e, fresh) {
    const you = me()?.id;
    const account = (id) => (id === you ? 'you' : link(`/admin/users/${id}`, `account ${shortId(id)}`));
    // Who acted: the account itself, an operator, or no one signed in (the system, or a stranger at the door).
    const actor = e.actorId === null ? 'no actor' : e.actorId === e.targetUserId ? 'by itself' : ['by ', account(e.actorId)];
    const where = [e.ip, e.userAgent ? device(e.userAgent) : null].filter(Boolean).join(' · ');
    const details = e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : null;
    return h('li', { 'data-audit': e.id, class: fresh ? 'fresh' : undefined },
      h('span', { class: 'what' },
        h('code', { class: 'action' }, e.action),
        e.outcome === 'FAILURE' ? badge('failed', 'danger') : null,
        fresh ? badge('new', 'plain') : null,
        h('br'),
        h('span', { class: 'muted' },
          e.targetUserId ? [account(e.targetUserId), ' · '] : null,
          actor,
          where ? ` · ${where}` : null),
        details ? h('span', { class: 'details' }, details.length > 300 ? `${details.slice(0, 300)}…` : details) : null),
      h('time', { datetime: e.occurredAt, class: 'muted' }, when(e.occurredAt)));
  }

  async function auditPage() {
    const params = new URLSearchParams(location.search);
    const pick = (k, ok = () => true) => {
      const v = params.get(k)?.trim();
      return v && ok(v) ? v : undefined;
    };
    const filter = {
      action: pick('action', (v) => AUDIT_ACTIONS.includes(v)),
      outcome: pick('outcome', (v) => v === 'SUCCESS' || v === 'FAILURE'),
      targetUserId: pick('target', (v) => ID.test(v)),
      actorId: pick('actor', (v) => ID.test(v)),
      ip: pick('ip', (v) => v.length <= 45),
      since: pick('since', (v) => !Number.isNaN(Date.parse(v))),
      until: pick('until', (v) => !Number.isNaN(Date.parse(v))),
    };
    const active = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined));
    const fetchPage = (after) =>
      api.gql(`query AdminAuditLog($filter: AuditLogFilter, $first: Int, $after: String) {
        auditLog(filter: $filter, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { ${AUDIT_FIELDS} } } } }`, { filter: active, first: PAGE, after });
    const error = h('div', { 'aria-live': 'assertive' });
    // FORBIDDEN here: the "not allowed" page. A filter the service refuses (BAD_USER_INPUT): said above an empty list.
    const first = await fetchPage(null).then(
      (r) => r.auditLog,
      (e) => {
        if (e.code !== 'BAD_USER_INPUT') throw e;
        error.replaceChildren(notice(messageOf(e), 'error'));
        return { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };
      },
    );

    const list = h('ol', { class: 'cards', id: 'audit' });
    const live = h('p', { class: 'muted live', id: 'audit-live', 'data-state': 'connecting' }, 'Connecting to the live feed…');
    const arrived = h('p', { class: 'muted', role: 'status', id: 'audit-new' });
    let fresh = 0;
    let cursor = first.pageInfo.endCursor;
    const add = (entries, where) => {
      for (const e of entries) {
        if (list.querySelector(`[data-audit="${CSS.escape(e.id)}"]`)) continue;
        if (where === 'top') list.prepend(auditItem(e, true));
        else list.append(auditItem(e, false));
      }
      list.querySelector('.empty')?.remove();
    };
    const more = h('button', { type: 'button', class: 'secondary', hidden: !first.pageInfo.hasNextPage, onclick: async () => {
      more.disabled = true;
      try {
        const page = (await fetchPage(cursor)).auditLog;
        add(page.edges.map((e) => e.node), 'bottom');
        cursor = page.pageInfo.endCursor;
        more.hidden = !page.pageInfo.hasNextPage;
      } catch (e) {
        error.replaceChildren(notice(messageOf(e), 'error'));
      } finally {
        more.disabled = false;
      }
    } }, 'Load more');
    add(first.edges.map((e) => e.node), 'bottom');
    if (list.children.length === 0) list.append(h('li', { class: 'muted empty' }, 'No entry matches.'));

    // Live entries go on top when they pass the same filter the list was read with.
    const matches = (e) =>
      (!active.action || e.action === active.action) &&
      (!active.outcome || e.outcome === active.outcome) &&
      (!active.targetUserId || e.targetUserId === active.targetUserId) &&
      (!active.actorId || e.actorId === active.actorId) &&
      (!active.ip || e.ip === active.ip) &&
      (!active.since || Date.parse(e.occurredAt) >= Date.parse(active.since)) &&
      (!active.until || Date.parse(e.occurredAt) < Date.parse(active.until));

    const inputs = {
      action: select('action', active.action ?? '', [['', 'Any action'], ...AUDIT_ACTIONS.map((a) => [a, a])]),
      outcome: select('outcome', active.outcome ?? '', [['', 'Any outcome'], ['SUCCESS', 'Succeeded'], ['FAILURE', 'Failed']]),
      target: h('input', { name: 'target', value: active.targetUserId ?? '', autocomplete: 'off', spellcheck: 'false', placeholder: 'account id' }),
      actor: h('input', { name: 'actor', value: active.actorId ?? '', autocomplete: 'off', spellcheck: 'false', placeholder: 'account id' }),
      ip: h('input', { name: 'ip', value: active.ip ?? '', autocomplete: 'off', spellcheck: 'false', maxlength: '45' }),
      since: h('input', { name: 'since', type: 'datetime-local', value: active.since ? toLocal(active.since) : '' }),
      until: h('input', { name: 'until', type: 'datetime-local', value: active.until ? toLocal(active.until) : '' }),
    };
    inputs.action.id = 'audit-action';
    const filterForm = h('form', { class: 'filters', onsubmit: (ev) => {
      ev.preventDefault();
      const v = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
      for (const k of ['target', 'actor']) {
        if (v[k] && !ID.test(v[k].toLowerCase())) {
          error.replaceChildren(notice(`The ${k === 'target' ? 'account' : 'actor'} must be an account id (such as the one on an account's page).`, 'error'));
          inputs[k].focus();
          return;
        }
      }
      v.target = v.target.toLowerCase();
      v.actor = v.actor.toLowerCase();
      v.since = fromLocal(v.since);
      v.until = fromLocal(v.until);
      const qs = new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString();
      void navigate(`/admin/audit${qs ? `?${qs}` : ''}`);
    } },
    h('div', { class: 'grid2' },
      field('Action', inputs.action),
      field('Outcome', inputs.outcome),
      field('Account concerned', inputs.target),
      field('Done by', inputs.actor),
      field('IP address', inputs.ip),
      field('From', inputs.since),
      field('Until', inputs.until)),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Apply'), Object.keys(active).length ? link('/admin/audit', 'Clear the filters') : null));
    const filtersBox = h('details', { class: 'filter-box', open: Object.keys(active).length > 0 }, h('summary', {}, `Filters${Object.keys(active).length ? ` (${Object.keys(active).length} on)` : ''}`), filterForm);

    render('Audit log', subnav('/admin/audit'), filtersBox, live, arrived, error, list, h('div', { class: 'row more' }, more));
    api.watchAuditEvents(
      (e) => {
        if (!matches(e) || list.querySelector(`[data-audit="${CSS.escape(e.id)}"]`)) return;
        add([e], 'top');
        fresh += 1;
        arrived.textContent = `${fresh} new entr${fresh === 1 ? 'y' : 'ies'} since you opened this page.`;
      },
      (state) => {
        live.dataset.state = state;
        live.textContent = state === 'live' ? 'Live: new entries appear at the top as they happen.' : 'The live feed is not connected: reload the page to see new entries.';
      },
    );
  }

  const main = () => document.getElementById('main');
  return {
    /** The page for a path under the admin area, or undefined when the path is not one of it. */
    page(path) {
      if (path === '/admin') return guarded(usersPage);
      if (path === '/admin/audit') return guarded(auditPage);
      const m = /^\/admin\/users\/([^/]+)$/.exec(path);
      if (m) {
        const id = m[1].toLowerCase();
        return guarded(() => (ID.test(id) ? userPage(id) : render('No such account', subnav(), h('p', { class: 'notice error', role: 'alert' }, 'That is not an account id.'))));
      }
      return undefined;
    },
  };
}
