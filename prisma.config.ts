// Prisma 7 CLI configuration. Only `prisma generate` is used with it here: the Prisma 7 CLI
// needs a native schema engine that cannot be downloaded offline, so migrations are checked by
// tools/prisma-check (Prisma 6 WebAssembly engine) and applied by src/infra/db/migrate.ts.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  // Optional so that `prisma generate` (run by postinstall) works without a database.
  ...(process.env.DATABASE_URL ? { datasource: { url: process.env.DATABASE_URL } } : {}),
});
