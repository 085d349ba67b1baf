-- AlterTable
ALTER TABLE "refresh_tokens" ADD COLUMN     "successor" BYTEA;
