-- Webhooks: while an endpoint's circuit is open its new deliveries wait in this table (held, no job each)
-- until one probe finds it answering again.
-- AlterTable
ALTER TABLE "webhook_deliveries" ADD COLUMN     "held" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "webhook_endpoints" ADD COLUMN     "held_probes" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "held_until" TIMESTAMPTZ(3);

-- An endpoint's held deliveries, oldest first (the probe's pick and the release): only the held rows.
CREATE INDEX "webhook_deliveries_held_idx" ON "webhook_deliveries" ("endpoint_id", "created_at", "id") WHERE "held";
