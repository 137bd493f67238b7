import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// The architecture's boundaries (README "Architecture"), as import rules: a breach fails `npm run lint`.
// Specifiers are matched as written (`../../infra/db/index.js`); tests are exempt (they reach in on purpose).
const rule = (regex, message) => ({ regex, message });
const ENTRY = rule('(^|/)(app|composition|main|worker)\\.js$', 'Only the entry points and the composition root wire the app: import what you need from its own module.');
const MODULES = rule('^\\.{1,2}/(.*/)?modules/', 'Shared layers know no feature: let the composition root hand a module in.');
const GRAPHQL_CODE = rule('^\\.{1,2}/(.*/)?graphql/', 'Only doors and the app speak GraphQL.');
const HTTP_CODE = rule('^\\.{1,2}/(.*/)?http/', 'Only doors and the app speak HTTP.');
const TRANSPORT = rule(
  '^(fastify|@fastify/.*|find-my-way|type-graphql|graphql|graphql-ws(/.*)?|ws|@apollo/.*|@as-integrations/.*)$|^\\.{1,2}/(.*/)?(graphql|http)/',
  'Rules know nothing of HTTP, GraphQL or WebSocket: take a RequestMeta or Principal (src/core/request.ts) and let the doors translate.',
);
const PRISMA = rule(
  '^\\.{1,2}/(.*/)?infra/db(/(?!errors\\.js$|enums\\.js$).*)?$|(^|/)generated/|^@prisma/',
  'Only repositories touch PostgreSQL: call a *.repository.ts method, passing the Tx handle you were given.',
);
const OTHER_DOORS = rule(
  '^\\.\\./[^/]+/[^/]+\\.(resolver|routes|module)\\.js$',
  "A module's doors and manifest are its own: share a service, an inputs type or a presenter, never another module's door.",
);
const LEAVE_CORE = rule('^\\.\\./', 'src/core is the vocabulary every layer shares: it imports nothing of the project.');

const boundary = (files, rules, ignores = []) => ({
  files,
  ignores: ['**/*.test.ts', 'src/test/**', ...ignores],
  rules: { 'no-restricted-imports': ['error', { patterns: rules }] },
});

/** A module's doors (GraphQL, REST, their types and guards) and its manifest: transport-aware, never Prisma. */
const DOORS = [
  'src/modules/**/*.resolver.ts',
  'src/modules/**/*.routes.ts',
  // A route's OpenAPI declaration (src/http/openapi.ts), when it has a file of its own.
  'src/modules/**/*.api.ts',
  'src/modules/**/*.inputs.ts',
  'src/modules/**/*.guard.ts',
  'src/modules/**/*.module.ts',
  'src/modules/feature.ts',
  'src/modules/health/metrics-endpoint.ts',
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/generated/', 'coverage/', '.data/', 'tools/prisma-check/node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: globals.node },
  },
  {
    // The account console runs in the browser, served as written (no build).
    files: ['console/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  boundary(['src/core/**/*.ts'], [LEAVE_CORE, TRANSPORT, PRISMA]),
  boundary(['src/infra/**/*.ts'], [ENTRY, MODULES, GRAPHQL_CODE, HTTP_CODE]),
  boundary(['src/http/**/*.ts'], [ENTRY, MODULES, GRAPHQL_CODE, PRISMA]),
  // schema-cli.ts is an entry point (npm run schema:emit): it reads the module list from the composition root.
  boundary(['src/graphql/**/*.ts'], [ENTRY, MODULES, HTTP_CODE, PRISMA], ['src/graphql/schema-cli.ts']),
  boundary(DOORS, [ENTRY, OTHER_DOORS, PRISMA]),
  boundary(['src/modules/**/*.repository.ts'], [ENTRY, OTHER_DOORS, TRANSPORT]),
  boundary(['src/modules/**/*.ts'], [ENTRY, OTHER_DOORS, TRANSPORT, PRISMA], [...DOORS, 'src/modules/**/*.repository.ts']),
);
