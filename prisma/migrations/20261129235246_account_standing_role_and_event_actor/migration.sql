-- CreateEnum
CREATE TYPE "Role" AS ENUM ('USER', 'SUPPORT', 'ADMIN');

-- AlterTable
ALTER TABLE "security_events" ADD COLUMN     "actor_id" UUID;

-- AlterTable
ALTER TABLE "users" ADD COLUMN     "disabled_at" TIMESTAMPTZ(3),
ADD COLUMN     "disabled_reason" TEXT,
ADD COLUMN     "role" "Role" NOT NULL DEFAULT 'USER';

-- Events recorded before actors existed: the account acted itself, except where the system did (a
-- lockout, a detected refresh-token reuse) or an operator reset the second factor (named in `data`).
UPDATE "security_events" SET "actor_id" = "user_id"
WHERE "type" NOT IN ('ACCOUNT_LOCKED', 'REFRESH_TOKEN_REUSED')
  AND NOT ("type" = 'MFA_DISABLED' AND COALESCE("data"->>'by', '') = 'operator');
