// vitest globalSetup: builds the migrated template database once per run, before any worker
// starts, so test files only clone it (createTestDatabase in src/test/db.ts).
import { dropLeftovers, ensureTemplate, startRun } from './db.js';

export default async function setup(): Promise<() => Promise<void>> {
  startRun();
  await dropLeftovers();
  await ensureTemplate();
  return async () => {
    await dropLeftovers({ ownRun: true });
  };
}
