import Bowser, { BROWSER_MAP, OS_MAP } from 'bowser';

/**
 * What an email says about the device behind a request: "Firefox 128 on Windows", "Safari on iOS",
 * "an unknown browser on Linux", "an unknown browser" (or "unknown" when there was no User-Agent).
 *
 * The User-Agent header is the client's own text, so it is never shown: an attacker could otherwise
 * put a link or a fake instruction into a security email sent to their victim. It is parsed with
 * bowser (MIT), and only names from bowser's own tables of browsers and systems are printed, with a
 * numeric major version: bowser's generic fallback, which echoes the header's first word, never shows.
 */
const KNOWN_BROWSERS: ReadonlySet<string> = new Set(Object.values(BROWSER_MAP));
const KNOWN_SYSTEMS: ReadonlySet<string> = new Set(Object.values(OS_MAP));

/** Longest header parsed (request metadata already bounds it; this keeps the parser's work small). */
const MAX_PARSED = 512;

export function describeUserAgent(userAgent: unknown): string {
  if (typeof userAgent !== 'string' || userAgent.trim() === '') return 'unknown';
  let browser = '';
  let version = '';
  let system = '';
  try {
    const parsed = Bowser.parse(userAgent.slice(0, MAX_PARSED));
    browser = parsed.browser.name ?? '';
    version = /^(\d{1,4})(?:\.|$)/.exec(parsed.browser.version ?? '')?.[1] ?? '';
    system = parsed.os.name ?? '';
  } catch {
    // An unparseable header is just an unknown browser.
  }
  const name = KNOWN_BROWSERS.has(browser) ? (version ? `${browser} ${version}` : browser) : 'an unknown browser';
  return KNOWN_SYSTEMS.has(system) ? `${name} on ${system}` : name;
}
