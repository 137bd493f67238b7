import { describe, expect, it } from 'vitest';
import { buildApp } from '../app.js';
import { appDeps } from '../composition.js';
import { MfaResolver } from '../modules/mfa/mfa.resolver.js';
import { SessionsResolver } from '../modules/sessions/sessions.resolver.js';
import { useTestServer } from '../test/harness.js';

/** The resolver classes of the schema and their instances, both from the modules' manifests, checked at start. */
describe('resolver wiring', () => {
  const t = useTestServer('wiring');

  it('refuses to start when a resolver class of the schema has no instance', async () => {
    const deps = appDeps(t.server.infra, t.server.services);
    const resolvers = deps.resolvers.filter((r) => !(r instanceof MfaResolver));
    await expect(buildApp({ ...deps, resolvers })).rejects.toThrow(/MfaResolver/);
  });

  it('refuses to start when an instance has no resolver class in the schema', async () => {
    const deps = appDeps(t.server.infra, t.server.services);
    const resolverClasses = deps.resolverClasses.filter((c) => c !== SessionsResolver) as unknown as typeof deps.resolverClasses;
    await expect(buildApp({ ...deps, resolverClasses })).rejects.toThrow(/SessionsResolver/);
  });

  it('refuses to start when a class is bound twice', async () => {
    const deps = appDeps(t.server.infra, t.server.services);
    const twice = deps.resolvers.find((r) => r instanceof MfaResolver)!;
    await expect(buildApp({ ...deps, resolvers: [...deps.resolvers, Object.create(twice) as object] })).rejects.toThrow(/MfaResolver/);
  });
});
