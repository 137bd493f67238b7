import { button, layout, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'magic-link': { username: string; link: string; expiresInMinutes: number };
  }
}

/** The sign-in link, sent only to an address that has an account. */
export const magicLinkTemplate = defineTemplate({
  name: 'magic-link',
  subject: 'Your sign-in link',
  html: layout(
    'Your sign-in link',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Someone asked to sign in to your account with a link sent by email. To sign in, open this link:</p>
${button('link', 'Sign in')}
<p style="${SMALL}">This link expires in {{plural expiresInMinutes "minute"}} and works once. If two-factor sign-in is on, you will be asked for a code too.</p>`,
    `<p style="${SMALL}">If you did not ask for this, ignore this email: nobody can sign in without the link.</p>`,
  ),
  text: `Hi {{username}},

Someone asked to sign in to your account with a link sent by email. To sign in, open this link:
{{link link}}

This link expires in {{plural expiresInMinutes "minute"}} and works once. If two-factor sign-in is on, you will be asked for a code too.

If you did not ask for this, ignore this email: nobody can sign in without the link.
`,
  links: ['link'],
  sample: { username: 'sample', link: 'http://localhost/magic-link?token=sample', expiresInMinutes: 15 },
});
