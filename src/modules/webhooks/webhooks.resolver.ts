import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import type { AuthGuard } from '../sessions/auth.guard.js';
import {
  CreateWebhookEndpointInput,
  UpdateWebhookEndpointInput,
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookEndpoint,
  WebhookEndpointSecret,
} from './webhooks.inputs.js';
import type { WebhooksService } from './webhooks.service.js';

/** Webhook endpoints and their deliveries, for ADMINs (the service checks the role as stored now). */
@Resolver()
export class WebhooksResolver {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly auth: AuthGuard,
  ) {}

  private caller(ctx: GraphQLContext) {
    return this.auth.requireRole(ctx, 'ADMIN');
  }

  @Query(() => [WebhookEndpoint], { description: 'Every webhook endpoint, oldest first (ADMIN)' })
  async webhookEndpoints(@Ctx() ctx: GraphQLContext): Promise<WebhookEndpoint[]> {
    return (await this.webhooks.endpoints(await this.caller(ctx), ctx.meta)).map((e) => WebhookEndpoint.from(e));
  }

  @Query(() => WebhookDeliveryConnection, { description: "An endpoint's deliveries, newest first (ADMIN)" })
  async webhookDeliveries(
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<WebhookDeliveryConnection> {
    const page = await this.webhooks.deliveries(await this.caller(ctx), { endpointId, first: first ?? 20, ...(after ? { after } : {}) }, ctx.meta);
    return Object.assign(new WebhookDeliveryConnection(), {
      edges: page.edges.map((e) => ({ cursor: e.cursor, node: WebhookDelivery.from(e.node) })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    });
  }

  @Mutation(() => WebhookEndpointSecret, { description: 'A new endpoint; its signing secret is shown here only (ADMIN)' })
  async createWebhookEndpoint(@Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput, @Ctx() ctx: GraphQLContext): Promise<WebhookEndpointSecret> {
    const { endpoint, secret } = await this.webhooks.create(await this.caller(ctx), withoutNulls({ ...input }), ctx.meta);
    return Object.assign(new WebhookEndpointSecret(), { endpoint: WebhookEndpoint.from(endpoint), secret });
  }

  @Mutation(() => WebhookEndpoint, { description: 'Change the URL, the event filter, the description or whether it is enabled (ADMIN)' })
  async updateWebhookEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateWebhookEndpointInput) input: UpdateWebhookEndpointInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<WebhookEndpoint> {
    // `description: null` clears it; other nulls mean "unchanged".
    const { description, ...rest } = input;
    const changes = { ...withoutNulls({ ...rest }), ...(description !== undefined ? { description } : {}) };
    return WebhookEndpoint.from(await this.webhooks.update(await this.caller(ctx), { id, ...changes }, ctx.meta));
  }

  @Mutation(() => Boolean, { description: 'Remove the endpoint and its deliveries (ADMIN)' })
  async deleteWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    return this.webhooks.delete(await this.caller(ctx), id, ctx.meta);
  }

  @Mutation(() => WebhookEndpointSecret, { description: 'A new signing secret, shown once; the old one also signs for 24 hours (ADMIN)' })
  async rotateWebhookSecret(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<WebhookEndpointSecret> {
    const { endpoint, secret } = await this.webhooks.rotate(await this.caller(ctx), id, ctx.meta);
    return Object.assign(new WebhookEndpointSecret(), { endpoint: WebhookEndpoint.from(endpoint), secret });
  }

  @Mutation(() => WebhookDelivery, { description: 'Send a message again (same webhook-id and body) as a new delivery (ADMIN)' })
  async redeliverWebhook(@Arg('deliveryId', () => ID) deliveryId: string, @Ctx() ctx: GraphQLContext): Promise<WebhookDelivery> {
    return WebhookDelivery.from(await this.webhooks.redeliver(await this.caller(ctx), deliveryId, ctx.meta));
  }
}

/** GraphQL's nulls for omitted optional fields, dropped before validation. */
function withoutNulls<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as { [K in keyof T]: Exclude<T[K], null> };
}
