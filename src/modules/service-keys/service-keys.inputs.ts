import { Field, ID, ObjectType } from 'type-graphql';
import type { ServiceKeyRecord } from './service-keys.repository.js';

@ObjectType({ simpleResolvers: true, description: 'A credential for token introspection (POST /oauth/introspect); never its secret' })
export class ServiceKey {
  @Field(() => ID, { description: 'The HTTP Basic user name of the key' }) id!: string;
  @Field(() => String) name!: string;
  @Field(() => Date) createdAt!: Date;
  @Field(() => Date, { nullable: true, description: 'When an instance last read the key to authenticate a call (to within five minutes)' })
  lastUsedAt!: Date | null;
  @Field(() => Date, { nullable: true }) revokedAt!: Date | null;

  static from(k: ServiceKeyRecord): ServiceKey {
    return Object.assign(new ServiceKey(), serviceKeyJson(k));
  }
}

@ObjectType({ simpleResolvers: true, description: 'A new service key and its secret, which is shown this once' })
export class ServiceKeySecret {
  @Field(() => ServiceKey) key!: ServiceKey;
  @Field(() => String, { description: 'The HTTP Basic password; only its hash is stored' }) secret!: string;
}

/** The same key as the REST routes answer it. */
export const serviceKeyJson = (k: ServiceKeyRecord) => ({ id: k.id, name: k.name, createdAt: k.createdAt, lastUsedAt: k.lastUsedAt, revokedAt: k.revokedAt });
