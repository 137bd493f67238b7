import { button, layout, P, SMALL } from '../../infra/mail/layout.js';
import { defineTemplate } from '../../infra/mail/render.js';

declare module '../../infra/mail/render.js' {
  interface TemplateData {
    'verify-email': { username: string; link: string; expiresInHours: number };
  }
}

/** Sent at sign-up and on a resend: the link that verifies the address. */
export const verifyEmailTemplate = defineTemplate({
  name: 'verify-email',
  subject: 'Verify your email address',
  html: layout(
    'Verify your email address',
    `<p style="${P}">Hi {{username}},</p>
<p style="${P}">Please confirm that this is your email address to finish setting up your account.</p>
${button('link', 'Verify email address')}
<p style="${SMALL}">This link expires in {{plural expiresInHours "hour"}} and works once.</p>`,
    `<p style="${SMALL}">If you did not create an account, you can ignore this email: nothing happens without a click.</p>`,
  ),
  text: `Hi {{username}},

Please confirm that this is your email address to finish setting up your account:

{{link link}}

This link expires in {{plural expiresInHours "hour"}} and works once.

If you did not create an account, you can ignore this email: nothing happens without a click.
`,
  links: ['link'],
  sample: { username: 'sample', link: 'http://localhost/auth/verify-email?token=sample', expiresInHours: 24 },
});
