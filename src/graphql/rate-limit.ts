import { createMethodMiddlewareDecorator, type MiddlewareFn } from 'type-graphql';
import { byAddress, type LimitDeclaration } from '../infra/limit-spec.js';
import type { GraphQLContext } from './context.js';

/**
 * Per-field rate limits in the spirit of graphql-rate-limit's `@rateLimit`: a limit declared once in the
 * feature's `*.limits.ts` (the REST route counts the same one), enforced where the field resolves, so
 * every alias and every operation of a request counts, and before the resolver does any work (a password
 * check never runs past the limit). `input` picks what the service will receive (the arguments by default).
 */
export function RateLimited<Args = Record<string, unknown>>(limit: LimitDeclaration, input: (args: Args) => unknown = (args) => args) {
  return createMethodMiddlewareDecorator<GraphQLContext>(async ({ args, context }, next) => {
    for (const [name, parts] of limit(input(args as Args), byAddress(context.meta.ip))) await context.limits.consume(name, parts, context.meta);
    return next();
  });
}

/**
 * The general per-IP budget: one point per root field of every query and mutation (aliases included).
 * The HTTP door charges one point per request before the body is read (app.ts), which pays for the
 * first root field: `{ me }` costs one point, `{ __typename }` one, `{ a: me b: me c: me }` three, and an
 * ordinary request makes one Redis round trip for the budget, not two.
 * Object types are declared with `simpleResolvers`, so this middleware runs on root fields, not on every
 * field of every object (a subscription delivery would otherwise pay for it per field per socket).
 */
export const GeneralBudget: MiddlewareFn<GraphQLContext> = async ({ info, context }, next) => {
  if (info.parentType === info.schema.getQueryType() || info.parentType === info.schema.getMutationType()) {
    const prepaid = context.generalPrepaid;
    if (prepaid && prepaid.points > 0) prepaid.points -= 1;
    else await context.limits.consume('general', [byAddress(context.meta.ip)]);
  }
  return next();
};
