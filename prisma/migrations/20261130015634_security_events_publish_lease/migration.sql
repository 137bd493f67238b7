-- The security-event publisher leases rows instead of holding a transaction (and row locks) while it
-- pushes them to Redis: a row is claimed by setting this in one statement, published with no transaction
-- open, then marked published. A publisher that dies mid-batch leaves leases that run out, and another
-- publisher takes the rows (at least once). Nullable without a default: adding it rewrites nothing.
ALTER TABLE "security_events" ADD COLUMN "publish_leased_until" TIMESTAMPTZ(3);
