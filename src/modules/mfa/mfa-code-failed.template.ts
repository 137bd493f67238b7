import { details, layout, LINK, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    /** The right password, then too many wrong codes: that sign-in was stopped, and the password is known. */
    'mfa-code-failed': { username: string; at: string /* ISO */; ip: string | null; resetLink: string };
  }
}

/** The right password, then too many wrong codes: the password is known to someone. */
export const mfaCodeFailedTemplate = defineTemplate({
  name: 'mfa-code-failed',
  subject: 'Someone has your password',
  html: layout(
    'Someone has your password',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Someone signed in to your account with the right password, then gave wrong two-factor codes, so that sign-in was stopped.</p>
${details([
  ['When', '{{when at}}'],
  ['IP address', '{{orUnknown ip}}'],
])}
<p style="${P}">If this was you, there is nothing to do.</p>`,
    `<p style="${SMALL}"><strong>If this wasn't you</strong>, your password is known to someone else: change it now. <a href="{{link resetLink}}" style="${LINK}">{{link resetLink}}</a></p>`,
  ),
  text: `Hi {{username}},

Someone signed in to your account with the right password, then gave wrong two-factor codes, so that sign-in was stopped.

When:       {{when at}}
IP address: {{orUnknown ip}}

If this was you, there is nothing to do.

If this wasn't you, your password is known to someone else: change it now.
{{link resetLink}}
`,
  links: ['resetLink'],
  sample: { username: 'sample', at: '2026-01-01T00:00:00Z', ip: null, resetLink: 'http://localhost/r' },
});
