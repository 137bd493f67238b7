-- Wake every process that publishes security events, at commit time (NOTIFY is transactional):
-- an event becomes visible to subscribers exactly when the change it reports is durable.
CREATE OR REPLACE FUNCTION latchkey_security_events_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('latchkey_security_events', '');
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER security_events_notify
  AFTER INSERT ON "security_events"
  FOR EACH STATEMENT EXECUTE FUNCTION latchkey_security_events_notify();

-- The publisher's sweep looks only at rows not yet pushed.
CREATE INDEX "security_events_unpublished_idx" ON "security_events" ("occurred_at") WHERE "published_at" IS NULL;
