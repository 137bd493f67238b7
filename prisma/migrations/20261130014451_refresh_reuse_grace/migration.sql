-- AlterTable
-- REFRESH_REUSE_GRACE_SECONDS: a rotated token keeps its successor, sealed, for the grace only, so an
-- idempotent retry gets that same successor back instead of tripping reuse detection.
ALTER TABLE "refresh_tokens" ADD COLUMN     "successor_sealed" TEXT;

-- The successor's own rotation clears its parent's sealed copy, and the hourly purge clears those
-- past the grace: both look only at the few rows that still hold one.
CREATE INDEX "refresh_tokens_sealed_successor_idx" ON "refresh_tokens" ("replaced_by_id") WHERE "successor_sealed" IS NOT NULL;
