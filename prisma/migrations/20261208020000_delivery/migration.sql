-- AlterTable
ALTER TABLE "memberships" ADD COLUMN     "last_delivered_seq" INTEGER NOT NULL DEFAULT 0;
