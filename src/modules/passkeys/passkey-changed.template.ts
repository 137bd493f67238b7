import { details, layout, LINK, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    /** A passkey added to the account (`added: true`) or removed from it. */
    'passkey-changed': { username: string; added: boolean; name: string; at: string /* ISO */; ip: string | null; userAgent: string | null; resetLink: string };
  }
}

/** A passkey added or removed: a new passkey is a new way in, so the owner hears of it at once. */
export const passkeyChangedTemplate = defineTemplate({
  name: 'passkey-changed',
  subject: 'The passkeys of your account changed',
  html: layout(
    'Your passkeys changed',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">The passkey <strong>{{name}}</strong> was {{#if added}}added to{{else}}removed from{{/if}} your account.{{#if added}} It can now sign in to your account without a password.{{/if}}</p>
${details([
  ['When', '{{when at}}'],
  ['IP address', '{{orUnknown ip}}'],
  ['Device', '{{device userAgent}}'],
])}`,
    `<p style="${SMALL}"><strong>If this wasn't you</strong>, reset your password now (it signs out every session), then remove any passkey you do not know: <a href="{{link resetLink}}" style="${LINK}">{{link resetLink}}</a></p>`,
  ),
  text: `Hi {{username}},

The passkey "{{name}}" was {{#if added}}added to{{else}}removed from{{/if}} your account.{{#if added}} It can now sign in to your account without a password.{{/if}}

When:       {{when at}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this wasn't you, reset your password now (it signs out every session), then remove any passkey you do not know:
{{link resetLink}}
`,
  links: ['resetLink'],
  sample: { username: 'sample', added: true, name: 'Laptop', at: '2026-01-01T00:00:00Z', ip: null, userAgent: null, resetLink: 'http://localhost/r' },
});
