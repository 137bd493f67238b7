import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { PageInfo } from '../security-events/security-events.inputs.js';
import type { DeliveryRecord, EndpointRecord } from './webhooks.repository.js';

export enum WebhookDeliveryStatus {
  PENDING = 'PENDING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}
registerEnumType(WebhookDeliveryStatus, { name: 'WebhookDeliveryStatus', description: 'PENDING while attempts remain, then SUCCEEDED or FAILED' });

@ObjectType({ simpleResolvers: true, description: 'A receiver of signed webhooks (ADMIN)' })
export class WebhookEndpoint {
  @Field(() => ID) id!: string;
  @Field(() => String) url!: string;
  @Field(() => [String], { description: 'Event types it receives; empty: every type' }) events!: string[];
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => Boolean, { description: 'False once disabled by an operator, a 410 answer, or days of failures' }) enabled!: boolean;
  @Field(() => Date) createdAt!: Date;

  static from(e: EndpointRecord): WebhookEndpoint {
    return Object.assign(new WebhookEndpoint(), { id: e.id, url: e.url, events: e.events, description: e.description, enabled: e.enabled, createdAt: e.createdAt });
  }
}

@ObjectType({ simpleResolvers: true, description: 'An endpoint and its signing secret: shown here once, never again' })
export class WebhookEndpointSecret {
  @Field(() => WebhookEndpoint) endpoint!: WebhookEndpoint;
  @Field(() => String, { description: '`whsec_` and the key in base64, as Standard Webhooks libraries take it' }) secret!: string;
}

@ObjectType({ simpleResolvers: true, description: 'One message for one endpoint and the tally of its attempts' })
export class WebhookDelivery {
  @Field(() => ID) id!: string;
  @Field(() => ID) endpointId!: string;
  @Field(() => String, { description: 'The `webhook-id` header: the same on every attempt and redelivery' }) messageId!: string;
  @Field(() => String) eventType!: string;
  @Field(() => WebhookDeliveryStatus) status!: WebhookDeliveryStatus;
  @Field(() => Int) attempts!: number;
  @Field(() => Int, { nullable: true }) lastResponseStatus!: number | null;
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => Date) createdAt!: Date;
  @Field(() => Date, { nullable: true }) deliveredAt!: Date | null;
  @Field(() => Date, { nullable: true }) nextAttemptAt!: Date | null;

  static from(d: DeliveryRecord): WebhookDelivery {
    return Object.assign(new WebhookDelivery(), { ...d, status: d.status as WebhookDeliveryStatus });
  }
}

@ObjectType({ simpleResolvers: true })
export class WebhookDeliveryEdge {
  @Field(() => String) cursor!: string;
  @Field(() => WebhookDelivery) node!: WebhookDelivery;
}

@ObjectType({ simpleResolvers: true })
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge]) edges!: WebhookDeliveryEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

@InputType()
export class CreateWebhookEndpointInput {
  @Field(() => String) url!: string;
  @Field(() => [String], { description: 'Event types to receive; empty: every type' }) events!: string[];
  @Field(() => String, { nullable: true }) description?: string | null;
}

@InputType({ description: 'Only the fields given change' })
export class UpdateWebhookEndpointInput {
  @Field(() => String, { nullable: true }) url?: string | null;
  @Field(() => [String], { nullable: true }) events?: string[] | null;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => Boolean, { nullable: true }) enabled?: boolean | null;
}
