-- The audit feed's publisher leases its cursor instead of holding a transaction (and the cursor's row
-- lock) while it pushes entries to Redis: one process at a time still publishes, in chain order, and a
-- process that dies mid-batch leaves a lease that runs out. Nullable without a default: nothing rewritten.
ALTER TABLE "audit_cursors" ADD COLUMN "leased_until" TIMESTAMPTZ(3);
