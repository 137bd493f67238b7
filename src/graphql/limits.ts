import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import type { GraphQLError, ValidationContext, ValidationRule } from 'graphql';

/**
 * Shape limits for every document, on HTTP and WebSocket alike (graphql-armor's validation rules).
 * The deepest legitimate operation (`securityEvents { edges { node { ... } } }`) is 4 levels; the
 * largest legitimate batch of aliases is a handful. Errors do not reveal the limits themselves.
 */
export const DOCUMENT_LIMITS = { maxDepth: 8, maxAliases: 15, maxCost: 5_000, maxDirectives: 30, maxTokens: 2_000 } as const;

/**
 * Armor's rules throw by default, which Apollo treats as an internal error (500). Reported through the
 * validation context instead, a refusal is an ordinary GRAPHQL_VALIDATION_FAILED, on both doors.
 */
const report = {
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, err: GraphQLError) => ctx?.reportError(err)],
  exposeLimits: false,
};

export const documentRules = (): ValidationRule[] =>
  [
    maxDepthRule({ n: DOCUMENT_LIMITS.maxDepth, ignoreIntrospection: true, ...report }),
    maxAliasesRule({ n: DOCUMENT_LIMITS.maxAliases, allowList: [], ...report }),
    costLimitRule({ maxCost: DOCUMENT_LIMITS.maxCost, ignoreIntrospection: true, ...report }),
    maxDirectivesRule({ n: DOCUMENT_LIMITS.maxDirectives, ...report }),
  ] as unknown as ValidationRule[]; // armor types its rules against its own copy of graphql's ValidationContext
