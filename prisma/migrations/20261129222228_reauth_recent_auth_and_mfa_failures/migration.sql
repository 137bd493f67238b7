-- AlterEnum
ALTER TYPE "SecurityEventType" ADD VALUE 'MFA_CHALLENGE_FAILED';

-- AlterTable
ALTER TABLE "one_time_tokens" ADD COLUMN     "failed_attempts" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "sessions" ADD COLUMN     "authenticated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- Sessions opened before this migration were authenticated when they were opened, not now.
UPDATE "sessions" SET "authenticated_at" = "created_at";
