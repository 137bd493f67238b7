/** Where GraphiQL lives; kept apart from graphiql.ts so production never loads ruru. */
export const GRAPHIQL_PATH = '/graphiql';

/** A browser navigating to GET /graphql gets GraphiQL; API clients sending GET queries do not. */
export const wantsHtml = (accept: string | undefined): boolean => !!accept && accept.includes('text/html');
