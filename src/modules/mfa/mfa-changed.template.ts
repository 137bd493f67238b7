import { details, layout, LINK, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    /** Two-factor sign-in turned on (`enabled: true`) or off. */
    'mfa-changed': { username: string; enabled: boolean; at: string /* ISO */; ip: string | null; userAgent: string | null; resetLink: string };
  }
}

/** Two-factor sign-in turned on or off. */
export const mfaChangedTemplate = defineTemplate({
  name: 'mfa-changed',
  subject: 'Two-factor sign-in was changed on your account',
  html: layout(
    'Two-factor sign-in was changed',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Two-factor sign-in was turned <strong>{{#if enabled}}on{{else}}off{{/if}}</strong> for your account.</p>
${details([
  ['When', '{{when at}}'],
  ['IP address', '{{orUnknown ip}}'],
  ['Device', '{{device userAgent}}'],
])}`,
    `<p style="${SMALL}"><strong>If this wasn't you</strong>, reset your password now: <a href="{{link resetLink}}" style="${LINK}">{{link resetLink}}</a></p>`,
  ),
  text: `Hi {{username}},

Two-factor sign-in was turned {{#if enabled}}on{{else}}off{{/if}} for your account.

When:       {{when at}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this wasn't you, reset your password now:
{{link resetLink}}
`,
  links: ['resetLink'],
  sample: { username: 'sample', enabled: true, at: '2026-01-01T00:00:00Z', ip: null, userAgent: null, resetLink: 'http://localhost/r' },
});
