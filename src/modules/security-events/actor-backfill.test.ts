import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { applyMigrations, defaultMigrationsDir } from '../../infra/db/migrate.js';
import { createEmptyDatabase } from '../../test/db.js';

const MIGRATION = '20261129235246_account_standing_role_and_event_actor';
const silent = { info: () => undefined };

/** The migration that adds `security_events.actor_id`, over events recorded before it. */
describe(`migration ${MIGRATION}`, () => {
  it('names the account as the actor of its own past events, and no one (the system) for lockouts, token reuse and an operator reset', async () => {
    const db = await createEmptyDatabase();
    const before = await mkdtemp(path.join(tmpdir(), 'latchkey-migrations-'));
    try {
      // Every migration before this one, applied first.
      for (const entry of await readdir(defaultMigrationsDir())) {
        if (entry < MIGRATION) await cp(path.join(defaultMigrationsDir(), entry), path.join(before, entry), { recursive: true });
      }
      await applyMigrations(db.url, silent, before);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string }>(`INSERT INTO users (username, email, password_hash, updated_at) VALUES ('old', 'old@example.com', 'x', now()) RETURNING id`);
        const userId = rows[0]!.id;
        await client.query(
          `INSERT INTO security_events (user_id, type, data) VALUES
             ($1, 'SIGNED_IN', NULL), ($1, 'MFA_DISABLED', NULL), ($1, 'ACCOUNT_LOCKED', '{"until": null}'),
             ($1, 'REFRESH_TOKEN_REUSED', '{"reason": "refresh_token_reused"}'), ($1, 'MFA_DISABLED', '{"by": "operator", "actor": "ops"}')`,
          [userId],
        );
        await applyMigrations(db.url, silent);
        const after = await client.query<{ type: string; by: string | null; actor_id: string | null }>(
          `SELECT type::text, data->>'by' AS by, actor_id::text FROM security_events ORDER BY type, by NULLS FIRST`,
        );
        expect(after.rows).toEqual([
          { type: 'ACCOUNT_LOCKED', by: null, actor_id: null },
          { type: 'MFA_DISABLED', by: null, actor_id: userId },
          { type: 'MFA_DISABLED', by: 'operator', actor_id: null },
          { type: 'REFRESH_TOKEN_REUSED', by: null, actor_id: null },
          { type: 'SIGNED_IN', by: null, actor_id: userId },
        ]);
      } finally {
        await client.end();
      }
    } finally {
      await rm(before, { recursive: true, force: true });
      await db.drop();
    }
  });
});
