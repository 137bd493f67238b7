/**
 * The building blocks every email template shares. Email clients ignore <style> blocks and block remote
 * content: inline styles only, no images, no web fonts, a single-column table layout.
 */

export const FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;";
export const P = `margin:0 0 16px;${FONT}font-size:15px;line-height:1.5;color:#1f2328;`;
export const SMALL = `margin:0 0 12px;${FONT}font-size:13px;line-height:1.5;color:#57606a;`;
const BUTTON = `display:inline-block;padding:12px 20px;background:#1f6feb;color:#ffffff;${FONT}font-size:15px;font-weight:600;text-decoration:none;border-radius:6px;`;
export const LINK = 'color:#1f6feb;word-break:break-all;';

/** A call-to-action button, and the same link spelled out below it (`field` names a link variable). */
export const button = (field: string, label: string) =>
  `<p style="margin:0 0 20px;"><a href="{{link ${field}}}" style="${BUTTON}">${label}</a></p>
<p style="${SMALL}">If the button does not work, paste this link into your browser:<br><a href="{{link ${field}}}" style="${LINK}">{{link ${field}}}</a></p>`;

/** The page every email shares: the name, the body, a footer under a rule. */
export const layout = (title: string, body: string, footer: string) => `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${title}</title>
</head>
<body style="margin:0;padding:0;background:#f6f8fa;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f6f8fa;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:560px;background:#ffffff;border:1px solid #d0d7de;border-radius:8px;">
<tr><td style="padding:28px 28px 8px;">
<p style="margin:0 0 20px;${FONT}font-size:18px;font-weight:700;color:#1f2328;">Latchkey</p>
${body}
</td></tr>
<tr><td style="padding:8px 28px 24px;border-top:1px solid #d0d7de;">
${footer}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;

/** Labelled values in two columns (`expr` is a Handlebars expression such as `{{when at}}`). */
export const details = (rows: [label: string, expr: string][]) =>
  `<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:0 0 20px;${FONT}font-size:14px;color:#1f2328;">
${rows.map(([label, expr]) => `<tr><td style="padding:2px 16px 2px 0;color:#57606a;">${label}</td><td style="padding:2px 0;">${expr}</td></tr>`).join('\n')}
</table>`;
