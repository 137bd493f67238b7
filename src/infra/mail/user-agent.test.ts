import { describe, expect, it } from 'vitest';
import { describeUserAgent } from './user-agent.js';

describe('describeUserAgent', () => {
  it.each([
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Firefox 128 on Windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0', 'Microsoft Edge 126 on macOS'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1', 'Safari 17 on iOS'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36', 'Chrome 126 on Android'],
    ['Mozilla/5.0 (X11; Linux x86_64)', 'an unknown browser on Linux'],
    ['curl/8.5.0', 'an unknown browser'],
    [null, 'unknown'],
    ['', 'unknown'],
  ])('%s -> %s', (ua, expected) => {
    expect(describeUserAgent(ua)).toBe(expected);
  });

  it('never echoes the header: only names from the parser tables and a numeric version', () => {
    for (const ua of [
      'Click https://evil.example/phish <b>now</b>/1.0 (x)',
      'Evil Browser/99 (Visit https://evil.example)',
      'Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0 <a href="https://evil.example/x">Click</a>',
      `Firefox/${'9'.repeat(40)}.evil.example`,
    ]) {
      const shown = describeUserAgent(ua);
      expect(shown).not.toMatch(/evil|click|https?:|[<>"/]/i);
      expect(shown).toMatch(/^(an unknown browser|[A-Za-z][\w .-]*?)(?: \d{1,4})?(?: on [A-Za-z][\w .-]*)?$/);
    }
  });
});
