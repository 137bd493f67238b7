import { button, details, layout, LINK, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'new-sign-in': { username: string; at: string /* ISO */; ip: string | null; userAgent: string | null; sessionsLink: string; denyLink: string };
  }
}

/** A sign-in from a device not seen lately, with a link that ends that very session ("this wasn't me"). */
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
<p style="${P}">If this was you, there is nothing to do. <strong>If this wasn't you</strong>, sign that session out now; we will then tell you how to secure your account:</p>
${button('denyLink', "This wasn't me")}
<p style="${SMALL}">This link works once, for 7 days, and signs out only that device.</p>`,
    `<p style="${SMALL}">To see every device signed in to your account: <a href="{{link sessionsLink}}" style="${LINK}">{{link sessionsLink}}</a></p>`,
  ),
  text: `Hi {{username}},

Your account was just signed in to from a new device or place.

When:       {{when at}}
IP address: {{orUnknown ip}}
Device:     {{device userAgent}}

If this was you, there is nothing to do.

If this wasn't you, sign that session out now; we will then tell you how to secure your account:
{{link denyLink}}

This link works once, for 7 days, and signs out only that device.

To see every device signed in to your account:
{{link sessionsLink}}
`,
  links: ['sessionsLink', 'denyLink'],
  sample: { username: 'sample', at: '2026-01-01T00:00:00Z', ip: '127.0.0.1', userAgent: 'ua', sessionsLink: 'http://localhost/s', denyLink: 'http://localhost/deny-sign-in?token=sample' },
});
