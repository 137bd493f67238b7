import { Field, ObjectType, Query, Resolver } from 'type-graphql';
import type { HealthService } from './health.service.js';

@ObjectType({ simpleResolvers: true, description: 'Whether this instance can serve requests, and which dependency is missing' })
export class HealthStatus {
  @Field(() => Boolean)
  ready!: boolean;

  @Field(() => String, { description: '`up` or `down`' })
  postgres!: string;

  @Field(() => String, { description: '`up` or `down`' })
  redis!: string;
}

@Resolver()
export class HealthResolver {
  constructor(private readonly service: HealthService) {}

  @Query(() => HealthStatus, { description: 'Readiness of this instance, as GET /readyz reports it' })
  async health(): Promise<HealthStatus> {
    const r = await this.service.readiness();
    return { ready: r.ready, ...r.checks };
  }
}
