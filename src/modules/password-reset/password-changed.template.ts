import { details, layout, LINK, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'password-changed': { username: string; changedAt: string /* ISO */; ip: string | null; userAgent: string | null; resetLink: string };
  }
}

/** After a reset: the owner learns the password changed, and where from. */
export const passwordChangedTemplate = defineTemplate({
  name: 'password-changed',
  subject: 'Your password was changed',
  html: layout(
    'Your password was changed',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">The password of your account was changed, and your other sessions were signed out.</p>
${details([
  ['When', '{{when changedAt}}'],
  ['IP address', '{{orUnknown ip}}'],
  ['Device', '{{device userAgent}}'],
])}`,
    `<p style="${SMALL}"><strong>If this wasn't you</strong>, reset your password now: <a href="{{link resetLink}}" style="${LINK}">{{link resetLink}}</a></p>`,
  ),
  text: `Hi {{username}},

The password of your account was changed, and your other sessions were signed out.

When:       {{when changedAt}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this wasn't you, reset your password now:
{{link resetLink}}
`,
  links: ['resetLink'],
  sample: { username: 'sample', changedAt: '2026-01-01T00:00:00Z', ip: null, userAgent: null, resetLink: 'http://localhost/r' },
});
