import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError, type GraphQLSchema, type ValidationRule } from 'graphql';
import { DOCUMENT_LIMITS } from './limits.js';
import type { Metrics } from '../infra/metrics.js';
import type { GraphQLContext } from './context.js';
import { appErrorOf, formatGraphQLError, isClientSafe, rootCause } from './errors.js';
import { operationLabeler } from './operation-label.js';

export interface ApolloOptions {
  schema: GraphQLSchema;
  validationRules: ValidationRule[];
  metrics: Metrics;
  introspection: boolean;
}

export function createApollo({ schema, metrics, introspection, validationRules }: ApolloOptions): ApolloServer<GraphQLContext> {
  return new ApolloServer<GraphQLContext>({
    schema,
    validationRules,
    // A token cap at parse time: a huge document is refused before any validation work.
    parseOptions: { maxTokens: DOCUMENT_LIMITS.maxTokens },
    introspection,
    formatError: formatGraphQLError,
    includeStacktraceInErrorResponses: false,
    // Hides "did you mean" suggestions, which would let a client map a schema whose introspection is off.
    hideSchemaDetailsFromClientErrors: true,
    // Every operation is a document we can see and limit; no hash-only queries, no batches to hide aliases in.
    persistedQueries: false,
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    // Apollo's own SIGTERM handler re-raises the signal and kills the process mid-drain; runProcess owns shutdown.
    stopOnTerminationSignals: false,
    plugins: [
      // Apollo's default landing page loads from a CDN; GraphiQL is served by us (graphiql.ts).
      ApolloServerPluginLandingPageDisabled(),
      observabilityPlugin(metrics, schema),
    ],
  });
}

/**
 * Metrics per operation, labelled by the root field it selects (a bounded set: never the client's
 * operationName), and the cause of every unexpected error logged on the request's own logger.
 */
function observabilityPlugin(metrics: Metrics, schema: GraphQLSchema): ApolloServerPlugin<GraphQLContext> {
  const operationLabel = operationLabeler(schema);
  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      let failed = false;
      return {
        // Subscriptions live on the WebSocket; over HTTP Apollo would run the field once with no event.
        async didResolveOperation({ operation }) {
          if (operation?.operation === 'subscription') {
            throw new GraphQLError('Subscriptions go over the WebSocket (graphql-transport-ws) on /graphql, not HTTP', {
              extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
            });
          }
        },
        async didEncounterErrors({ errors, contextValue }) {
          failed = true;
          for (const error of errors) {
            if (!isClientSafe(error)) contextValue.log.error({ err: rootCause(error), path: error.path }, 'graphql resolver failed');
            // Outages are answered to the client as SERVICE_UNAVAILABLE; operators need the cause.
            else if (appErrorOf(error)?.code === 'SERVICE_UNAVAILABLE') contextValue.log.warn({ err: rootCause(error), path: error.path }, 'dependency unavailable');
          }
        },
        async willSendResponse({ operation, document, contextValue }) {
          const labels = { operation: operationLabel(operation, document), type: operation?.operation ?? 'unknown' };
          contextValue.noteOperation?.(labels.operation);
          metrics.graphqlOperations.inc({ ...labels, outcome: failed ? 'error' : 'ok' });
          metrics.graphqlDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
        },
      };
    },
  };
}
