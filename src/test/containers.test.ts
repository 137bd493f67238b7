// `npm run containers:check` (scripts/check-containers.mjs) validates the container files without a
// Docker engine. These tests run it on a good temporary copy of those files and on copies broken in
// one way each, and assert the exit status and the message that names the problem, so every check
// is shown to fail when it should.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(repo, 'scripts', 'check-containers.mjs');

const CONTAINER_FILES = ['Dockerfile', '.dockerignore', 'docker-compose.yml', '.env.example'];
/** The one source of the variables the app reads (the config parser), and the reference that documents them. */
const SETTINGS_FILES = ['src/infra/config-env.ts', 'docs/api.md'];

/** The repository's `start:prod` (its node flags are the image's NODE_OPTIONS, which the check holds equal). */
const START_PROD = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start:prod'];

/** Minimal stand-ins for what the Dockerfile copies, so a fixture is independent of the app's code. */
const STUBS: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'fixture', private: true, scripts: { build: 'tsc -p tsconfig.build.json', postinstall: 'true', 'start:prod': START_PROD } }),
  'package-lock.json': '{}',
  'tsconfig.json': '{}',
  'tsconfig.build.json': '{}',
  'prisma.config.ts': 'export default {};\n',
  'prisma/schema.prisma': '',
  'prisma/migrations/migration_lock.toml': '',
  'src/main.ts': 'export {};\n',
  'src/worker.ts': 'export {};\n',
  'console/index.html': '',
};

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

type Edit = (dir: string) => void;

/** A temporary copy of the repository's container files (+ stubs), with `edit` applied. */
function fixture(edit?: Edit): string {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-containers-'));
  made.push(dir);
  for (const f of [...CONTAINER_FILES, ...SETTINGS_FILES]) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), readFileSync(join(repo, f)));
  }
  for (const [f, content] of Object.entries(STUBS)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), content);
  }
  edit?.(dir);
  return dir;
}

/** Replaces `from` (which must occur) with `to` in `file` of the fixture. */
const replace =
  (file: string, from: string, to: string): Edit =>
  (dir) => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(from)) throw new Error(`fixture edit: ${JSON.stringify(from)} not found in ${file}`);
    writeFileSync(path, text.replace(from, to));
  };
/** Removes from `file` of the fixture every line that starts with `prefix` (at least one must). */
const dropLines =
  (file: string, prefix: string): Edit =>
  (dir) => {
    const path = join(dir, file);
    const lines = readFileSync(path, 'utf8').split('\n');
    const kept = lines.filter((l) => !l.startsWith(prefix));
    if (kept.length === lines.length) throw new Error(`fixture edit: no line of ${file} starts with ${JSON.stringify(prefix)}`);
    writeFileSync(path, kept.join('\n'));
  };
const append =
  (file: string, text: string): Edit =>
  (dir) => {
    writeFileSync(join(dir, file), readFileSync(join(dir, file), 'utf8') + text);
  };

interface Run {
  code: number;
  output: string;
}

function run(root: string): Promise<Run> {
  const args = [script, '--root', root];
  return new Promise((done) => {
    execFile(process.execPath, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({ code, output: `${stdout}${stderr}` });
    });
  });
}

describe('containers:check', () => {
  it('passes on the repository itself', async () => {
    const r = await run(repo);
    expect(r.output).toContain('containers:check: OK');
    expect(r.code).toBe(0);
  });

  it('passes on a faithful copy of the container files', async () => {
    const r = await run(fixture());
    expect(r.output).toContain('containers:check: OK');
    expect(r.code).toBe(0);
  });

  const broken: [string, Edit, RegExp][] = [
    // (a) docker-compose.yml against the Compose Specification, plus references, dclint and policy
    ['compose: unknown key', replace('docker-compose.yml', 'stop_grace_period: 15s', 'stop_grace_periods: 15s'), /unknown key "stop_grace_periods"/],
    ['compose: wrong type', replace('docker-compose.yml', 'replicas: 2', 'replicas: [2]'), /Compose Specification: \/services\/api\/deploy\/replicas/],
    ['compose: invalid YAML', replace('docker-compose.yml', 'services:\n', 'services:\n  broken: [\n'), /YAML/],
    ['compose: bad interpolation', replace('docker-compose.yml', '${LOG_LEVEL:-info}', '${LOG_LEVEL:-info'), /unclosed/],
    ['compose: replicas on a fixed host port', replace('docker-compose.yml', '    expose:\n      - "4000"\n', '    ports:\n      - "127.0.0.1:4001:4000"\n'), /replicas but publishes fixed host port 4001/],
    ['compose: dependency without healthcheck', replace('docker-compose.yml', 'test: ["CMD-SHELL", "redis-cli ping | grep -q PONG"]', 'disable: true'), /waits for "redis" to be healthy, but "redis" has no healthcheck/],
    ['compose: undeclared volume', replace('docker-compose.yml', '  redisdata:\n', ''), /volume "redisdata", not declared/],
    ['compose: port on every interface (dclint)', replace('docker-compose.yml', '"127.0.0.1:4000:4000"', '"4000:4000"'), /dclint no-unbound-port-interfaces/],
    ['compose: no init', replace('docker-compose.yml', 'init: true', 'init: false'), /set init: true/],
    ['compose: short grace period', replace('docker-compose.yml', 'stop_grace_period: 15s', 'stop_grace_period: 5s'), /stop_grace_period must exceed/],
    // (b) Dockerfile: dockerfile-utils lint and policy
    ['Dockerfile: lint error (duration without unit)', replace('Dockerfile', '--interval=15s', '--interval=15'), /dockerfile-utils/],
    ['Dockerfile: unknown instruction', replace('Dockerfile', 'EXPOSE 4000', 'EXPOSES 4000'), /dockerfile-utils/],
    ['Dockerfile: runs as root', replace('Dockerfile', 'USER node\n', ''), /runs as root/],
    ['Dockerfile: shell-form CMD', replace('Dockerfile', 'CMD ["node", "dist/main.js"]', 'CMD node dist/main.js'), /exec \(JSON\) form/],
    ['Dockerfile: unpinned base image', replace('Dockerfile', 'FROM node:20-bookworm-slim AS base', 'FROM node AS base'), /pin the base image/],
    ['Dockerfile: dev dependencies in the final image', replace('Dockerfile', '--omit=dev --omit=optional ', ''), /installs dev dependencies/],
    ['Dockerfile: healthcheck not on /readyz', replace('Dockerfile', "/readyz',{signal", "/healthz',{signal"), /HEALTHCHECK must probe \/readyz/],
    ['Dockerfile: no NODE_ENV=production', replace('Dockerfile', 'ENV NODE_ENV=production \\\n    PORT=4000', 'ENV PORT=4000'), /NODE_ENV=production/],
    ['Dockerfile: NODE_OPTIONS not the flags of start:prod', replace('Dockerfile', 'NODE_OPTIONS="--max-old-space-size=1024', 'NODE_OPTIONS="--max-old-space-size=4096'), /ENV NODE_OPTIONS .* must equal the flags of package\.json's start:prod/],
    ['Dockerfile: npm script that does not exist', (dir) => writeFileSync(join(dir, 'package.json'), JSON.stringify({ scripts: { build: 'tsc' } })), /no script "postinstall"/],
    ['.dockerignore: lets .env through', replace('.dockerignore', '\n.env\n', '\n'), /must exclude \.env/],
    ['.dockerignore: excludes what the build copies', append('.dockerignore', 'src\n'), /COPY src: excluded by \.dockerignore/],
    // (c) environment names: compose, .env.example, Dockerfile vs the variables src/infra/config-env.ts reads
    ['env: compose lacks a CONTAINER_ENV variable', replace('docker-compose.yml', '  PASSWORD_MIN_LENGTH: ${PASSWORD_MIN_LENGTH:-}\n', ''), /lacks PASSWORD_MIN_LENGTH/],
    ['env: compose passes an unknown variable', replace('docker-compose.yml', '  NODE_ENV: production\n', '  NODE_ENV: production\n  FOO_BAR: "1"\n'), /sets FOO_BAR, not a setting of src\/infra\/config-env\.ts/],
    ['env: compose reads an unknown variable', replace('docker-compose.yml', '${LOG_LEVEL:-info}', '${LOGLEVEL:-info}'), /\$\{LOGLEVEL\} is not a setting of src\/infra\/config-env\.ts/],
    ['env: required secret made optional', replace('docker-compose.yml', '${APP_SECRET:?', '${APP_SECRET:-'), /APP_SECRET must be required/],
    ['env: .env.example lacks a variable', replace('.env.example', '# BCRYPT_COST=12\n', ''), /\.env\.example: lacks BCRYPT_COST/],
    ['env: .env.example has an unknown variable', append('.env.example', 'SOMETHING_ELSE=1\n'), /SOMETHING_ELSE is not a setting of src\/infra\/config-env\.ts/],
    ['env: .env.example commits a secret', replace('.env.example', 'APP_SECRET=\n', 'APP_SECRET=not-so-secret\n'), /leave secrets empty/],
    ['env: JWK private key committed', replace('.env.example', 'JWT_PRIVATE_KEYS=\n', `JWT_PRIVATE_KEYS='{"keys":[{"kty":"EC","d":"abcdefghijklmnopqrstuvwxyz0123"}]}'\n`), /JWK private key/],
    ['env: Dockerfile sets an unknown variable', replace('Dockerfile', '    PORT=4000', '    PORT=4000 \\\n    FOO_BAR=1'), /ENV FOO_BAR, not a setting of src\/infra\/config-env\.ts/],
    // (d) entry points exist for what the Dockerfile and compose run
    ['entry: source of dist/worker.js missing', (dir) => unlinkSync(join(dir, 'src', 'worker.ts')), /src\/worker\.ts .*does not exist/],
    ['entry: compose runs a file nothing builds', replace('docker-compose.yml', 'dist/worker.js', 'dist/wrker.js'), /src\/wrker\.ts .*does not exist/],
    ['entry: Dockerfile CMD runs a file nothing builds', replace('Dockerfile', 'CMD ["node", "dist/main.js"]', 'CMD ["node", "dist/server.js"]'), /src\/server\.ts .*does not exist/],
  ];

  it.concurrent.each(broken)('fails on a broken copy: %s', async (_name, edit, message) => {
    const r = await run(fixture(edit));
    expect(r.output).toMatch(message);
    expect(r.code).toBe(1);
  });

  // (e) the variables the app reads are one list, the parser's: the reference and the container files follow it
  it('fails when the config parser reads a variable docs/api.md does not document', async () => {
    const r = await run(fixture(replace('src/infra/config-env.ts', "  NODE_ENV: z.enum(", "  NEW_SETTING: z.string().optional(),\n  NODE_ENV: z.enum(")));
    expect(r.output).toMatch(/docs\/api\.md: lacks NEW_SETTING, which src\/infra\/config-env\.ts:\d+ reads/);
    expect(r.code).toBe(1);
  });

  it('fails when docs/api.md documents a variable the config parser does not read', async () => {
    const r = await run(fixture(replace('docs/api.md', '| `PORT` |', '| `OLD_SETTING` | gone | | |\n| `PORT` |')));
    expect(r.output).toMatch(/docs\/api\.md:\d+: lists OLD_SETTING, which src\/infra\/config-env\.ts does not read/);
    expect(r.code).toBe(1);
  });

  it('fails when the config parser stops reading a variable the container files pass', async () => {
    const r = await run(fixture(dropLines('src/infra/config-env.ts', '  PASSWORD_MIN_LENGTH:')));
    expect(r.output).toMatch(/sets PASSWORD_MIN_LENGTH, not a setting of src\/infra\/config-env\.ts/);
    expect(r.output).toMatch(/\.env\.example:\d+: PASSWORD_MIN_LENGTH is not a setting/);
    expect(r.output).toMatch(/CONTAINER_ENV names PASSWORD_MIN_LENGTH, which src\/infra\/config-env\.ts does not read/);
    expect(r.output).toMatch(/docs\/api\.md:\d+: lists PASSWORD_MIN_LENGTH/);
    expect(r.code).toBe(1);
  });

  it('fails loudly when the variables cannot be read from the config parser', async () => {
    const renamed = await run(fixture(replace('src/infra/config-env.ts', 'const envSchema = z.object({', 'const schema = z.object({')));
    expect(renamed.output).toMatch(/src\/infra\/config-env\.ts: no line `const envSchema = z\.object\(\{`/);
    expect(renamed.code).toBe(1);
    const missing = await run(fixture((dir) => unlinkSync(join(dir, 'src', 'infra', 'config-env.ts'))));
    expect(missing.output).toMatch(/src\/infra\/config-env\.ts: missing/);
    expect(missing.code).toBe(1);
  });
});
