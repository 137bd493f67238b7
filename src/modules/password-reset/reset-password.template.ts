import { button, layout, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'reset-password': { username: string; link: string; expiresInMinutes: number };
  }
}

/** The reset link, sent only to an address that has an account. */
export const resetPasswordTemplate = defineTemplate({
  name: 'reset-password',
  subject: 'Reset your password',
  html: layout(
    'Reset your password',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Someone asked to reset the password of your account. To choose a new password, open this link:</p>
${button('link', 'Choose a new password')}
<p style="${SMALL}">This link expires in {{plural expiresInMinutes "minute"}} and works once. Resetting your password signs you out everywhere.</p>`,
    `<p style="${SMALL}">If you did not ask for this, ignore this email: your password stays as it is.</p>`,
  ),
  text: `Hi {{username}},

Someone asked to reset the password of your account. To choose a new password, open this link:

{{link link}}

This link expires in {{plural expiresInMinutes "minute"}} and works once. Resetting your password signs you out everywhere.

If you did not ask for this, ignore this email: your password stays as it is.
`,
  links: ['link'],
  sample: { username: 'sample', link: 'http://localhost/reset-password?token=sample', expiresInMinutes: 30 },
});
