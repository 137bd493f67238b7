import { button, layout, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'account-locked': { username: string; until: string /* ISO */; unlockLink: string };
  }
}

/** The account locked after too many failures, with the unlock link. */
export const accountLockedTemplate = defineTemplate({
  name: 'account-locked',
  subject: 'Your account has been locked',
  html: layout(
    'Your account has been locked',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">After too many failed sign-in attempts, your account is locked until {{when until}}. Someone may be trying to guess your password.</p>
<p style="${P}">Devices you have signed in from lately are held only by their own failed attempts, not by attempts from elsewhere.</p>
${button('unlockLink', 'Unlock my account')}`,
    `<p style="${SMALL}">If these attempts were not yours, consider changing your password once you are back in.</p>`,
  ),
  text: `Hi {{username}},

After too many failed sign-in attempts, your account is locked until {{when until}}. Someone may be trying to guess your password.

Devices you have signed in from lately are held only by their own failed attempts, not by attempts from elsewhere.

To unlock your account, open this link:
{{link unlockLink}}

If these attempts were not yours, consider changing your password once you are back in.
`,
  links: ['unlockLink'],
  sample: { username: 'sample', until: '2026-01-01T00:00:00Z', unlockLink: 'http://localhost/u' },
});
