import { AsyncLocalStorage } from 'node:async_hooks';

/** Per-request context that follows async work, so lines logged by services carry the request's id. */
export interface RequestContext {
  readonly requestId: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();
