import type { Config } from '../../infra/config.js';
import type { Feature } from '../feature.js';
import { consoleRoutes } from './console.routes.js';

/** The account console at `/account` (ACCOUNT_CONSOLE): the pages behind every emailed link, and the live security feed. */
export const consoleModule: Feature<{ config: Config }> = {
  name: 'console',
  rootRoutes: (w) => (w.config.http.accountConsole ? [consoleRoutes({ reloadEachRequest: !w.config.isProduction })] : []),
};
