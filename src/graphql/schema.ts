import 'reflect-metadata';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLSchema } from 'graphql';
import { GeneralBudget } from './rate-limit.js';
import { buildSchema, type ContainerType, type NonEmptyArray, type PubSub } from 'type-graphql';
import { AccountsResolver } from '../modules/accounts/accounts.resolver.js';
import { EmailVerificationResolver } from '../modules/email-verification/verification.resolver.js';
import { HealthResolver } from '../modules/health/health.resolver.js';
import { IdentityResolver } from '../modules/identity/identity.resolver.js';
import { PasswordResetResolver } from '../modules/password-reset/password-reset.resolver.js';
import { SecurityEventsResolver } from '../modules/security-events/security-events.resolver.js';
import { MfaResolver } from '../modules/mfa/mfa.resolver.js';
import { SessionsResolver } from '../modules/sessions/sessions.resolver.js';

/** Every resolver class of the API; the composition root supplies their instances through the container. */
// type-graphql types resolver classes as bare Function.
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const RESOLVERS: NonEmptyArray<Function> = [HealthResolver, IdentityResolver, AccountsResolver, SessionsResolver, EmailVerificationResolver, PasswordResetResolver, SecurityEventsResolver, MfaResolver];

/** Printing the schema needs no live pub/sub; subscribing through this one is a wiring bug. */
const NO_PUBSUB: PubSub = {
  publish: () => {
    throw new Error('no pub/sub wired');
  },
  subscribe: () => {
    throw new Error('no pub/sub wired');
  },
};

/** Builds the executable schema. Without a container and pub/sub it is only good for printing (`schema:emit`). */
export function buildGraphQLSchema(container?: ContainerType, pubSub: PubSub = NO_PUBSUB): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: RESOLVERS,
    container,
    pubSub,
    // CONTRACT.md names the scalar `DateTime`; type-graphql's default would be `DateTimeISO`.
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    // Every root field of every query and mutation draws on the caller's general budget.
    globalMiddlewares: [GeneralBudget],
    validate: false,
  });
}

/** A container over instances built by hand in the composition root (no DI framework). */
export function instanceContainer(instances: object[]): ContainerType {
  const byClass = new Map<unknown, object>(instances.map((i) => [i.constructor, i]));
  return {
    get(cls) {
      const found = byClass.get(cls);
      if (!found) throw new Error(`no instance wired for resolver ${(cls as { name?: string }).name ?? '?'}`);
      return found;
    },
  };
}
