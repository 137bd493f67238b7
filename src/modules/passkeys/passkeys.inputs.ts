import { JSONResolver } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';
import type { PasskeyChallengeResult, PasskeyView } from './passkeys.service.js';

@ObjectType({ simpleResolvers: true, description: 'A passkey of your account' })
export class Passkey {
  @Field(() => ID) id!: string;
  @Field(() => String, { description: 'Your label for it' }) name!: string;
  @Field(() => Date) createdAt!: Date;
  @Field(() => Date, { nullable: true, description: 'Its last sign-in' }) lastUsedAt!: Date | null;

  static from(p: PasskeyView): Passkey {
    return Object.assign(new Passkey(), p);
  }
}

@ObjectType({ simpleResolvers: true, description: 'A WebAuthn ceremony to run in the browser, valid 5 minutes and once' })
export class PasskeyChallenge {
  @Field(() => ID, { description: 'Send it back with the credential' }) challengeId!: string;
  @Field(() => JSONResolver, { description: 'PublicKeyCredentialCreationOptionsJSON (registration) or PublicKeyCredentialRequestOptionsJSON (sign-in)' })
  options!: unknown;

  static from(c: PasskeyChallengeResult<unknown>): PasskeyChallenge {
    return Object.assign(new PasskeyChallenge(), c);
  }
}
