-- Accounts: optional verified email, password reset tokens,
-- and deleted accounts (the row stays as the sender of erased messages).
ALTER TABLE "users" ADD COLUMN "email" VARCHAR(254),
ADD COLUMN "email_verified_at" TIMESTAMPTZ(3),
ADD COLUMN "pending_email" VARCHAR(254),
ADD COLUMN "email_code_hash" CHAR(64),
ADD COLUMN "email_code_expires_at" TIMESTAMPTZ(3),
ADD COLUMN "email_code_attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "deleted_at" TIMESTAMPTZ(3);

CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

CREATE TABLE "password_resets" (
    "token_hash" CHAR(64) NOT NULL,
    "user_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "password_resets_pkey" PRIMARY KEY ("token_hash")
);

CREATE INDEX "password_resets_user_id_idx" ON "password_resets"("user_id");

ALTER TABLE "password_resets" ADD CONSTRAINT "password_resets_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The messages of one sender, for export and account deletion.
CREATE INDEX "messages_sender_id_id_idx" ON "messages"("sender_id", "id");
