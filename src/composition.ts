import type { FastifyPluginAsync } from 'fastify';
import type { ResolverClasses } from './graphql/schema.js';
import type { AppDeps } from './app.js';
import { Sealer } from './infra/crypto/sealed.js';
import { createDevOutbox } from './infra/mail/dev-outbox.js';
import { devMailRoutes } from './infra/mail/dev-mail.routes.js';
import { createResendSender, type MailSender } from './infra/mail/sender.js';
import { Outbox, OutboxRelay } from './infra/outbox/outbox.js';
import { Limits } from './infra/rate-limit.js';
import { Lockout } from './modules/accounts/lockout.js';
import { SignIn } from './modules/accounts/sign-in.js';
import { ProfileCache, profileKey } from './modules/identity/profile-cache.js';
import { IdentityResolver } from './modules/identity/identity.resolver.js';
import { IdentityService } from './modules/identity/identity.service.js';
import { AccountLock } from './modules/accounts/account-lock.js';
import { MfaRepository } from './modules/mfa/mfa.repository.js';
import { MfaResolver } from './modules/mfa/mfa.resolver.js';
import { mfaRoutes } from './modules/mfa/mfa.routes.js';
import { MfaService } from './modules/mfa/mfa.service.js';
import type { Infra } from './infra/runtime.js';
import { pingRedis } from './infra/redis.js';
import { pingPostgres } from './infra/db/index.js';
import { UsersRepository } from './modules/identity/users.repository.js';
import { AccountsResolver } from './modules/accounts/accounts.resolver.js';
import { accountsRoutes } from './modules/accounts/accounts.routes.js';
import { AccountsService } from './modules/accounts/accounts.service.js';
import { PasswordHasher } from './modules/identity/password.js';
import { preloadCommonPasswords, serviceNamesOf } from './modules/identity/password-policy.js';
import { EmailVerificationResolver } from './modules/email-verification/verification.resolver.js';
import { verificationRoutes } from './modules/email-verification/verification.routes.js';
import { EmailVerificationService } from './modules/email-verification/verification.service.js';
import { HealthResolver } from './modules/health/health.resolver.js';
import { HealthService } from './modules/health/health.service.js';
import { MailRepository } from './modules/mail/mail.repository.js';
import { MailService } from './modules/mail/mail.service.js';
import { emailProcessor } from './modules/mail/mail.worker.js';
import { MaintenanceRepository } from './modules/maintenance/maintenance.repository.js';
import { startMaintenanceWorker } from './modules/maintenance/maintenance.worker.js';
import { OneTimeTokensRepository } from './modules/one-time-tokens/one-time-tokens.repository.js';
import { PasswordResetResolver } from './modules/password-reset/password-reset.resolver.js';
import { passwordResetRoutes } from './modules/password-reset/password-reset.routes.js';
import { PasswordResetService } from './modules/password-reset/password-reset.service.js';
import { startPasswordResetWorker } from './modules/password-reset/password-reset.worker.js';
import { AccessTokens } from './modules/sessions/access-token.js';
import { AuthGuard } from './modules/sessions/auth.guard.js';
import { SessionCache } from './modules/sessions/session-cache.js';
import { SessionsRepository } from './modules/sessions/sessions.repository.js';
import { SessionsResolver } from './modules/sessions/sessions.resolver.js';
import { sessionsRoutes } from './modules/sessions/sessions.routes.js';
import { SessionsService } from './modules/sessions/sessions.service.js';
import { SecurityEventPublisher } from './modules/security-events/security-events.publisher.js';
import { SecurityEventsRepository } from './modules/security-events/security-events.repository.js';
import { SecurityEventsResolver } from './modules/security-events/security-events.resolver.js';
import { SecurityEventsService } from './modules/security-events/security-events.service.js';

/** Every resolver class of the API; `appDeps` supplies their instances. */
export const RESOLVERS: ResolverClasses = [HealthResolver, IdentityResolver, AccountsResolver, SessionsResolver, EmailVerificationResolver, PasswordResetResolver, SecurityEventsResolver, MfaResolver];

/**
 * The one place that wires services to infrastructure and to their doors (kratos' registry idea,
 * without a container): each service gets the narrow dependencies it declares.
 */
export function buildServices(infra: Infra) {
  const { config, prisma, redis, log } = infra;
  const health = new HealthService({
    postgres: () => pingPostgres(prisma),
    redis: () => pingRedis(redis),
  });
  const tokens = new AccessTokens(infra.keys, { issuer: config.http.publicUrl, ttlSeconds: config.auth.accessTokenTtl });
  const profiles = new ProfileCache(redis, config.redis.keyPrefix);
  const sessions = new SessionsService({
    profileKey: (userId) => profileKey(config.redis.keyPrefix, userId),
    repo: new SessionsRepository(prisma),
    // A revoked marker outlives every access token of the session (plus clock skew).
    cache: new SessionCache(redis, config.redis.keyPrefix, config.auth.accessTokenTtl + 60),
    tokens,
    log,
    refreshTtlSeconds: config.auth.refreshTokenTtl,
    idleTtlSeconds: config.auth.sessionIdleTtl,
    reauthMaxAgeSeconds: config.auth.reauthMaxAge,
  });
  const hasher = new PasswordHasher({ pepper: infra.appSecrets.ring('password-pepper'), cost: config.auth.bcryptCost });

  const retry = { attempts: config.mail.maxAttempts, backoff: { type: 'exponential', delay: config.mail.retryDelayMs } };
  const relay = new OutboxRelay(prisma, infra.queues, log, { pollMs: config.jobs.outboxPollMs, jobOptions: { email: retry, 'password-reset': retry } });
  const mailRepo = new MailRepository(prisma);
  const sealer = new Sealer(infra.appSecrets.ring('data-encryption'));
  const outbox = new Outbox(prisma);
  const mail = new MailService(mailRepo, sealer, relay, outbox);
  const devOutbox = config.mail.resendApiKey ? undefined : createDevOutbox(redis, config.redis.keyPrefix, log, { sealer });
  const sender: MailSender = devOutbox ?? createResendSender({ apiKey: config.mail.resendApiKey!, baseUrl: config.mail.resendBaseUrl });

  const users = new UsersRepository(prisma);
  const identity = new IdentityService({ users, profiles });
  const oneTimeTokens = new OneTimeTokensRepository(prisma);
  const verification = new EmailVerificationService({ users, identity, tokens: oneTimeTokens, mail, profiles, publicUrl: config.http.publicUrl });
  const limits = new Limits(redis, config.redis.keyPrefix, config.limits, config.rateLimitIpv6Prefix);
  const lockout = new Lockout(redis, config.redis.keyPrefix, config.lockout);
  const signIn = new SignIn({ users, sessions, hasher, mail, sessionsUrl: `${config.http.appUrl}/sessions` });
  // Wrong codes feed the same failure ceiling as wrong passwords.
  const lock = new AccountLock({ users, lockout, tokens: oneTimeTokens, mail, sessions, publicUrl: config.http.publicUrl });
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
    issuer: config.mfaIssuer,
    appUrl: config.http.appUrl,
  });
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
    passwordServiceNames: serviceNamesOf(config.mfaIssuer, config.mail.from),
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
    passwordServiceNames: serviceNamesOf(config.mfaIssuer, config.mail.from),
    appUrl: config.http.appUrl,
  });
  const eventsRepo = new SecurityEventsRepository(prisma);
  const securityEvents = new SecurityEventsService(eventsRepo);
  const publisher = new SecurityEventPublisher(eventsRepo, infra.pubsub, infra.databaseUrl, log);
  return {
    health,
    tokens,
    sessions,
    hasher,
    identity,
    accounts,
    lock,
    verification,
    passwordReset,
    securityEvents,
    publisher,
    limits,
    lockout,
    mfa,
    auth: new AuthGuard(sessions),
    relay,
    mail,
    mailRepo,
    sender,
    devOutbox,
  };
}

export type Services = ReturnType<typeof buildServices>;

/** Loads what the first request would otherwise pay for (the dummy hash: its timing must match a real one). */
export async function warmUp(services: Services): Promise<void> {
  preloadCommonPasswords();
  await services.hasher.warmUp();
}

export function appDeps(infra: Infra, s: Services): AppDeps {
  const rootRoutes: FastifyPluginAsync[] = [];
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
    resolvers: [
      new HealthResolver(s.health),
      new IdentityResolver(s.identity, s.auth),
      new AccountsResolver(s.accounts, s.lock, s.auth),
      new SessionsResolver(s.sessions, s.auth),
      new EmailVerificationResolver(s.verification, s.auth),
      new PasswordResetResolver(s.passwordReset),
      new SecurityEventsResolver(s.securityEvents, s.auth),
      new MfaResolver(s.mfa, s.auth),
    ],
    restRoutes: [
      accountsRoutes(s.accounts, s.lock, s.limits, infra.config.http.appUrl),
      sessionsRoutes(s.sessions, s.limits),
      verificationRoutes(s.verification, infra.config.http.appUrl),
      passwordResetRoutes(s.passwordReset, s.limits),
      mfaRoutes(s.mfa),
    ],
    rootRoutes,
    realtime: {
      pubSub: infra.pubsub,
      authenticate: (authorization) => s.sessions.authenticate(authorization),
      recheck: (p) => s.sessions.checkSession(p.userId, p.sessionId),
      sessionEnded: () => infra.pubsub.subscribe('sessionEnded', 'all'),
    },
  };
}

/**
 * Background loops every process runs (API and worker): the outbox relay (committed jobs reach BullMQ)
 * and the security-event publisher (committed events reach subscribers on every instance).
 */
export async function startRelay(s: Services): Promise<{ stop(): Promise<void> }> {
  s.relay.start();
  await s.publisher.start();
  return {
    async stop() {
      await s.relay.stop();
      await s.publisher.stop();
    },
  };
}

/** Every BullMQ worker of the process; `close()` lets running jobs finish. */
export async function startWorkers(infra: Infra, s: Services) {
  const workers = [
    await startMaintenanceWorker(infra.queues, new MaintenanceRepository(infra.prisma), infra.log),
    infra.queues.worker('email', emailProcessor({ repo: s.mailRepo, mail: s.mail, sender: s.sender, from: infra.config.mail.from, log: infra.log, metrics: infra.metrics }), { concurrency: 8 }),
    startPasswordResetWorker(infra.queues, s.passwordReset, infra.log),
  ];
  for (const w of workers) {
    w.on('failed', (job, err) => {
      infra.metrics.jobs.inc({ queue: w.name, outcome: 'failed' });
      infra.log.warn({ err, jobId: job?.id, queue: w.name, attemptsMade: job?.attemptsMade }, 'job attempt failed');
    });
    w.on('completed', () => infra.metrics.jobs.inc({ queue: w.name, outcome: 'completed' }));
    w.on('error', (err) => infra.log.warn({ err, queue: w.name }, 'worker error'));
  }
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
