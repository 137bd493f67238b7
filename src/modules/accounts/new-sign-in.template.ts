import { details, layout, LINK, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'new-sign-in': { username: string; at: string /* ISO */; ip: string | null; userAgent: string | null; sessionsLink: string };
  }
}

/** A sign-in from a device not seen lately. */
export const newSignInTemplate = defineTemplate({
  name: 'new-sign-in',
  subject: 'New sign-in to your account',
  html: layout(
    'New sign-in to your account',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Your account was just signed in to from a new device or place.</p>
${details([
  ['When', '{{when at}}'],
  ['IP address', '{{orUnknown ip}}'],
  ['Device', '{{device userAgent}}'],
])}
<p style="${P}">If this was you, there is nothing to do.</p>`,
    `<p style="${SMALL}"><strong>If this wasn't you</strong>, sign that session out and change your password: <a href="{{link sessionsLink}}" style="${LINK}">{{link sessionsLink}}</a></p>`,
  ),
  text: `Hi {{username}},

Your account was just signed in to from a new device or place.

When:       {{when at}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this was you, there is nothing to do.

If this wasn't you, sign that session out and change your password:
{{link sessionsLink}}
`,
  links: ['sessionsLink'],
  sample: { username: 'sample', at: '2026-01-01T00:00:00Z', ip: '127.0.0.1', userAgent: 'ua', sessionsLink: 'http://localhost/s' },
});
