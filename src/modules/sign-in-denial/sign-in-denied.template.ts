import { button, layout, LINK, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'sign-in-denied': { username: string; at: string /* ISO */; sessionEnded: boolean; resetLink: string; sessionsLink: string };
  }
}

/** After "this wasn't me": what was done, and what the owner should do next (a new password first). */
export const signInDeniedTemplate = defineTemplate({
  name: 'sign-in-denied',
  subject: 'We signed out a device you did not recognise',
  html: layout(
    'We signed out a device you did not recognise',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">You told us on {{when at}} that a sign-in to your account was not you. {{#if sessionEnded}}We signed that device out.{{else}}That device had already been signed out.{{/if}}</p>
<p style="${P}">Whoever it was may know your password. Choose a new one now: this signs out every device, including any other the stranger may hold.</p>
${button('resetLink', 'Choose a new password')}
<p style="${P}">Then look at the devices signed in to your account, and consider turning on two-factor sign-in.</p>`,
    `<p style="${SMALL}">Devices signed in to your account: <a href="{{link sessionsLink}}" style="${LINK}">{{link sessionsLink}}</a></p>`,
  ),
  text: `Hi {{username}},

You told us on {{when at}} that a sign-in to your account was not you. {{#if sessionEnded}}We signed that device out.{{else}}That device had already been signed out.{{/if}}

Whoever it was may know your password. Choose a new one now: this signs out every device, including any other the stranger may hold.
{{link resetLink}}

Then look at the devices signed in to your account, and consider turning on two-factor sign-in:
{{link sessionsLink}}
`,
  links: ['resetLink', 'sessionsLink'],
  sample: { username: 'sample', at: '2026-01-01T00:00:00Z', sessionEnded: true, resetLink: 'http://localhost/forgot-password', sessionsLink: 'http://localhost/sessions' },
});
