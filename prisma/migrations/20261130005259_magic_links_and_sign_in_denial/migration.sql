-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "OneTimeTokenPurpose" ADD VALUE 'MAGIC_LINK';
ALTER TYPE "OneTimeTokenPurpose" ADD VALUE 'SIGN_IN_DENIAL';

-- AlterEnum
ALTER TYPE "SecurityEventType" ADD VALUE 'SIGN_IN_DENIED';

-- AlterTable
-- The session a "this wasn't me" token ends. No foreign key: the link must still answer after the
-- session's row has been purged.
ALTER TABLE "one_time_tokens" ADD COLUMN     "session_id" UUID;
