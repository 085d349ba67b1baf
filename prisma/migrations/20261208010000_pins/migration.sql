-- CreateTable
CREATE TABLE "pins" (
    "message_id" UUID NOT NULL,
    "conversation_id" UUID NOT NULL,
    "pinned_by" UUID NOT NULL,
    "pinned_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "pins_pkey" PRIMARY KEY ("message_id")
);

-- CreateIndex
CREATE INDEX "pins_conversation_id_pinned_at_idx" ON "pins"("conversation_id", "pinned_at");

-- AddForeignKey
ALTER TABLE "pins" ADD CONSTRAINT "pins_conversation_id_fkey" FOREIGN KEY ("conversation_id") REFERENCES "conversations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pins" ADD CONSTRAINT "pins_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE CASCADE;
