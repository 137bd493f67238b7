import { randomUUID } from 'node:crypto';
import type { Authenticated, RequestMeta } from '../../core/request.js';
import type { Tx } from '../../core/tx.js';
import type { Sealer } from '../../infra/crypto/sealed.js';
import { AppError } from '../../infra/errors.js';
import { byAddress } from '../../infra/limit-spec.js';
import type { Outbox, OutboxRelay } from '../../infra/outbox/outbox.js';
import type { Limits } from '../../infra/rate-limit.js';
import { parseInput } from '../../infra/validation.js';
import { adminLimit } from '../admin/admin.limits.js';
import type { StoredAuditEntry } from '../audit/audit-entry.js';
import { recordAudit } from '../audit/audit.repository.js';
import { requireRole } from '../identity/account-standing.js';
import { bodyOf, eventOf, newMessageId, newSecret } from './webhook-events.js';
import { resolveAllowed, UnsafeAddressError, type AddressPolicy } from './webhook-http.js';
import type { DeliveryRecord, EndpointRecord, NewDelivery, WebhooksRepository } from './webhooks.repository.js';
import { createEndpointSchema, deliveriesSchema, deliveryIdSchema, endpointIdSchema, updateEndpointSchema } from './webhooks.schema.js';

/** After a rotation the old secret signs alongside the new one this long, so receivers can switch without a gap. */
export const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

export interface WebhooksDeps {
  repo: WebhooksRepository;
  sealer: Sealer;
  outbox: Pick<Outbox, 'addMany'>;
  relay: Pick<OutboxRelay, 'nudge'>;
  limits: Pick<Limits, 'consumeAll'>;
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS, and whether plain http is refused (production). */
  policy: AddressPolicy & { httpsOnly: boolean };
  now?: () => Date;
}

export interface DeliveryPage {
  edges: { cursor: string; node: DeliveryRecord }[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** The secret is bound to its endpoint: a sealed value copied to another row does not open. */
export const secretContext = (endpointId: string) => `webhook-endpoint:${endpointId}`;

const noSuchEndpoint = () => new AppError('BAD_USER_INPUT', 'No webhook endpoint has this id', { fields: { id: 'no such endpoint' } });

const encodeCursor = (d: DeliveryRecord) => Buffer.from(`${d.createdAt.toISOString()}|${d.id}`).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('BAD_USER_INPUT', 'The cursor is not one this API gave out', { fields: { after: 'is not a valid cursor' } });
  }
  return { createdAt, id };
}

/**
 * Webhook endpoints for ADMINs (create, update, delete, rotate, list deliveries, redeliver), each change
 * audited in its transaction, and the fan-out that turns committed audit entries into deliveries.
 */
export class WebhooksService {
  private readonly now: () => Date;

  constructor(private readonly deps: WebhooksDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async endpoints(caller: Authenticated, meta: RequestMeta): Promise<EndpointRecord[]> {
    await this.authorize(caller, meta);
    return this.deps.repo.listEndpoints();
  }

  /** Creates an endpoint; its secret is returned here and at rotations only (stored sealed). */
  async create(caller: Authenticated, input: unknown, meta: RequestMeta): Promise<{ endpoint: EndpointRecord; secret: string }> {
    await this.authorize(caller, meta);
    const { url, events, description } = parseInput(createEndpointSchema, input);
    const checked = await this.checkUrl(url);
    const id = randomUUID();
    const secret = newSecret();
    const endpoint = await this.deps.repo.transaction(async (tx) => {
      const row = await this.deps.repo.createEndpoint(tx, { id, url: checked, events, description: description || null, secretSealed: this.deps.sealer.seal(secret, secretContext(id)) });
      await this.audit(tx, meta, caller, 'webhook.endpoint_created', { endpointId: id, origin: new URL(checked).origin, events });
      return row;
    });
    return { endpoint, secret };
  }

  async update(caller: Authenticated, input: unknown, meta: RequestMeta): Promise<EndpointRecord> {
    await this.authorize(caller, meta);
    const { id, url, events, description, enabled } = parseInput(updateEndpointSchema, input);
    const checked = url === undefined ? undefined : await this.checkUrl(url);
    return this.deps.repo.transaction(async (tx) => {
      const current = await this.deps.repo.lockEndpoint(tx, id);
      if (!current) throw noSuchEndpoint();
      const data = {
        ...(checked !== undefined ? { origin: new URL(checked).origin } : {}),
        ...(events !== undefined ? { events } : {}),
        ...(description !== undefined ? { description: description || null } : {}),
        // Turned back on, it starts afresh: no failure streak, no system reason.
        ...(enabled !== undefined ? { enabled, ...(enabled ? { disabledReason: null, failingSince: null } : { disabledReason: 'operator' }) } : {}),
      };
      // Nothing to change: the endpoint as it is, and no audit entry.
      if (Object.keys(data).length === 0) return current;
      const row = await this.deps.repo.updateEndpoint(tx, id, data);
      await this.audit(tx, meta, caller, 'webhook.endpoint_updated', { endpointId: id, changed: Object.keys(data).filter((k) => k !== 'disabledReason' && k !== 'failingSince'), ...(checked !== undefined ? { origin: new URL(checked).origin } : {}), ...(enabled !== undefined ? { enabled } : {}) });
      return row;
    });
  }

  async delete(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<boolean> {
    await this.authorize(caller, meta);
    const input = parseInput(endpointIdSchema, { id });
    return this.deps.repo.transaction(async (tx) => {
      const current = await this.deps.repo.lockEndpoint(tx, input.id);
      if (!current) throw noSuchEndpoint();
      await this.deps.repo.deleteEndpoint(tx, input.id);
      await this.audit(tx, meta, caller, 'webhook.endpoint_deleted', { endpointId: input.id, origin: new URL(current.url).origin });
      return true;
    });
  }

  /**
   * A new secret, returned once. The one it replaces keeps signing (both signatures in the header) for 24
   * hours; a secret older than that (from a rotation before) stops signing now.
   */
  async rotate(caller: Authenticated, id: unknown, meta: RequestMeta): Promise<{ endpoint: EndpointRecord; secret: string }> {
    await this.authorize(caller, meta);
    const input = parseInput(endpointIdSchema, { id });
    const secret = newSecret();
    const endpoint = await this.deps.repo.transaction(async (tx) => {
      const current = await this.deps.repo.lockEndpoint(tx, input.id);
      if (!current) throw noSuchEndpoint();
      const row = await this.deps.repo.setSecrets(tx, input.id, {
        secretSealed: this.deps.sealer.seal(secret, secretContext(input.id)),
        previousSecretSealed: current.secretSealed,
        previousSecretUntil: new Date(this.now().getTime() + ROTATION_OVERLAP_MS),
      });
      await this.audit(tx, meta, caller, 'webhook.secret_rotated', { endpointId: input.id });
      return row;
    });
    return { endpoint, secret };
  }

  /** Attempts of an endpoint's messages, newest first. */
  async deliveries(caller: Authenticated, input: unknown, meta: RequestMeta): Promise<DeliveryPage> {
    await this.authorize(caller, meta);
    const { endpointId, first, after } = parseInput(deliveriesSchema, input);
    if (!(await this.deps.repo.endpointExists(endpointId))) throw new AppError('BAD_USER_INPUT', 'No webhook endpoint has this id', { fields: { endpointId: 'no such endpoint' } });
    const rows = await this.deps.repo.deliveries(endpointId, first + 1, after ? decodeCursor(after) : undefined);
    const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /**
   * Sends a message again, as a new delivery with the same `webhook-id` and body (the receiver dedupes by
   * it), with a fresh round of attempts. The endpoint must be enabled.
   */
  async redeliver(caller: Authenticated, deliveryId: unknown, meta: RequestMeta): Promise<DeliveryRecord> {
    await this.authorize(caller, meta);
    const input = parseInput(deliveryIdSchema, { deliveryId });
    const created = await this.deps.repo.transaction(async (tx) => {
      const original = await this.deps.repo.findDelivery(tx, input.deliveryId);
      if (!original) throw new AppError('BAD_USER_INPUT', 'No webhook delivery has this id', { fields: { deliveryId: 'no such delivery' } });
      const endpoint = await this.deps.repo.lockEndpoint(tx, original.endpointId);
      if (!endpoint?.enabled) throw new AppError('BAD_USER_INPUT', 'The endpoint is disabled: enable it first', { fields: { deliveryId: 'its endpoint is disabled' } });
      const row: NewDelivery = { id: randomUUID(), endpointId: original.endpointId, messageId: original.messageId, eventType: original.eventType, body: original.body };
      await this.deps.repo.createDeliveries(tx, [row]);
      await this.deps.outbox.addMany('webhook-delivery', [{ id: row.id, payload: { deliveryId: row.id, endpointId: row.endpointId } }], tx);
      return this.deps.repo.findDelivery(tx, row.id);
    });
    this.deps.relay.nudge();
    const { body: _body, ...delivery } = created!;
    return delivery;
  }

  /**
   * The fan-out, run in the audit sealer's transaction: each committed entry that is a webhook event becomes
   * one delivery per enabled endpoint that wants it, and one queued job each (the outbox); an endpoint whose
   * circuit is open gets its deliveries held instead (no job until its probe releases them). True when it
   * queued any (the caller nudges the relay once the transaction commits).
   */
  async fanOut(tx: Tx, entries: readonly StoredAuditEntry[]): Promise<boolean> {
    const events = entries.map(eventOf).filter((e) => e !== null);
    if (events.length === 0) return false;
    const endpoints = await this.deps.repo.enabledEndpoints(tx);
    if (endpoints.length === 0) return false;
    const rows: (NewDelivery & { heldUntil: Date | null })[] = [];
    for (const event of events) {
      const body = bodyOf(event);
      // One message id per event and endpoint: each receiver dedupes its own deliveries.
      for (const e of endpoints) {
        if (e.events.length === 0 || e.events.includes(event.type)) rows.push({ id: randomUUID(), endpointId: e.id, messageId: newMessageId(), eventType: event.type, body, heldUntil: e.heldUntil });
      }
    }
    await this.deps.repo.createDeliveries(tx, rows);
    const queued = rows.filter((r) => !r.heldUntil);
    await this.deps.outbox.addMany(
      'webhook-delivery',
      queued.map((r) => ({ id: r.id, payload: { deliveryId: r.id, endpointId: r.endpointId } })),
      tx,
    );
    return queued.length > 0;
  }

  /** http(s) with a host, no credentials in it, https in production, and every address it resolves to allowed. */
  private async checkUrl(raw: string): Promise<string> {
    const bad = (message: string) => new AppError('BAD_USER_INPUT', message, { fields: { url: message } });
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw bad('must be an absolute URL');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && !this.deps.policy.httpsOnly)) throw bad(this.deps.policy.httpsOnly ? 'must be an https URL' : 'must be an http or https URL');
    if (url.username || url.password) throw bad('must not carry credentials');
    if (!url.hostname) throw bad('must name a host');
    try {
      await resolveAllowed(url.hostname, this.deps.policy);
    } catch (err) {
      if (err instanceof UnsafeAddressError) throw bad(err.message);
      throw err;
    }
    url.hash = '';
    return url.toString();
  }

  private async authorize(caller: Authenticated, meta: RequestMeta): Promise<void> {
    requireRole(caller, 'ADMIN');
    await this.deps.limits.consumeAll(adminLimit({ actorId: caller.userId }, byAddress(meta.ip)));
  }

  private audit(
    tx: Tx,
    meta: RequestMeta,
    caller: Authenticated,
    action: 'webhook.endpoint_created' | 'webhook.endpoint_updated' | 'webhook.endpoint_deleted' | 'webhook.secret_rotated',
    details: Record<string, string | boolean | string[]>,
  ): Promise<void> {
    return recordAudit(tx, meta, [{ action, outcome: 'SUCCESS', actorId: caller.userId, targetUserId: null, sessionId: caller.sessionId, details }]);
  }
}
