import { Field, InputType, ObjectType } from 'type-graphql';

@ObjectType({ simpleResolvers: true, description: 'A pending TOTP enrollment: add it to an authenticator app, then confirm with a code' })
export class TotpEnrollment {
  @Field(() => String, { description: 'Base32 secret, for manual entry' }) secret!: string;
  @Field(() => String) otpauthUrl!: string;
  @Field(() => String, { description: 'The otpauth URL as an SVG QR code, made on the server' }) qrCodeSvg!: string;
}

@InputType()
export class CompleteMfaLoginInput {
  @Field(() => String) mfaToken!: string;
  @Field(() => String, { description: 'A TOTP code or a recovery code' }) code!: string;
}
