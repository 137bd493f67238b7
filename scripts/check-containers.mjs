#!/usr/bin/env node
// Checks the container files without a Docker engine (none is available in this workplace or CI):
//
//   1. docker-compose.yml: YAML, the official Compose Specification JSON schema (the copy shipped in
//      the `dclint` npm package, validated with ajv), interpolation syntax, references between
//      services/volumes/configs, dclint's non-stylistic rules, and this project's policy (init,
//      grace period, healthchecks, replicas without fixed host ports).
//   2. Dockerfile: `dockerfile-utils` (the linter behind the VS Code Docker extension) for syntax and
//      instruction errors, plus hadolint-style policy checks on the parsed AST (`dockerfile-ast`):
//      pinned base images, non-root USER, NODE_ENV=production, production-only node_modules, exec-form
//      CMD, HEALTHCHECK on /readyz without curl, STOPSIGNAL, COPY sources present and not ignored.
//   3. Environment names, from one source: the variables the config parser reads (the keys of
//      `envSchema` in src/infra/config-env.ts). docs/api.md's Configuration table documents exactly those;
//      docker-compose.yml, .env.example and the Dockerfile name no others, and compose and
//      .env.example carry every one of CONTAINER_ENV; required secrets are required; no secret values
//      are committed.
//   4. Entry points: every `node dist/X.js` named by the Dockerfile or docker-compose.yml has its
//      source src/X.ts (what `npm run build` compiles to dist/X.js), and every `npm run S` in the
//      Dockerfile is a script in package.json.
//
// Usage: node scripts/check-containers.mjs [--root DIR]
// Exit status: 0 no problem, 1 one or more problems (each printed on its own line), 2 bad usage.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Ajv } from 'ajv';
import { DCLinter } from 'dclint';
import { DockerfileParser } from 'dockerfile-ast';
import { validate as lintDockerfile, ValidationSeverity } from 'dockerfile-utils';
import { parseDocument } from 'yaml';

const require = createRequire(import.meta.url);
const scriptDir = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------------
// Configuration

/** The config parser: the keys of its `envSchema` object are every variable the app reads. */
const CONFIG_SOURCE = 'src/infra/config-env.ts';
/** The reference whose "## Configuration" table documents every one of them, and nothing else. */
const CONFIG_DOCS = 'docs/api.md';
/**
 * What a deployment typically sets, so docker-compose.yml passes each to the app services (set, or
 * listed commented out as `# NAME: value`) and .env.example lists each (set, or commented out). Every
 * name must be one the parser reads; the parser's other variables (limits, lockout, tuning) may
 * appear in those files but need not.
 */
const CONTAINER_ENV = [
  'NODE_ENV', 'PORT', 'HOST', 'PUBLIC_URL', 'APP_URL', 'DATABASE_URL', 'REDIS_URL', 'RESEND_API_KEY',
  'RESEND_BASE_URL', 'EMAIL_FROM', 'JWT_PRIVATE_KEYS', 'ACCESS_TOKEN_TTL', 'REFRESH_TOKEN_TTL',
  'APP_SECRET', 'APP_SECRET_PREVIOUS', 'BCRYPT_COST', 'PASSWORD_MIN_LENGTH', 'CORS_ORIGINS',
  'TLS_CERT_FILE', 'TLS_KEY_FILE', 'TRUST_PROXY', 'LOG_LEVEL', 'METRICS_PORT', 'METRICS_TOKEN',
];
/** Read by docker-compose.yml itself (interpolation) for the bundled containers, never by the app. */
const COMPOSE_ONLY = ['POSTGRES_PASSWORD'];
/** Must be `${NAME:?message}` in compose: the app refuses to run in production without them. */
const REQUIRED_SECRETS = ['APP_SECRET', 'JWT_PRIVATE_KEYS', 'RESEND_API_KEY'];
/** Names whose value is a secret: .env.example must leave them empty. */
const SECRET_NAME = /(SECRET|PASSWORD|PRIVATE|TOKEN(?!_TTL)|API_KEY)/;
/** Entries .dockerignore must have so local state and secrets never reach the build context. */
const DOCKERIGNORE_REQUIRED = ['node_modules', 'dist', '.data', 'backups', '.git', '.env', 'coverage'];
/** dclint rules that only concern key order: style, not correctness. */
const DCLINT_STYLE_RULES = [
  'service-keys-order', 'services-alphabetical-order', 'top-level-properties-order',
  'service-dependencies-alphabetical-order', 'service-ports-alphabetical-order',
];
const APP_PORT = '4000';

// ---------------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const opts = { root: resolve(scriptDir, '..') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--root' && argv[i + 1]) opts.root = resolve(argv[++i]);
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: node scripts/check-containers.mjs [--root DIR]');
      process.exit(0);
    } else {
      console.error(`check-containers: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const root = opts.root;
const problems = [];
const notes = [];

/** Records one problem: `file:line` (line optional) and a sentence saying what to fix. */
function problem(area, file, line, message) {
  problems.push({ area, where: line ? `${file}:${line}` : file, message });
}

function readText(rel) {
  const path = join(root, rel);
  if (!existsSync(path)) return undefined;
  return readFileSync(path, 'utf8');
}

function lineOf(text, needle) {
  const i = text.indexOf(needle);
  return i < 0 ? undefined : text.slice(0, i).split('\n').length;
}

// ---------------------------------------------------------------------------------------------------
// Settings: what the config parser reads, and what the reference documents

/**
 * The keys of `const envSchema = z.object({ ... })` in the config parser, read from its source (this
 * script runs without a TypeScript loader). The object's keys are the lines indented by two spaces
 * that start `NAME:`; the object ends at the first line that is `});`. Anything else (the schema
 * renamed, reformatted beyond recognition) is a problem, never an empty list.
 */
function configNames() {
  const text = readText(CONFIG_SOURCE);
  if (text === undefined) {
    problem('env', CONFIG_SOURCE, undefined, 'missing: cannot tell which variables the app reads');
    return undefined;
  }
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^(?:export\s+)?const envSchema = z\.object\(\{\s*$/.test(l));
  if (start < 0) {
    problem('env', CONFIG_SOURCE, undefined, 'no line `const envSchema = z.object({`: cannot read the variables the app reads');
    return undefined;
  }
  const names = new Map(); // name -> line
  let closed = false;
  for (let i = start + 1; i < lines.length; i++) {
    if (/^\}\);?\s*$/.test(lines[i])) {
      closed = true;
      break;
    }
    const m = /^ {2}([A-Z][A-Z0-9_]*)\s*:/.exec(lines[i]);
    if (m) names.set(m[1], i + 1);
  }
  if (!closed || names.size === 0) {
    problem('env', CONFIG_SOURCE, start + 1, 'could not read the keys of envSchema (expected `  NAME: ...,` lines ending with `});`)');
    return undefined;
  }
  return names;
}

/** The variables named (in backticks) in the first column of the table under "## Configuration". */
function documentedNames() {
  const text = readText(CONFIG_DOCS);
  if (text === undefined) {
    problem('env', CONFIG_DOCS, undefined, `missing: every variable ${CONFIG_SOURCE} reads must be documented there`);
    return undefined;
  }
  const start = text.search(/^## Configuration\s*$/m);
  if (start < 0) {
    problem('env', CONFIG_DOCS, undefined, 'no "## Configuration" section');
    return undefined;
  }
  const rest = text.slice(start + 3);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const firstLine = text.slice(0, start).split('\n').length;
  const names = new Map(); // name -> line
  section.split('\n').forEach((row, idx) => {
    if (!row.startsWith('|')) return;
    const firstCell = row.split('|')[1] ?? '';
    for (const m of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) if (!names.has(m[1])) names.set(m[1], firstLine + idx);
  });
  if (names.size === 0) {
    problem('env', CONFIG_DOCS, firstLine, 'no variables in the Configuration table');
    return undefined;
  }
  return names;
}

/**
 * The one list of variables the app reads (the parser's), after checking that the reference documents
 * exactly those and that CONTAINER_ENV names only those. Undefined when the parser cannot be read.
 */
function settings() {
  const read = configNames();
  const documented = documentedNames();
  if (read && documented) {
    for (const [n, line] of read) {
      if (!documented.has(n)) problem('env', CONFIG_DOCS, undefined, `lacks ${n}, which ${CONFIG_SOURCE}:${line} reads: add a row to the Configuration table`);
    }
    for (const [n, line] of documented) {
      if (!read.has(n)) problem('env', CONFIG_DOCS, line, `lists ${n}, which ${CONFIG_SOURCE} does not read: remove the row (or add the variable to envSchema)`);
    }
  }
  if (!read) return undefined;
  for (const n of CONTAINER_ENV) {
    if (!read.has(n)) problem('env', 'scripts/check-containers.mjs', undefined, `CONTAINER_ENV names ${n}, which ${CONFIG_SOURCE} does not read`);
  }
  notes.push(`settings: ${read.size} variables read by ${CONFIG_SOURCE}, ${CONTAINER_ENV.length} of them required in ${COMPOSE} and .env.example`);
  return new Set(read.keys());
}

// ---------------------------------------------------------------------------------------------------
// Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err},
// ${NAME:+alt}, ${NAME+alt}, $NAME, $$ (a literal $). Defaults may nest further expressions.

function scanInterpolation(value, onVar, onError) {
  let i = 0;
  while (i < value.length) {
    if (value[i] !== '$') { i++; continue; }
    const next = value[i + 1];
    if (next === '$') { i += 2; continue; }
    if (next === '{') {
      let depth = 1;
      let j = i + 2;
      for (; j < value.length && depth > 0; j++) {
        if (value[j] === '{') depth++;
        else if (value[j] === '}') depth--;
      }
      if (depth > 0) { onError(`unclosed "\${" in ${JSON.stringify(value)}`); return; }
      const inner = value.slice(i + 2, j - 1);
      const m = /^([_A-Za-z][_A-Za-z0-9]*)(?:(:?[-?+])([\s\S]*))?$/.exec(inner);
      if (!m) onError(`invalid interpolation "\${${inner}}"`);
      else {
        onVar(m[1], m[2] ?? '');
        if (m[3]) scanInterpolation(m[3], onVar, onError);
      }
      i = j;
      continue;
    }
    const m = /^[_A-Za-z][_A-Za-z0-9]*/.exec(value.slice(i + 1));
    if (m) { onVar(m[0], ''); i += 1 + m[0].length; continue; }
    onError(`lone "$" in ${JSON.stringify(value)} (write $$ for a literal $)`);
    i++;
  }
}

function walkStrings(node, fn, path = '') {
  if (typeof node === 'string') fn(node, path);
  else if (Array.isArray(node)) node.forEach((v, k) => walkStrings(v, fn, `${path}/${k}`));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) walkStrings(v, fn, `${path}/${k}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// 1. docker-compose.yml

const COMPOSE = 'docker-compose.yml';

function checkCompose(ctx) {
  const text = readText(COMPOSE);
  if (text === undefined) {
    problem('compose', COMPOSE, undefined, 'missing');
    return undefined;
  }
  const doc = parseDocument(text, { merge: true, prettyErrors: true, uniqueKeys: true });
  for (const err of doc.errors) problem('compose', COMPOSE, err.linePos?.[0]?.line, `YAML: ${err.message.split('\n')[0]}`);
  for (const warn of doc.warnings) problem('compose', COMPOSE, warn.linePos?.[0]?.line, `YAML: ${warn.message.split('\n')[0]}`);
  if (doc.errors.length) return undefined;
  const compose = doc.toJS({ maxAliasCount: 100 });
  if (!compose || typeof compose !== 'object') {
    problem('compose', COMPOSE, undefined, 'not a YAML mapping');
    return undefined;
  }

  // Official Compose Specification schema, as shipped by dclint (never fetched from the web).
  const dclintDir = dirname(require.resolve('dclint/package.json'));
  const schema = JSON.parse(readFileSync(join(dclintDir, 'schemas', 'compose.schema.json'), 'utf8'));
  // ajv bundles the draft-07 meta-schema under its http:// id; the spec's https:// id would not resolve.
  delete schema.$schema;
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
  const validateCompose = ajv.compile(schema);
  if (!validateCompose(compose)) {
    // oneOf/anyOf failures repeat what their branches already said; keep the specific messages.
    const seen = new Set();
    const specific = validateCompose.errors.filter((e) => !['oneOf', 'anyOf', 'if'].includes(e.keyword));
    for (const e of (specific.length ? specific : validateCompose.errors)) {
      const detail = e.keyword === 'additionalProperties' ? ` (unknown key "${e.params.additionalProperty}")`
        : e.keyword === 'enum' ? ` (${e.params.allowedValues.join(', ')})` : '';
      const msg = `Compose Specification: ${e.instancePath || '/'} ${e.message}${detail}`;
      if (seen.has(msg)) continue;
      seen.add(msg);
      const key = e.params?.additionalProperty ?? e.instancePath.split('/').pop();
      problem('compose', COMPOSE, key ? lineOf(text, `${key}:`) : undefined, msg);
    }
  }
  ctx.schemaId = `${schema.title ?? 'Compose Specification'} (dclint ${require('dclint/package.json').version})`;

  // Interpolation syntax and the names compose reads from the environment / .env.
  const interpolated = new Map(); // name -> Set of operators
  walkStrings(compose, (value, path) => {
    scanInterpolation(
      value,
      (name, op) => {
        if (!interpolated.has(name)) interpolated.set(name, new Set());
        interpolated.get(name).add(op);
      },
      (msg) => problem('compose', COMPOSE, undefined, `${path}: ${msg}`),
    );
  });
  ctx.composeInterpolated = interpolated;

  const services = compose.services ?? {};
  const names = Object.keys(services);
  if (names.length === 0) problem('compose', COMPOSE, undefined, 'no services');

  // References between top-level elements.
  for (const [name, svc] of Object.entries(services)) {
    const deps = Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, {}])) : svc.depends_on ?? {};
    for (const [dep, spec] of Object.entries(deps)) {
      if (!services[dep]) { problem('compose', COMPOSE, lineOf(text, `${dep}:`), `service "${name}" depends on unknown service "${dep}"`); continue; }
      if (spec.condition === 'service_healthy' && !hasHealthcheck(services[dep], ctx)) {
        problem('compose', COMPOSE, undefined, `service "${name}" waits for "${dep}" to be healthy, but "${dep}" has no healthcheck`);
      }
    }
    for (const v of svc.volumes ?? []) {
      // Named volumes only: "name:/path" or {type: volume, source: name}; bind mounts start with . / ~ $.
      const source = typeof v === 'string' ? (v.includes(':') ? v.split(':')[0] : undefined) : v.type === 'volume' ? v.source : undefined;
      if (source && !/^[./~$]/.test(source) && !(source in (compose.volumes ?? {}))) {
        problem('compose', COMPOSE, undefined, `service "${name}" uses volume "${source}", not declared under top-level volumes`);
      }
    }
    for (const kind of ['configs', 'secrets']) {
      for (const c of svc[kind] ?? []) {
        const source = typeof c === 'string' ? c : c.source;
        if (!(source in (compose[kind] ?? {}))) problem('compose', COMPOSE, undefined, `service "${name}" uses ${kind.slice(0, -1)} "${source}", not declared under top-level ${kind}`);
      }
    }
    // Replicas cannot share a fixed host port (the second one fails to start).
    const replicas = Number(svc.deploy?.replicas ?? 1);
    if (replicas > 1) {
      if (svc.container_name) problem('compose', COMPOSE, undefined, `service "${name}" has ${replicas} replicas and a container_name: names must be unique`);
      for (const p of svc.ports ?? []) {
        const published = typeof p === 'string' ? p.split(':').slice(-2, -1)[0] : p.published;
        if (published && !String(published).includes('-')) {
          problem('compose', COMPOSE, undefined, `service "${name}" has ${replicas} replicas but publishes fixed host port ${published}: only one replica could bind it`);
        }
      }
    }
  }

  // This project's policy for the services that run the app image.
  const appServices = names.filter((n) => isAppService(services[n], services));
  ctx.appServices = appServices.map((n) => [n, services[n]]);
  if (appServices.length === 0) problem('compose', COMPOSE, undefined, 'no service builds or runs the app image (build: .)');
  for (const n of appServices) {
    const svc = services[n];
    if (svc.init !== true) problem('compose', COMPOSE, undefined, `service "${n}": set init: true so an init process reaps zombies and forwards signals`);
    const grace = parseDuration(svc.stop_grace_period);
    if (grace === undefined || grace <= 10) problem('compose', COMPOSE, undefined, `service "${n}": stop_grace_period must exceed the app's 10 s drain (e.g. 15s)`);
    if (svc.stop_signal && svc.stop_signal !== 'SIGTERM') problem('compose', COMPOSE, undefined, `service "${n}": the app drains on SIGTERM, not ${svc.stop_signal}`);
    if (!Array.isArray(svc.command)) problem('compose', COMPOSE, undefined, `service "${n}": give command in exec (list) form`);
    if (svc.env_file) problem('compose', COMPOSE, undefined, `service "${n}": env_file would pass every .env entry (including compose-only ones) to the app; list variables under environment`);
    for (const d of ['postgres', 'redis']) {
      if (services[d] && svc.depends_on?.[d]?.condition !== 'service_healthy') {
        problem('compose', COMPOSE, undefined, `service "${n}": depends_on ${d} with condition service_healthy`);
      }
    }
  }
  const argv = (svc) => (Array.isArray(svc.command) ? svc.command.map(String) : typeof svc.command === 'string' ? svc.command.split(/\s+/) : []);
  const api = appServices.find((n) => argv(services[n]).some((a) => a.includes('main.js')));
  if (!api) problem('compose', COMPOSE, undefined, 'no API service (command node dist/main.js ...)');
  else if (!hasHealthcheck(services[api], ctx)) problem('compose', COMPOSE, undefined, `service "${api}" needs a healthcheck (GET /readyz)`);
  if (!appServices.some((n) => argv(services[n]).some((a) => a.includes('worker.js')))) {
    problem('compose', COMPOSE, undefined, 'no worker service (command node dist/worker.js)');
  }
  const published = names.some((n) => (services[n].ports ?? []).length > 0);
  if (!published) problem('compose', COMPOSE, undefined, 'no service publishes a port: the API would be unreachable from the host');

  // dclint's rules (schema validation is done above; ordering rules are style only).
  const rules = Object.fromEntries(DCLINT_STYLE_RULES.map((r) => [r, 0]));
  // Quoted ports matter (YAML 1.1 reads 22:22 as a base-60 number); which quote does not.
  rules['require-quotes-in-ports'] = [1, { quoteType: 'double' }];
  const linter = new DCLinter({ rules, quiet: true, debug: false, exclude: [] });
  for (const result of linter.lintFiles([join(root, COMPOSE)], false)) {
    for (const m of result.messages) {
      if (m.rule === 'invalid-schema' || m.rule === 'invalid-yaml') continue; // reported above, in full
      problem('compose', COMPOSE, m.line, `dclint ${m.rule}: ${m.message}`);
    }
  }

  checkCaddyfiles(compose);
  return { compose, text };
}

function isAppService(svc, services) {
  if (svc.build !== undefined) return true;
  return Object.values(services).some((other) => other.build !== undefined && other.image && other.image === svc.image);
}

function hasHealthcheck(svc, ctx) {
  if (svc.healthcheck?.disable === true) return false;
  if (Array.isArray(svc.healthcheck?.test) && svc.healthcheck.test[0] === 'NONE') return false;
  if (svc.healthcheck?.test) return true;
  // Services built from our Dockerfile inherit its HEALTHCHECK.
  return svc.build !== undefined && Boolean(ctx.dockerfileHealthcheck);
}

/** Seconds in a compose duration such as "15s" or "1m30s"; undefined when absent or not a string. */
function parseDuration(v) {
  if (typeof v !== 'string') return undefined;
  const m = /^(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(v);
  if (!m || (!m[1] && !m[2])) return undefined;
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}

/** Validates inline Caddyfiles with the real caddy binary when one is installed; skipped otherwise. */
function checkCaddyfiles(compose) {
  const mountedAsCaddyfile = new Set(
    Object.values(compose.services ?? {}).flatMap((svc) =>
      (svc.configs ?? []).filter((c) => typeof c === 'object' && /(^|\/)Caddyfile$/.test(c.target ?? '')).map((c) => c.source),
    ),
  );
  for (const [name, cfg] of Object.entries(compose.configs ?? {})) {
    if (typeof cfg?.content !== 'string' || !mountedAsCaddyfile.has(name)) continue;
    const which = spawnSync('sh', ['-c', 'command -v caddy'], { encoding: 'utf8' });
    if (which.status !== 0) {
      notes.push(`configs.${name}: caddy not installed, Caddyfile syntax not checked (apt-get install caddy to check it)`);
      continue;
    }
    const dir = mkdtempSync(join(tmpdir(), 'caddyfile-'));
    try {
      const file = join(dir, 'Caddyfile');
      writeFileSync(file, cfg.content.replaceAll('$$', '$'));
      const r = spawnSync('caddy', ['validate', '--config', file, '--adapter', 'caddyfile'], { encoding: 'utf8', timeout: 20_000 });
      if (r.status !== 0) {
        const msg = `${r.stderr}${r.stdout}`.split('\n').filter((l) => /error/i.test(l)).pop() ?? 'invalid';
        problem('compose', COMPOSE, undefined, `configs.${name}: caddy validate: ${msg.trim().slice(0, 300)}`);
      } else notes.push(`configs.${name}: Caddyfile valid (caddy validate)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// 2. Dockerfile and .dockerignore

const DOCKERFILE = 'Dockerfile';

function parseDockerignore() {
  const text = readText('.dockerignore');
  if (text === undefined) {
    problem('dockerfile', '.dockerignore', undefined, 'missing: the whole directory (node_modules, .env, .data) would be sent to the builder');
    return [];
  }
  const patterns = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const req of DOCKERIGNORE_REQUIRED) {
    if (!patterns.some((p) => p.replace(/^\/|\/$/g, '') === req)) problem('dockerfile', '.dockerignore', undefined, `must exclude ${req}`);
  }
  return patterns.map((p) => {
    const exception = p.startsWith('!');
    const body = p.replace(/^!/, '').replace(/^\/+/, '').replace(/\/+$/, '');
    const re = body
      .split('/')
      .map((seg) => (seg === '**' ? '(?:.*)' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
      .join('/')
      .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
    return { exception, re: new RegExp(`^${re}$`), raw: p };
  });
}

/** Docker's rule: a path is excluded when the last matching pattern (on it or a parent) excludes it. */
function isIgnored(relPath, patterns) {
  const parts = relPath.replace(/^\.\/|\/+$/g, '').split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) if (prefixes.some((x) => p.re.test(x))) ignored = !p.exception;
  return ignored;
}

function jsonArgs(instr) {
  return typeof instr.getJSONStrings === 'function' ? instr.getJSONStrings().map((s) => s.getJSONValue()) : [];
}

function checkDockerfile(ctx) {
  const text = readText(DOCKERFILE);
  if (text === undefined) {
    problem('dockerfile', DOCKERFILE, undefined, 'missing');
    return;
  }
  const E = ValidationSeverity.ERROR;
  const diagnostics = lintDockerfile(text, {
    deprecatedMaintainer: E, directiveCasing: E, emptyContinuationLine: E, instructionCasing: E,
    instructionCmdMultiple: E, instructionEntrypointMultiple: E, instructionHealthcheckMultiple: E,
    instructionJSONInSingleQuotes: E, instructionWorkdirRelative: E,
  });
  for (const d of diagnostics) problem('dockerfile', DOCKERFILE, d.range.start.line + 1, `dockerfile-utils: ${d.message}`);

  const df = DockerfileParser.parse(text);
  const ignore = parseDockerignore();
  const pkg = JSON.parse(readText('package.json') ?? '{}');

  // Group instructions into stages.
  const stages = [];
  for (const instr of df.getInstructions()) {
    const kw = instr.getKeyword();
    if (kw === 'FROM') {
      const words = (instr.getArgumentsContent() ?? '').split(/\s+/).filter((w) => !w.startsWith('--'));
      stages.push({ from: instr, base: words[0], name: /^as$/i.test(words[1] ?? '') ? words[2] : undefined, instrs: [] });
    } else if (stages.length) stages.at(-1).instrs.push(instr);
  }
  if (stages.length === 0) {
    problem('dockerfile', DOCKERFILE, undefined, 'no FROM');
    return;
  }
  const byName = new Map(stages.filter((s) => s.name).map((s) => [s.name.toLowerCase(), s]));
  const line = (instr) => instr.getRange().start.line + 1;
  /** The stage and the stages it is built on, nearest first. */
  const chain = (stage) => {
    const out = [];
    for (let s = stage; s && !out.includes(s); s = byName.get(String(s.base).toLowerCase())) out.push(s);
    return out;
  };
  const initialArgs = new Map(df.getInitialARGs().flatMap((a) => a.getProperties().map((p) => [p.getName(), p.getValue()])));

  // Base images: pinned by tag or digest, never latest.
  for (const s of stages) {
    const base = String(s.base).replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n) => initialArgs.get(n) ?? '');
    if (byName.has(base.toLowerCase()) || base === 'scratch') continue;
    const [nameTag, digest] = base.split('@');
    const tag = /:[^/]+$/.test(nameTag) ? nameTag.split(':').pop() : undefined;
    if (!digest && (!tag || tag === 'latest')) problem('dockerfile', DOCKERFILE, line(s.from), `FROM ${s.base}: pin the base image by tag (e.g. node:20-bookworm-slim), never latest`);
  }

  const final = stages.at(-1);
  const finalChain = chain(final);
  const inChain = (kw) => finalChain.flatMap((s) => s.instrs.filter((i) => i.getKeyword() === kw));
  const finalOnly = (kw) => final.instrs.filter((i) => i.getKeyword() === kw);

  // USER: the one in force in the final image (last of the final stage, else of the stage it builds on).
  const lastUser = finalChain.map((s) => s.instrs.filter((i) => i.getKeyword() === 'USER').at(-1)).find(Boolean);
  if (!lastUser) problem('dockerfile', DOCKERFILE, line(final.from), 'final stage runs as root: add USER node (or a created non-root uid)');
  else if (/^(root|0)(:|$)/.test((lastUser.getArgumentsContent() ?? '').trim())) problem('dockerfile', DOCKERFILE, line(lastUser), 'final stage runs as root: USER must be a non-root user');

  // ENV in the final image: NODE_ENV=production, and only names the app knows.
  const envs = new Map();
  for (const s of [...finalChain].reverse()) {
    for (const i of s.instrs.filter((x) => x.getKeyword() === 'ENV')) {
      for (const p of i.getProperties()) envs.set(p.getName(), { value: p.getValue(), line: line(i) });
    }
  }
  if (envs.get('NODE_ENV')?.value !== 'production') problem('dockerfile', DOCKERFILE, line(final.from), 'final stage must set ENV NODE_ENV=production');
  // NODE_OPTIONS is node's own (not the app's): the image's V8 flags must be those `npm run start:prod` runs
  // with, which the benches measure as deployed.
  const nodeOptions = envs.get('NODE_OPTIONS');
  const prodFlags = (/^node((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/main\.js$/.exec(pkg.scripts?.['start:prod'] ?? '')?.[1] ?? '').trim();
  if ((nodeOptions?.value ?? '').trim() !== prodFlags) {
    problem('dockerfile', DOCKERFILE, nodeOptions?.line ?? line(final.from), `ENV NODE_OPTIONS ("${nodeOptions?.value ?? ''}") must equal the flags of package.json's start:prod ("${prodFlags}")`);
  }
  envs.delete('NODE_OPTIONS');
  ctx.dockerfileEnv = envs;

  // Ports, healthcheck, stop signal, command.
  const exposed = inChain('EXPOSE').flatMap((i) => (i.getArgumentsContent() ?? '').split(/\s+/)).map((p) => p.split('/')[0]);
  if (!exposed.includes(APP_PORT)) problem('dockerfile', DOCKERFILE, line(final.from), `final stage must EXPOSE ${APP_PORT}`);

  const health = inChain('HEALTHCHECK')[0];
  if (!health) problem('dockerfile', DOCKERFILE, line(final.from), 'final stage needs a HEALTHCHECK on /readyz');
  else {
    const content = health.getArgumentsContent() ?? '';
    if (/^\s*NONE\b/i.test(content.replace(/--\S+\s*/g, ''))) problem('dockerfile', DOCKERFILE, line(health), 'HEALTHCHECK NONE: probe /readyz instead');
    if (!content.includes('/readyz')) problem('dockerfile', DOCKERFILE, line(health), 'HEALTHCHECK must probe /readyz');
    if (/\b(curl|wget)\b/.test(content)) problem('dockerfile', DOCKERFILE, line(health), 'HEALTHCHECK uses curl/wget, which the slim base image lacks: use node -e with fetch');
    ctx.dockerfileHealthcheck = true;
  }
  const stop = inChain('STOPSIGNAL')[0];
  if (!stop || (stop.getArgumentsContent() ?? '').trim() !== 'SIGTERM') problem('dockerfile', DOCKERFILE, stop ? line(stop) : line(final.from), 'set STOPSIGNAL SIGTERM (the app drains on SIGTERM)');

  const cmd = inChain('CMD')[0];
  const entrypoint = inChain('ENTRYPOINT')[0];
  if (!cmd && !entrypoint) problem('dockerfile', DOCKERFILE, line(final.from), 'final stage has no CMD');
  ctx.entryCommands = [];
  for (const instr of [entrypoint, cmd].filter(Boolean)) {
    const args = jsonArgs(instr);
    if (args.length === 0) problem('dockerfile', DOCKERFILE, line(instr), `${instr.getKeyword()} must use the exec (JSON) form so node receives signals directly`);
    else ctx.entryCommands.push({ file: DOCKERFILE, line: line(instr), args });
  }

  // npm: lockfile installs only, production-only node_modules in the final image.
  const runs = stages.flatMap((s) => s.instrs.filter((i) => i.getKeyword() === 'RUN').map((i) => ({ stage: s, instr: i, cmd: i.getArgumentsContent() ?? '' })));
  if (!runs.some((r) => /\bnpm ci\b/.test(r.cmd))) problem('dockerfile', DOCKERFILE, undefined, 'install dependencies with npm ci (the lockfile), not npm install');
  for (const r of runs) {
    if (/\bnpm (install|i|add)\b(?!-)/.test(r.cmd)) problem('dockerfile', DOCKERFILE, line(r.instr), 'use npm ci (reproducible, from package-lock.json) instead of npm install');
    for (const m of r.cmd.matchAll(/\bnpm run(?:-script)? ([\w:.-]+)/g)) {
      if (!pkg.scripts?.[m[1]]) problem('dockerfile', DOCKERFILE, line(r.instr), `npm run ${m[1]}: package.json has no script "${m[1]}"`);
    }
    if (/\bapt-get install\b/.test(r.cmd)) {
      if (!/--no-install-recommends/.test(r.cmd)) problem('dockerfile', DOCKERFILE, line(r.instr), 'apt-get install without --no-install-recommends');
      if (!/\brm -rf \/var\/lib\/apt\/lists/.test(r.cmd)) problem('dockerfile', DOCKERFILE, line(r.instr), 'apt-get install without removing /var/lib/apt/lists afterwards');
    }
  }
  const devFree = (stage) => chain(stage).some((s) => s.instrs.some((i) => i.getKeyword() === 'RUN' && /\bnpm (ci|prune)\b[^&;|]*--(omit=dev|production|only=prod)/.test(i.getArgumentsContent() ?? '')));
  for (const r of runs.filter((x) => x.stage === final && /\bnpm ci\b/.test(x.cmd))) {
    if (!/--omit=dev|--production/.test(r.cmd)) problem('dockerfile', DOCKERFILE, line(r.instr), 'the final image must get production dependencies only (npm ci --omit=dev)');
  }
  let hasModules = runs.some((r) => r.stage === final && /\bnpm ci\b/.test(r.cmd));
  for (const c of finalOnly('COPY')) {
    const from = c.getFromFlag?.()?.getValue();
    const words = (c.getArgumentsContent() ?? '').split(/\s+/).filter(Boolean);
    if (from) {
      if (words.slice(0, -1).some((w) => /node_modules/.test(w))) {
        hasModules = true;
        const src = byName.get(from.toLowerCase());
        if (src && !devFree(src)) problem('dockerfile', DOCKERFILE, line(c), `COPY --from=${from} node_modules: stage "${from}" installs dev dependencies; copy from a stage that runs npm ci --omit=dev`);
      }
    }
  }
  if (!hasModules) problem('dockerfile', DOCKERFILE, line(final.from), 'the final stage gets no node_modules (npm ci --omit=dev or COPY --from a production-deps stage)');

  // ADD and COPY sources from the build context: present, and not excluded by .dockerignore.
  for (const s of stages) {
    for (const i of s.instrs.filter((x) => ['COPY', 'ADD'].includes(x.getKeyword()))) {
      if (i.getKeyword() === 'ADD') problem('dockerfile', DOCKERFILE, line(i), 'use COPY for local files (ADD also fetches URLs and unpacks archives)');
      if (i.getFromFlag?.()) continue;
      const json = jsonArgs(i);
      const words = json.length ? json : (i.getArgumentsContent() ?? '').split(/\s+/).filter((w) => w && !w.startsWith('--'));
      for (const src of words.slice(0, -1)) {
        if (/[*?[]/.test(src)) continue;
        const rel = src.replace(/^\.\//, '').replace(/\/+$/, '') || '.';
        if (!existsSync(join(root, rel))) problem('dockerfile', DOCKERFILE, line(i), `COPY ${src}: not found in the build context`);
        else if (rel !== '.' && isIgnored(rel, ignore)) problem('dockerfile', DOCKERFILE, line(i), `COPY ${src}: excluded by .dockerignore`);
      }
    }
  }
  // The files the build and runtime need must reach the builder.
  for (const rel of ['package.json', 'package-lock.json', 'src', 'prisma/migrations']) {
    if (isIgnored(rel, ignore)) problem('dockerfile', '.dockerignore', undefined, `excludes ${rel}, which the image needs`);
  }
}

// ---------------------------------------------------------------------------------------------------
// 3. Environment names

function parseEnvExample() {
  const text = readText('.env.example');
  if (text === undefined) {
    problem('env', '.env.example', undefined, 'missing');
    return undefined;
  }
  const entries = new Map();
  text.split('\n').forEach((raw, idx) => {
    const active = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(raw);
    const commented = /^\s*#\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(raw);
    const m = active ?? commented;
    if (!m) return;
    if (entries.has(m[1]) && active && entries.get(m[1]).active) problem('env', '.env.example', idx + 1, `${m[1]} is set twice`);
    if (!entries.has(m[1]) || active) entries.set(m[1], { active: Boolean(active), value: m[2].trim(), line: idx + 1 });
  });
  return entries;
}

function checkEnv(ctx, known, composeResult) {
  // Without the parser's list (already a problem) names are not judged, so one problem is not a hundred.
  const isKnown = (n) => known === undefined || known.has(n);
  const describe = (n) => (COMPOSE_ONLY.includes(n) ? 'compose-only' : `not a setting of ${CONFIG_SOURCE}`);

  // docker-compose.yml: each app service passes every CONTAINER_ENV variable (set, or commented in the
  // file as `# NAME: value`), and nothing the app does not know.
  if (composeResult) {
    const { text } = composeResult;
    const commented = new Set([...text.matchAll(/^\s*#\s*([A-Z][A-Z0-9_]*)\s*:(?:\s|$)/gm)].map((m) => m[1]));
    for (const [name, svc] of ctx.appServices ?? []) {
      const env = Array.isArray(svc.environment)
        ? Object.fromEntries(svc.environment.map((e) => [e.split('=')[0], e.includes('=') ? e.slice(e.indexOf('=') + 1) : undefined]))
        : svc.environment ?? {};
      for (const key of Object.keys(env)) {
        if (!isKnown(key)) problem('env', COMPOSE, lineOf(text, `${key}:`), `service "${name}" sets ${key}, ${describe(key)}: the app does not read it`);
      }
      for (const key of CONTAINER_ENV) {
        if (!(key in env) && !commented.has(key)) problem('env', COMPOSE, undefined, `service "${name}" lacks ${key} (CONTAINER_ENV): set it, or list it commented out`);
      }
      for (const key of REQUIRED_SECRETS) {
        const v = env[key];
        if (v !== undefined && !new RegExp(`^\\$\\{${key}:\\?[^}]+\\}$`).test(String(v))) {
          problem('env', COMPOSE, lineOf(text, `${key}:`), `service "${name}": ${key} must be required from .env as \${${key}:?message}`);
        } else if (v === undefined) {
          problem('env', COMPOSE, undefined, `service "${name}": ${key} must be passed as \${${key}:?message}`);
        }
      }
    }
    for (const n of ctx.composeInterpolated?.keys() ?? []) {
      if (!isKnown(n) && !COMPOSE_ONLY.includes(n)) problem('env', COMPOSE, lineOf(text, n), `\${${n}} is not a setting of ${CONFIG_SOURCE} (nor compose-only: ${COMPOSE_ONLY.join(', ')})`);
    }
  }

  // .env.example: every CONTAINER_ENV variable (set or commented), nothing unknown, no secret values.
  const example = parseEnvExample();
  if (example) {
    for (const key of CONTAINER_ENV) if (!example.has(key)) problem('env', '.env.example', undefined, `lacks ${key} (CONTAINER_ENV): add it, commented out if optional`);
    for (const [key, e] of example) {
      if (!isKnown(key) && !COMPOSE_ONLY.includes(key)) problem('env', '.env.example', e.line, `${key} is ${describe(key)}: neither the app nor docker-compose.yml reads it`);
      if (e.active && e.value && SECRET_NAME.test(key)) problem('env', '.env.example', e.line, `${key} has a value: leave secrets empty in committed files`);
    }
    for (const n of ctx.composeInterpolated?.keys() ?? []) {
      if (!example.has(n)) problem('env', '.env.example', undefined, `docker-compose.yml reads \${${n}}: list it in .env.example`);
    }
    for (const n of COMPOSE_ONLY) {
      if (example.has(n) && !ctx.composeInterpolated?.has(n)) problem('env', '.env.example', example.get(n).line, `${n} is listed but docker-compose.yml does not use it`);
    }
  }

  // Dockerfile: runtime ENV names the app knows.
  for (const [key, e] of ctx.dockerfileEnv ?? []) {
    if (!isKnown(key)) problem('env', DOCKERFILE, e.line, `final image sets ENV ${key}, ${describe(key)}`);
    if (SECRET_NAME.test(key) && e.value) problem('env', DOCKERFILE, e.line, `ENV ${key} bakes a secret into the image`);
  }

  // No secret material in any of the committed container files.
  const patterns = [
    [/"d"\s*:\s*"[A-Za-z0-9_-]{20,}"/, 'a JWK private key ("d" member)'],
    [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a PEM private key'],
    [/\bre_[A-Za-z0-9_]{16,}/, 'what looks like a Resend API key'],
  ];
  for (const rel of [COMPOSE, '.env.example', DOCKERFILE, '.dockerignore']) {
    const text = readText(rel);
    if (text === undefined) continue;
    for (const [re, what] of patterns) {
      const m = re.exec(text);
      if (m) problem('env', rel, lineOf(text, m[0]), `contains ${what}: never commit secrets`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// 4. Entry points: dist/X.js <- src/X.ts

function checkEntryPoints(ctx) {
  const commands = [...(ctx.entryCommands ?? [])];
  for (const [name, svc] of ctx.appServices ?? []) {
    const args = [...(Array.isArray(svc.entrypoint) ? svc.entrypoint : []), ...(Array.isArray(svc.command) ? svc.command : [])];
    if (args.length) commands.push({ file: COMPOSE, service: name, args: args.map(String) });
  }
  const tsconfig = readText('tsconfig.build.json') ?? readText('tsconfig.json');
  if (tsconfig === undefined) problem('entry', 'tsconfig.build.json', undefined, 'missing: npm run build could not produce dist/');
  const pkg = JSON.parse(readText('package.json') ?? '{}');
  if (!pkg.scripts?.build) problem('entry', 'package.json', undefined, 'no "build" script: nothing produces dist/');
  let seen = 0;
  for (const c of commands) {
    for (const a of c.args) {
      const m = /^(?:\.\/)?dist\/(.+)\.js$/.exec(a);
      if (!m) continue;
      seen++;
      const src = `src/${m[1]}.ts`;
      const where = c.service ? `service "${c.service}": ` : '';
      if (!existsSync(join(root, src))) problem('entry', c.file, c.line, `${where}runs ${a}, but ${src} (which npm run build compiles to it) does not exist`);
      else if (!statSync(join(root, src)).isFile()) problem('entry', c.file, c.line, `${where}${src} is not a file`);
    }
  }
  if (seen === 0) problem('entry', DOCKERFILE, undefined, 'no command runs node dist/<entry>.js');
}

// ---------------------------------------------------------------------------------------------------

const ctx = {};
const known = settings();
checkDockerfile(ctx); // first: compose healthcheck logic uses the Dockerfile's HEALTHCHECK
const composeResult = checkCompose(ctx);
checkEnv(ctx, known, composeResult);
checkEntryPoints(ctx);

for (const n of notes) console.log(`  note: ${n}`);
if (problems.length) {
  for (const p of problems) console.error(`✖ [${p.area}] ${p.where}: ${p.message}`);
  console.error(`containers:check: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  process.exit(1);
}
console.log(`✔ ${COMPOSE}: ${ctx.schemaId}, interpolation, references, dclint rules, policy`);
console.log(`✔ ${DOCKERFILE}: dockerfile-utils lint, policy checks, .dockerignore`);
console.log(`✔ environment: ${CONFIG_SOURCE}'s ${known.size} variables, all documented in ${CONFIG_DOCS}; ${COMPOSE}, .env.example and Dockerfile name no others`);
console.log(`✔ entry points: ${(ctx.appServices ?? []).map(([n]) => n).join(', ')} and CMD map to src/*.ts`);
console.log('containers:check: OK');
