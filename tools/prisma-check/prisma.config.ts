// Config for the Prisma 6.19.3 CLI and its WebAssembly schema engine (`engine: 'js'`), the one
// schema engine that runs offline here. Run it through run.mjs, which sets PRISMA_CHECK_* below.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

/** Connection parts, never a connection string: see connectToShadowDb. */
type PgParams = { host: string; port: number; user: string; password?: string; database: string };

function params(): PgParams {
  const raw = process.env.PRISMA_CHECK_PG;
  if (!raw) throw new Error('PRISMA_CHECK_PG is unset: run tools/prisma-check/run.mjs');
  return JSON.parse(raw) as PgParams;
}

// The Prisma 6 engine wants `url` in the datasource and an engineType="client" generator so it
// never asks for a native engine; schema.prisma stays in Prisma 7 form, so derive a copy.
function deriveSchema(): string {
  const source = readFileSync(path.join(root, 'prisma/schema.prisma'), 'utf8');
  const derived = source
    .replace(/generator\s+\w+\s*\{[^}]*\}/g, 'generator client {\n  provider   = "prisma-client-js"\n  engineType = "client"\n}')
    .replace(/datasource\s+db\s*\{([^}]*)\}/, (_m, body: string) =>
      `datasource db {${body.trimEnd()}\n  url      = env("DATABASE_URL")\n}`);
  const out = path.join(here, '.tmp/schema.prisma');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, derived);
  return out;
}

const TEXT_OID = 25;
// adapter-pg 6 cannot read columns of type "char" (18) or name (19), which the engine's
// catalogue queries return (prisma/orm#27403); their text form is what it needs.
const UNREADABLE_OIDS = new Set([18, 19]);

function retype(result: pg.QueryResult): pg.QueryResult {
  for (const field of result.fields ?? []) {
    if (UNREADABLE_OIDS.has(field.dataTypeID)) field.dataTypeID = TEXT_OID;
  }
  return result;
}

class RetypingClient extends pg.Client {
  // Both call shapes occur: the pool passes a callback, adapter transactions await a promise.
  override query(...args: unknown[]): never {
    const last = args.at(-1);
    const callback = typeof last === 'function' ? (args.pop() as (e: unknown, r?: unknown) => void) : undefined;
    // pg's overloads cannot be re-forwarded generically; the runtime signature is (config, values).
    const promise = (super.query as (...a: unknown[]) => Promise<pg.QueryResult>)(...args).then(retype);
    if (!callback) return promise as never;
    promise.then((r) => callback(null, r), (e: unknown) => callback(e));
    return undefined as never;
  }
}

class CheckedPrismaPg extends PrismaPg {
  constructor(private readonly conn: PgParams) {
    // Ending the pool on dispose lets the CLI exit at once instead of after pg's idle timeout.
    super(new pg.Pool({ ...conn, Client: RetypingClient, max: 2, allowExitOnIdle: true }), { disposeExternalPool: true });
  }

  // Upstream spreads its config into a new pool with another `database`, which a connection
  // string silently overrides (the "shadow" was the main database), and drops the shadow while
  // its pool still holds connections.
  override async connectToShadowDb() {
    const database = `prisma_check_shadow_${randomUUID().replaceAll('-', '')}`;
    await adminQuery(this.conn, `CREATE DATABASE "${database}"`);
    const pool = new pg.Pool({ ...this.conn, database, Client: RetypingClient, max: 2, allowExitOnIdle: true });
    const adapter = await new PrismaPg(pool).connect();
    const release = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await release();
      await pool.end();
      await adminQuery(this.conn, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    };
    return adapter;
  }
}

async function adminQuery(conn: PgParams, sql: string): Promise<void> {
  const client = new pg.Client(conn);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: deriveSchema(),
  migrations: { path: path.join(root, 'prisma/migrations') },
  adapter: async () => new CheckedPrismaPg(params()),
});
