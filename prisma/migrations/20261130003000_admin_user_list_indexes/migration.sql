-- CreateIndex
CREATE INDEX "users_created_at_id_idx" ON "users"("created_at" DESC, "id" DESC);

-- The operators' search by a prefix of the username or email, without regard to case, as index range scans
-- whatever the database's collation: `lower(...) LIKE 'abc%'` over text_pattern_ops. Not in schema.prisma:
-- its language has no expression indexes.
CREATE INDEX "users_username_prefix_idx" ON "users" (lower("username"::text) text_pattern_ops);
CREATE INDEX "users_email_prefix_idx" ON "users" (lower("email"::text) text_pattern_ops);
