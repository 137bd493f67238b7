import type { Worker } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';
import type { AppDeps } from './app.js';
import type { ResolverClasses } from './graphql/schema.js';
import { Sealer } from './infra/crypto/sealed.js';
import { pingPostgres } from './infra/db/index.js';
import { devMailRoutes } from './infra/mail/dev-mail.routes.js';
import { createDevOutbox } from './infra/mail/dev-outbox.js';
import { createMailRenderer } from './infra/mail/render.js';
import { createResendSender, type MailSender } from './infra/mail/sender.js';
import { Outbox, OutboxRelay, type RelayOptions } from './infra/outbox/outbox.js';
import type { QueueName } from './infra/queue.js';
import { Limits } from './infra/rate-limit.js';
import { pingRedis } from './infra/redis.js';
import type { Infra } from './infra/runtime.js';
import { AccountLock } from './modules/accounts/account-lock.js';
import { AlertWindows } from './modules/alerts/alert-windows.js';
import { AlertsRepository } from './modules/alerts/alerts.repository.js';
import { AlertsService } from './modules/alerts/alerts.service.js';
import { AccountLifecycle } from './modules/admin/account-lifecycle.js';
import { adminModule } from './modules/admin/admin.module.js';
import { AdminRepository } from './modules/admin/admin.repository.js';
import { AdminService } from './modules/admin/admin.service.js';
import { accountsModule } from './modules/accounts/accounts.module.js';
import { consoleModule } from './modules/console/console.module.js';
import { AccountsService } from './modules/accounts/accounts.service.js';
import { AuditRetention } from './modules/audit/audit-retention.js';
import { AuditSealsRepository } from './modules/audit/audit-seals.repository.js';
import { AuditTrail } from './modules/audit/audit-trail.js';
import { auditModule } from './modules/audit/audit.module.js';
import { AuditRepository } from './modules/audit/audit.repository.js';
import { AuditSealer } from './modules/audit/audit.sealer.js';
import { AuditService } from './modules/audit/audit.service.js';
import { Lockout } from './modules/accounts/lockout.js';
import { SignIn } from './modules/accounts/sign-in.js';
import { emailVerificationModule } from './modules/email-verification/verification.module.js';
import { EmailVerificationService } from './modules/email-verification/verification.service.js';
import type { Feature } from './modules/feature.js';
import { healthModule } from './modules/health/health.module.js';
import { HealthService } from './modules/health/health.service.js';
import { identityModule } from './modules/identity/identity.module.js';
import { IdentityService } from './modules/identity/identity.service.js';
import { PasswordHasher } from './modules/identity/password.js';
import { preloadCommonPasswords, serviceNamesOf } from './modules/identity/password-policy.js';
import { ProfileCache } from './modules/identity/profile-cache.js';
import { UsersRepository } from './modules/identity/users.repository.js';
import { mailModule } from './modules/mail/mail.module.js';
import { MailRepository } from './modules/mail/mail.repository.js';
import { MailService } from './modules/mail/mail.service.js';
import { magicLinkModule } from './modules/magic-link/magic-link.module.js';
import { MagicLinkService } from './modules/magic-link/magic-link.service.js';
import { maintenanceModule } from './modules/maintenance/maintenance.module.js';
import { MaintenanceRepository } from './modules/maintenance/maintenance.repository.js';
import { mfaModule } from './modules/mfa/mfa.module.js';
import { MfaRepository } from './modules/mfa/mfa.repository.js';
import { MfaService } from './modules/mfa/mfa.service.js';
import { OneTimeTokensRepository } from './modules/one-time-tokens/one-time-tokens.repository.js';
import { PasskeyChallenges } from './modules/passkeys/passkey-challenges.js';
import { passkeysModule } from './modules/passkeys/passkeys.module.js';
import { PasskeysRepository } from './modules/passkeys/passkeys.repository.js';
import { PasskeysService } from './modules/passkeys/passkeys.service.js';
import { passwordResetModule } from './modules/password-reset/password-reset.module.js';
import { PasswordResetService } from './modules/password-reset/password-reset.service.js';
import { securityEventsModule } from './modules/security-events/security-events.module.js';
import { SecurityEventPublisher } from './modules/security-events/security-events.publisher.js';
import { SecurityEventsRepository } from './modules/security-events/security-events.repository.js';
import { SecurityEventsService } from './modules/security-events/security-events.service.js';
import { AccessTokens } from './modules/sessions/access-token.js';
import { AuthGuard } from './modules/sessions/auth.guard.js';
import { SessionCookies, sessionCookiePolicy } from './modules/sessions/session-cookie.guard.js';
import { SessionCache } from './modules/sessions/session-cache.js';
import { SessionsRepository } from './modules/sessions/sessions.repository.js';
import { sessionsModule } from './modules/sessions/sessions.module.js';
import { SessionsService } from './modules/sessions/sessions.service.js';
import { Introspection } from './modules/service-keys/introspection.js';
import { ServiceKeyCache } from './modules/service-keys/service-key-cache.js';
import { serviceKeysModule } from './modules/service-keys/service-keys.module.js';
import { ServiceKeysRepository } from './modules/service-keys/service-keys.repository.js';
import { ServiceKeysService } from './modules/service-keys/service-keys.service.js';
import { AUDIENCE } from './modules/sessions/access-token.js';
import { EndpointGates } from './modules/webhooks/endpoint-gates.js';
import { DeliveryHold } from './modules/webhooks/webhook-hold.js';
import { WebhookHttp } from './modules/webhooks/webhook-http.js';
import { WEBHOOK_TIMEOUT_MS, webhooksModule } from './modules/webhooks/webhooks.module.js';
import { WebhooksRepository } from './modules/webhooks/webhooks.repository.js';
import { WebhooksService } from './modules/webhooks/webhooks.service.js';
import { signInDenialModule } from './modules/sign-in-denial/sign-in-denial.module.js';
import { SignInDenialService } from './modules/sign-in-denial/sign-in-denial.service.js';

/**
 * Every feature of the app, each listed once: its manifest brings its resolvers, REST routes, workers,
 * queues, topics, limits and emails. The compiler checks that `buildServices` provides what each needs.
 */
export const MODULES = [
  healthModule,
  identityModule,
  sessionsModule,
  emailVerificationModule,
  passwordResetModule,
  accountsModule,
  mfaModule,
  magicLinkModule,
  passkeysModule,
  signInDenialModule,
  securityEventsModule,
  auditModule,
  adminModule,
  serviceKeysModule,
  webhooksModule,
  mailModule,
  maintenanceModule,
  consoleModule,
] as const satisfies readonly Feature<Services>[];

const FEATURES: readonly Feature<Services>[] = MODULES;
const RESOLVER_BINDINGS = FEATURES.flatMap((m) => m.resolvers ?? []);

/** Every resolver class of the API, from the manifests (`appDeps` builds their instances). */
export const RESOLVERS = RESOLVER_BINDINGS.map((b) => b.type) as unknown as ResolverClasses;

/** Every email of every module, compiled now: a template that cannot render fails the start, not a job. */
export const mailRenderer = createMailRenderer(FEATURES.flatMap((m) => m.templates ?? []));

/**
 * The one place that wires services to infrastructure and to their doors (kratos' registry idea,
 * without a container): each service gets the narrow dependencies it declares.
 */
export function buildServices(infra: Infra) {
  const { config, prisma, redis, log } = infra;
  // First: every flow reports its security events to it (metrics and the built-in alert rules).
  const alerts = new AlertsService({
    windows: new AlertWindows(redis, config.redis.keyPrefix),
    repo: new AlertsRepository(prisma),
    metrics: infra.metrics,
    rules: config.alerts,
    identifierKey: infra.appSecrets.ring('alert-mac').current.key,
    ipv6Prefix: config.rateLimitIpv6Prefix,
    log,
  });
  const health = new HealthService({
    postgres: () => pingPostgres(prisma),
    redis: () => pingRedis(redis),
  });
  const tokens = new AccessTokens(infra.keys, { issuer: config.http.publicUrl, ttlSeconds: config.auth.accessTokenTtl });
  const profiles = new ProfileCache(redis, config.redis.keyPrefix);
  const sealer = new Sealer(infra.appSecrets.ring('data-encryption'));
  const users = new UsersRepository(prisma);
  const identity = new IdentityService({ users, profiles });
  const sessions = new SessionsService({
    accounts: identity,
    repo: new SessionsRepository(prisma),
    // A revoked marker outlives every access token of the session (plus clock skew).
    cache: new SessionCache(redis, config.redis.keyPrefix, config.auth.accessTokenTtl + 60),
    tokens,
    log,
    refreshTtlSeconds: config.auth.refreshTokenTtl,
    idleTtlSeconds: config.auth.sessionIdleTtl,
    reauthMaxAgeSeconds: config.auth.reauthMaxAge,
    signals: alerts,
    reuseGrace: { seconds: config.auth.refreshReuseGrace, sealer },
  });
  const hasher = new PasswordHasher({ pepper: infra.appSecrets.ring('password-pepper'), cost: config.auth.bcryptCost });

  const relay = new OutboxRelay(prisma, infra.queues, log, {
    pollMs: config.jobs.outboxPollMs,
    jobOptions: outboxJobOptions(infra),
    lossMarker: { redis, key: `${config.redis.keyPrefix}outbox:redis-epoch` },
  });
  const mailRepo = new MailRepository(prisma);
  const outbox = new Outbox(prisma);
  const mail = new MailService(mailRepo, sealer, relay, outbox);
  const devOutbox = config.mail.resendApiKey ? undefined : createDevOutbox(redis, config.redis.keyPrefix, log, { sealer });
  const sender: MailSender = devOutbox ?? createResendSender({ apiKey: config.mail.resendApiKey!, baseUrl: config.mail.resendBaseUrl });

  const limits = new Limits(redis, config.redis.keyPrefix, config.limits, config.rateLimitIpv6Prefix, (name, meta) => alerts.rateLimited(name, meta));
  const auditRepo = new AuditRepository(prisma);
  const auditSeals = new AuditSealsRepository(prisma);
  const auditTrail = new AuditTrail({ repo: auditRepo, identifierKey: infra.appSecrets.ring('audit-identifier') });
  const oneTimeTokens = new OneTimeTokensRepository(prisma);
  const verification = new EmailVerificationService({
    users,
    identity,
    tokens: oneTimeTokens,
    mail,
    profiles,
    limits,
    publicUrl: config.http.publicUrl,
    // ADMIN_EMAILS: a listed address holds ADMIN from the transaction that verifies it (lifecycle is built below).
    onVerified: (tx, userId, meta): Promise<void> => lifecycle.onVerified(tx, userId, meta),
  });
  const lockout = new Lockout(redis, config.redis.keyPrefix, config.lockout);
  const signInDenial = new SignInDenialService({ users, tokens: oneTimeTokens, sessions, mail, appUrl: config.http.appUrl });
  const signIn = new SignIn({ users, sessions, hasher, mail, denial: signInDenial, sessionsUrl: `${config.http.appUrl}/sessions` });
  // Wrong codes feed the same failure ceiling as wrong passwords.
  const lock = new AccountLock({ users, lockout, tokens: oneTimeTokens, mail, sessions, publicUrl: config.http.publicUrl, signals: alerts });
  const mfa = new MfaService({
    repo: new MfaRepository(prisma),
    users,
    identity,
    tokens: oneTimeTokens,
    sealer,
    codeKey: infra.appSecrets.ring('token-mac'),
    limits,
    signIn,
    sessions,
    failures: lock.failures,
    mail,
    profiles,
    audit: auditTrail,
    issuer: config.mfaIssuer,
    appUrl: config.http.appUrl,
    signals: alerts,
  });
  const passwordServiceNames = serviceNamesOf(config.mfaIssuer, config.mail.from);
  const accounts = new AccountsService({
    users,
    identity,
    lockout,
    lock,
    verification,
    sessions,
    hasher,
    signIn,
    mfa,
    passwordMinLength: config.auth.passwordMinLength,
    limits,
    audit: auditTrail,
    passwordServiceNames,
    signals: alerts,
  });
  const passwordReset = new PasswordResetService({
    outbox,
    users,
    tokens: oneTimeTokens,
    sessions,
    hasher,
    mail,
    sealer,
    lockout,
    passwordMinLength: config.auth.passwordMinLength,
    passwordServiceNames,
    appUrl: config.http.appUrl,
    audit: auditTrail,
  });
  const adminRepo = new AdminRepository(prisma);
  const lifecycle = new AccountLifecycle({
    repo: adminRepo,
    identity,
    sessions,
    mfa,
    lock,
    owner: accounts,
    pubsub: infra.pubsub,
    log,
    adminEmails: config.adminEmails,
  });
  const admin = new AdminService({ repo: adminRepo, lifecycle, sessions, limits });
  const magicLink = new MagicLinkService({ outbox, users, tokens: oneTimeTokens, mail, sealer, signIn, mfa, profiles, appUrl: config.http.appUrl });
  const passkeys = new PasskeysService({
    repo: new PasskeysRepository(prisma),
    challenges: new PasskeyChallenges(redis, config.redis.keyPrefix, { ipv6Prefix: config.rateLimitIpv6Prefix }),
    identity,
    users,
    sessions,
    mfa,
    limits,
    failures: lock.failures,
    signIn,
    audit: auditTrail,
    signals: alerts,
    mail,
    decoyKey: infra.appSecrets.ring('passkey-decoy').current.key,
    relyingParty: config.webauthn,
    appUrl: config.http.appUrl,
    log,
  });
  const eventsRepo = new SecurityEventsRepository(prisma);
  const securityEvents = new SecurityEventsService(eventsRepo);
  const publisher = new SecurityEventPublisher(eventsRepo, infra.pubsub, infra.databaseUrl, log);
  const auditSealer = new AuditSealer({ repo: auditSeals, sealKey: infra.appSecrets.ring('audit-seal'), pubsub: infra.pubsub, databaseUrl: infra.databaseUrl, log });
  const webhooksRepo = new WebhooksRepository(prisma);
  const webhookPolicy = { allowPrivateNetworks: config.webhooks.allowPrivateNetworks };
  const webhooks = new WebhooksService({
    repo: webhooksRepo,
    sealer,
    outbox,
    relay,
    limits,
    policy: { ...webhookPolicy, httpsOnly: config.isProduction },
  });
  // Every committed audit entry that is a webhook event becomes its deliveries, in the sealing transaction.
  auditSealer.onSealed({ within: (tx, entries) => webhooks.fanOut(tx, entries), committed: () => relay.nudge() });
  const webhookWorker = {
    repo: webhooksRepo,
    sealer,
    http: new WebhookHttp({ ...webhookPolicy, timeoutMs: WEBHOOK_TIMEOUT_MS, maxResponseBytes: 4_096 }),
    gates: new EndpointGates({ maxInFlight: 16, threshold: 3, baseOpenMs: 1_000, maxOpenMs: 60_000, saturatedMs: 2_000 }),
    // While a circuit is open the endpoint's deliveries wait in PostgreSQL; one probe per endpoint tests it.
    hold: new DeliveryHold({ repo: webhooksRepo, outbox, relay, queues: infra.queues, log, opts: { baseMs: 1_000, maxMs: 60_000 } }),
    maxAttempts: config.webhooks.maxAttempts,
    retryDelayMs: config.webhooks.retryDelayMs,
    disableAfterMs: config.webhooks.disableAfterMs,
    log,
  };
  return {
    config,
    log,
    webhooks,
    webhookWorker,
    metrics: infra.metrics,
    alerts,
    queues: infra.queues,
    health,
    tokens,
    sessions,
    hasher,
    identity,
    accounts,
    signIn,
    lock,
    verification,
    passwordReset,
    magicLink,
    passkeys,
    signInDenial,
    securityEvents,
    publisher,
    audit: new AuditService(auditRepo),
    auditTrail,
    auditSealer,
    auditRetention: new AuditRetention({ repo: auditSeals, retentionDays: config.audit.retentionDays }),
    limits,
    lockout,
    mfa,
    lifecycle,
    admin,
    auth: new AuthGuard(sessions),
    sessionCookies: new SessionCookies(
      sessionCookiePolicy({ isProduction: config.isProduction, publicUrl: config.http.publicUrl, refreshTokenTtl: config.auth.refreshTokenTtl }),
      sessions,
    ),
    relay,
    outbox,
    mail,
    mailRepo,
    sender,
    renderer: mailRenderer,
    devOutbox,
    maintenance: new MaintenanceRepository(prisma, config.auth.refreshReuseGrace),
    serviceKeys: new ServiceKeysService({ repo: new ServiceKeysRepository(prisma), cache: new ServiceKeyCache(redis, config.redis.keyPrefix), limits }),
    introspection: new Introspection({ tokens, sessions, issuer: config.http.publicUrl, audience: AUDIENCE }),
  };
}

export type Services = ReturnType<typeof buildServices>;

/**
 * Job options of the queues fed by the outbox: each of those jobs ends in an email, so they retry on
 * the mail policy (EMAIL_MAX_ATTEMPTS, EMAIL_RETRY_DELAY_MS).
 */
function outboxJobOptions(infra: Infra): RelayOptions['jobOptions'] {
  const retry = { attempts: infra.config.mail.maxAttempts, backoff: { type: 'exponential', delay: infra.config.mail.retryDelayMs } };
  const queues = FEATURES.flatMap((m) => Object.entries(m.jobs ?? {}).filter(([, job]) => job.viaOutbox).map(([queue]) => queue as QueueName));
  return {
    ...Object.fromEntries(queues.map((queue) => [queue, retry])),
    // Webhooks retry on their own policy (WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETRY_DELAY_MS, doubling).
    // The delivery row holds each attempt's error: BullMQ need not store stack traces of receivers' failures.
    'webhook-delivery': { attempts: infra.config.webhooks.maxAttempts, backoff: { type: 'exponential', delay: infra.config.webhooks.retryDelayMs }, stackTraceLimit: 0 },
  };
}

/** Loads what the first request would otherwise pay for (the dummy hash: its timing must match a real one). */
export async function warmUp(services: Services): Promise<void> {
  preloadCommonPasswords();
  await services.hasher.warmUp();
}

/**
 * What an API process settles before it serves: ADMIN_EMAILS, for accounts whose listed address was verified
 * before (each promotion audited; concurrent starts promote an account once).
 */
export async function prepareStart(s: Services): Promise<void> {
  const promoted = await s.lifecycle.promoteListedAdmins();
  if (promoted > 0) s.log.info({ promoted }, 'ADMIN_EMAILS: verified accounts made ADMIN');
}

export function appDeps(infra: Infra, s: Services): AppDeps {
  const rootRoutes: FastifyPluginAsync[] = FEATURES.flatMap((m) => m.rootRoutes?.(s) ?? []);
  // The dev outbox lists mail with live links: development only, never in production.
  if (s.devOutbox && !infra.config.isProduction) rootRoutes.push(devMailRoutes(s.devOutbox));
  return {
    config: infra.config,
    log: infra.log,
    metrics: infra.metrics,
    keys: infra.keys,
    health: s.health,
    limits: s.limits,
    resolverClasses: RESOLVERS,
    resolvers: RESOLVER_BINDINGS.map((b) => b.make(s)),
    restRoutes: FEATURES.flatMap((m) => m.routes?.(s) ?? []),
    rootRoutes,
    adminRoutes: FEATURES.flatMap((m) => m.adminRoutes?.(s) ?? []),
    requireRole: (ctx, role) => s.auth.requireRole(ctx, role),
    realtime: {
      pubSub: infra.pubsub,
      authenticate: (authorization) => s.sessions.authenticate(authorization),
      recheck: (p) => s.sessions.checkSession(p.userId, p.sessionId),
      sessionEnded: () => infra.pubsub.subscribe('sessionEnded', 'all'),
      link: infra.pubsubLink,
    },
  };
}

/**
 * Background loops every process runs (API and worker): the outbox relay (committed jobs reach BullMQ),
 * the security-event publisher (committed events reach subscribers on every instance) and the audit
 * sealer (committed audit entries join the hash chain, reach the log and every operator's subscription).
 */
export async function startRelay(s: Services): Promise<{ stop(): Promise<void> }> {
  s.relay.start();
  await s.publisher.start();
  await s.auditSealer.start();
  return {
    async stop() {
      await s.relay.stop();
      await s.publisher.stop();
      await s.auditSealer.stop();
    },
  };
}

/** Queues fed by the outbox: a job's row is settled (deleted) when the job is over. */
const OUTBOX_QUEUES: ReadonlySet<QueueName> = new Set(FEATURES.flatMap((m) => Object.entries(m.jobs ?? {}).filter(([, job]) => job.viaOutbox).map(([queue]) => queue as QueueName)));

/** Queues whose failed attempts are logged at debug until the last one. */
const QUIET_RETRIES: ReadonlySet<QueueName> = new Set(FEATURES.flatMap((m) => Object.entries(m.jobs ?? {}).filter(([, job]) => job.quietRetries).map(([queue]) => queue as QueueName)));

/** Every BullMQ worker of the process, from the manifests; `close()` lets running jobs finish. */
export async function startWorkers(infra: Infra, s: Services) {
  const workers: Worker[] = [];
  for (const start of FEATURES.flatMap((m) => m.workers ?? [])) workers.push(await start(s));
  for (const w of workers) {
    const quiet = QUIET_RETRIES.has(w.name as QueueName);
    const outboxFed = OUTBOX_QUEUES.has(w.name as QueueName);
    // A job that is over needs no re-offer after a Redis loss; a settle that fails only costs one, idempotent.
    const settle = (id: string | undefined) => {
      if (outboxFed && id) s.outbox.settle(w.name as QueueName, id).catch((err: unknown) => infra.log.debug({ err, jobId: id, queue: w.name }, 'outbox: could not settle a finished job'));
    };
    w.on('failed', (job, err) => {
      infra.metrics.jobs.inc({ queue: w.name, outcome: 'failed' });
      // Queues whose rows record every attempt (webhooks: a dead receiver fails thousands) log a retry at
      // debug; the last failure (attempts spent, or not retried at all) stays a warning.
      const final = !job || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (final) settle(job?.id);
      const line = { err, jobId: job?.id, queue: w.name, attemptsMade: job?.attemptsMade };
      if (quiet && !final) infra.log.debug(line, 'job attempt failed; will retry');
      else infra.log.warn(line, final && quiet ? 'job failed: no attempts left' : 'job attempt failed');
    });
    w.on('completed', (job) => {
      infra.metrics.jobs.inc({ queue: w.name, outcome: 'completed' });
      settle(job.id);
    });
    w.on('error', (err) => infra.log.warn({ err, queue: w.name }, 'worker error'));
  }
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
