import { AppError } from '../../infra/errors.js';
import { parseInput } from '../../infra/validation.js';
import type { Principal } from '../../core/request.js';
import type { SecurityEventsRepository, StoredSecurityEvent } from './security-events.repository.js';
import { markReadSchema, pageSchema } from './security-events.schema.js';

export interface EventPage {
  edges: { cursor: string; node: StoredSecurityEvent }[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Opaque to clients; inside, the keyset position (occurred_at, id) of an event. */
const encodeCursor = (e: StoredSecurityEvent) => Buffer.from(`${e.occurredAt.toISOString()}|${e.id}`).toString('base64url');

function decodeCursor(cursor: string): { occurredAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const occurredAt = new Date(at ?? '');
  if (!id || Number.isNaN(occurredAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('BAD_USER_INPUT', 'The cursor is not one this API gave out', { fields: { after: 'is not a valid cursor' } });
  }
  return { occurredAt, id };
}

/** The user's security-event log: paging through it and marking events read. Publishing lives in the publisher. */
export class SecurityEventsService {
  constructor(private readonly repo: SecurityEventsRepository) {}

  async page(principal: Principal, input: { first: number; after?: string | null }): Promise<EventPage> {
    const { first, after } = parseInput(pageSchema, { first: input.first, ...(input.after ? { after: input.after } : {}) });
    const rows = await this.repo.page(principal.userId, first + 1, after ? decodeCursor(after) : undefined);
    const page = rows.slice(0, first);
    const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  markRead(principal: Principal, ids: unknown): Promise<number> {
    const parsed = parseInput(markReadSchema, { ids });
    return parsed.ids.length === 0 ? Promise.resolve(0) : this.repo.markRead(principal.userId, parsed.ids, new Date());
  }
}
