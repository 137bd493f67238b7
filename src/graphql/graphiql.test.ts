import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../test/harness.js';
import { PRODUCTION_MAIL_ENV } from '../test/mail-server.js';

/** Hosts a browser would contact for GraphiQL if any asset came from a CDN. */
const FOREIGN_URL = /(?:https?:)?\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}\/[^\s"'`)]*\.(?:js|css|mjs|woff2?|ttf)\b/gi;

/**
 * chevrotain's `createSyntaxDiagramsCode` (a grammar-diagram generator bundled into one chunk, never called
 * by GraphiQL) has a default parameter naming unpkg. It is dead code, not a load: the headless-browser
 * check saw no request leave the origin.
 */
const DEAD_REFERENCES = ['https://unpkg.com/chevrotain@${r}/diagrams/diagrams.css'];
const foreignUrls = (text: string) => (text.match(FOREIGN_URL) ?? []).filter((u) => !DEAD_REFERENCES.includes(u));

const ruruStatic = join(dirname(createRequire(import.meta.url).resolve('ruru/static')), '..', 'static');

describe('GraphiQL', () => {
  const fx = useTestServer('graphiql');

  it('sends a browser from GET /graphql to the self-hosted GraphiQL page', async () => {
    const res = await fetch(`${fx.server.url}/graphql`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/graphiql');
  });

  it('loads the page and every asset it references from this fx.server only', async () => {
    const page = await fetch(`${fx.server.url}/graphiql`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('ws://localhost');
    const refs = [...html.matchAll(/(?:src|href)\s*=\s*["']([^"']+)["']/g)].map((m) => m[1] ?? '');
    const scripts = [...html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '').join('\n');
    expect(foreignUrls(scripts)).toEqual([]);
    // Every referenced asset is same-origin and is served.
    for (const ref of refs) {
      expect(ref.startsWith('/') && !ref.startsWith('//'), ref).toBe(true);
      const asset = await fetch(`${fx.server.url}${ref}`);
      expect(asset.status, ref).toBe(200);
      expect(foreignUrls(await asset.text()), ref).toEqual([]);
    }
    // The bundle loads its chunks and workers from the static path the page names: check every file it can load.
    expect(html).toContain('/graphiql-static/');
    const files = readdirSync(ruruStatic).filter((f) => /\.(js|css)$/.test(f));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const asset = await fetch(`${fx.server.url}/graphiql-static/${file}`);
      expect(asset.status, file).toBe(200);
      expect(foreignUrls(await asset.text()), file).toEqual([]);
    }
  });

  it("serves graphql-ws's browser client, which the page uses for subscriptions", async () => {
    const html = await (await fetch(`${fx.server.url}/graphiql`)).text();
    expect(html).toContain('/graphiql-static/graphql-ws/client.js');
    const client = await fetch(`${fx.server.url}/graphiql-static/graphql-ws/client.js`);
    expect(client.status).toBe(200);
    const code = await client.text();
    expect(code).toContain('export');
    for (const [, chunk] of code.matchAll(/from '\.\/([\w-]+\.js)'/g)) {
      expect((await fetch(`${fx.server.url}/graphiql-static/graphql-ws/${chunk}`)).status, chunk).toBe(200);
    }
    expect((await fetch(`${fx.server.url}/graphiql-static/graphql-ws/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${fx.server.url}/graphiql-static/graphql-ws/server-zBhvXJ_Z.js`)).status).toBe(404);
  });

  it('answers introspection in development (GraphiQL needs it)', async () => {
    const res = await fetch(`${fx.server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
    });
    expect(await res.json()).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
  });
});

describe('production', () => {
  const fx = useTestServer('prod', { env: { NODE_ENV: 'production', BCRYPT_COST: '10', ...PRODUCTION_MAIL_ENV } });

  it('serves no GraphiQL and refuses introspection', async () => {
    expect((await fetch(`${fx.server.url}/graphiql`)).status).toBe(404);
    const page = await fetch(`${fx.server.url}/graphql`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).not.toBe(302);
    const res = await fetch(`${fx.server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
    });
    const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
