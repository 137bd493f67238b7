-- CreateTable
CREATE TABLE "audit_seals" (
    "seq" BIGINT NOT NULL,
    "entry_id" UUID NOT NULL,
    "key_id" TEXT NOT NULL,
    "prev_hash" BYTEA NOT NULL,
    "hash" BYTEA NOT NULL,
    "sealed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "audit_seals_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "audit_pending" (
    "entry_id" UUID NOT NULL,

    CONSTRAINT "audit_pending_pkey" PRIMARY KEY ("entry_id")
);

-- CreateTable
CREATE TABLE "audit_cursors" (
    "name" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,

    CONSTRAINT "audit_cursors_pkey" PRIMARY KEY ("name")
);

-- CreateIndex
CREATE UNIQUE INDEX "audit_seals_entry_id_key" ON "audit_seals"("entry_id");

-- CreateIndex
CREATE INDEX "audit_log_ip_occurred_at_id_idx" ON "audit_log"("ip", "occurred_at" DESC, "id" DESC);

-- Entries that existed before sealing: the sealer takes them first. The live feed starts at the chain's start.
INSERT INTO "audit_pending" ("entry_id") SELECT "id" FROM "audit_log";
INSERT INTO "audit_cursors" ("name", "seq") VALUES ('publisher', 0);

-- Append-only, enforced here too: no UPDATE, DELETE or TRUNCATE of an entry or a seal, except deletes by
-- retention, which declares its cutoff for its own transaction (set_config('latchkey.audit_retention_cutoff',
-- <ISO time>, true)) and may then remove entries older than it, and seals.
CREATE OR REPLACE FUNCTION latchkey_audit_append_only() RETURNS trigger AS $$
DECLARE
  cutoff text := current_setting('latchkey.audit_retention_cutoff', true);
BEGIN
  IF TG_OP = 'DELETE' AND cutoff IS NOT NULL AND cutoff <> '' THEN
    IF TG_TABLE_NAME = 'audit_seals' THEN
      RETURN OLD;
    END IF;
    IF OLD.occurred_at < cutoff::timestamptz THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON "audit_log"
  FOR EACH ROW EXECUTE FUNCTION latchkey_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON "audit_log"
  FOR EACH STATEMENT EXECUTE FUNCTION latchkey_audit_append_only();
CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON "audit_seals"
  FOR EACH ROW EXECUTE FUNCTION latchkey_audit_append_only();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON "audit_seals"
  FOR EACH STATEMENT EXECUTE FUNCTION latchkey_audit_append_only();

-- Each new entry waits in audit_pending for the sealer, and every process that seals is woken at commit
-- (NOTIFY is transactional). One statement-level trigger: a multi-row insert costs one INSERT and one NOTIFY.
CREATE OR REPLACE FUNCTION latchkey_audit_pending() RETURNS trigger AS $$
BEGIN
  INSERT INTO audit_pending (entry_id) SELECT id FROM added;
  PERFORM pg_notify('latchkey_audit', '');
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_pending AFTER INSERT ON "audit_log"
  REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION latchkey_audit_pending();
