-- Edited by hand: the three tables are UNLOGGED (no WAL, emptied after a database crash)
-- because they hold only live, rebuildable state. Prisma does not model table persistence.

-- CreateTable
CREATE UNLOGGED TABLE "broker_payloads" (
    "id" BIGSERIAL NOT NULL,
    "payload" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "broker_payloads_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE UNLOGGED TABLE "presence_entries" (
    "user_id" UUID NOT NULL,
    "process_id" UUID NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "presence_entries_pkey" PRIMARY KEY ("user_id","process_id")
);

-- CreateTable
CREATE UNLOGGED TABLE "presence_counts" (
    "user_id" UUID NOT NULL,
    "processes" INTEGER NOT NULL,

    CONSTRAINT "presence_counts_pkey" PRIMARY KEY ("user_id")
);

-- CreateIndex
CREATE INDEX "broker_payloads_created_at_idx" ON "broker_payloads"("created_at");

-- CreateIndex
CREATE INDEX "presence_entries_process_id_idx" ON "presence_entries"("process_id");

-- CreateIndex
CREATE INDEX "presence_entries_expires_at_idx" ON "presence_entries"("expires_at");
