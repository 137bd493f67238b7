-- AlterTable
ALTER TABLE "email_messages" ADD COLUMN     "data" JSONB;
